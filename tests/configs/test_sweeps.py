"""Every sweep file expands into jobs whose configs compose, and jobs never share a folder."""

from __future__ import annotations

import itertools

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from eqlatent.runtime.config import CONFIG_DIR, compose

SWEEPS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("sweep_*.yaml"))


def _jobs(params: dict) -> list[list[str]]:
    parser = OverridesParser.create()
    axes = []
    for key, value in params.items():
        override = parser.parse_override(f"{key}={value}")
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [str(value)]
        axes.append([f"{key}={v}" for v in values])
    return [list(combo) for combo in itertools.product(*axes)]


def test_there_are_sweeps_for_both_studies():
    assert any(s.startswith("sweep_molecules") for s in SWEEPS) and any(s.startswith("sweep_images") for s in SWEEPS)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_sweep_expands_into_composable_jobs(sweep):
    cfg = compose([f"experiment={sweep}"])
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    jobs = _jobs(dict(cfg.hydra.sweeper.params))
    assert len(jobs) >= 3
    for job in jobs:
        job_cfg = compose([f"experiment={sweep}", *job])
        assert job_cfg.study and job_cfg.task_name in ("molecules", "images", "molecules_3d")
    # jobs write to Hydra's per-job sweep folder, never to the shared single-run folder
    assert cfg.paths._get_node("output_dir")._value() == "${hydra:runtime.output_dir}"
    assert "${hydra:job.num}" in cfg.hydra.sweep._get_node("subdir")._value()


@pytest.mark.parametrize("sweep", [s for s in SWEEPS if s in ("sweep_molecules", "sweep_images", "sweep_molecules_3d")])
def test_seed_sweeps_cover_at_least_three_seeds(sweep):
    params = compose([f"experiment={sweep}"]).hydra.sweeper.params
    assert len(str(params.seed).split(",")) >= 3
