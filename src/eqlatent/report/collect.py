"""Find finished study runs under ``outputs/`` and group the seeds of one configuration.

A run is a folder holding the ``metrics.json`` a study wrote at its end (so a crashed
or half-finished run is never reported).  Its study, profile and seed come from the
Hydra record ``.hydra/config.yaml`` beside it when present.  Runs whose configs differ
only in ``seed`` (and in their folder) form one *cell*; the report shows mean ± std over
a cell's seeds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

#: config keys that do not define the experiment (they differ between seeds of one cell, or only say how it
#: was executed: trainer, loggers, DataLoader workers/pinning, CPU threads, GPU matmul precision, compiling);
#: dotted names are nested keys
_IGNORED = ("seed", "run_name", "paths", "hydra", "trainer", "logger", "callbacks", "profile.loader",
            "molecules.torch_threads", "profile.molecules.torch_threads", "molecules_3d.torch_threads",
            "profile.molecules_3d.torch_threads", "matmul_precision", "model.compile",
            "model.graph_vae.compile", "profile.molecules.compile")


@dataclass
class Run:
    """One finished run: where it is, what it was, and what it measured."""

    path: Path
    study: str
    seed: int | None
    profile: str
    signature: str
    metrics: dict[str, Any]


@dataclass
class Cell:
    """All seeds of one study configuration."""

    study: str
    profile: str
    signature: str
    runs: list[Run] = field(default_factory=list)

    @property
    def seeds(self) -> list[int | None]:
        return [r.seed for r in self.runs]


def _without(cfg: dict[str, Any], ignored: tuple[str, ...], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if name in ignored:
            continue
        out[key] = _without(value, ignored, f"{name}.") if isinstance(value, dict) else value
    return out


def _signature(cfg: dict[str, Any]) -> str:
    """The config minus what does not define the experiment, as a comparable string.

    A study names the profile blocks it reads (``profile_blocks`` in its experiment config), so
    another study's sizes in the same profile never split its cell; a run recorded without that
    key keeps every block (a stricter grouping, never a wrong merge).
    """
    reads = cfg.get("profile_blocks")
    ignored = _IGNORED
    if reads is not None:
        kept = {"name", *reads}
        ignored += tuple(f"profile.{block}" for block in (cfg.get("profile") or {}) if block not in kept)
    return json.dumps(_without(cfg, ignored), sort_keys=True, default=str)


def load_run(metrics_path: Path) -> Run | None:
    """Read one run's metrics and config; ``None`` if ``metrics.json`` is unreadable."""
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    folder = metrics_path.parent
    hydra_cfg = folder / ".hydra" / "config.yaml"
    cfg: dict[str, Any] = {}
    if hydra_cfg.is_file():
        cfg = OmegaConf.to_container(OmegaConf.load(hydra_cfg), resolve=False)  # type: ignore[assignment]
    # without a Hydra record (a run made from Python), fall back on the run folder's name
    # "<profile>-seed<k>" and its parent folder "<study>"
    named = re.match(r"(?P<profile>.+)-seed(?P<seed>\d+)$", str(metrics.get("run_name") or folder.name))
    study = str(cfg.get("task_name") or folder.parent.name)
    seed = cfg.get("seed", int(named["seed"]) if named else None)
    profile = (cfg.get("profile") or {}).get("name") or (named["profile"] if named else "unknown")
    signature = _signature(cfg) if cfg else json.dumps({"study": study, "profile": profile})
    return Run(folder, study, None if seed is None else int(seed), str(profile), signature, metrics)


def find_runs(output_root: Path) -> list[Run]:
    """Every finished run below ``output_root`` (the report's own folder excluded)."""
    runs = []
    for p in sorted(Path(output_root).rglob("metrics.json")):
        if "report" in p.relative_to(output_root).parts[:1]:
            continue
        run = load_run(p)
        if run is not None:
            runs.append(run)
    return runs


def group_cells(runs: list[Run]) -> list[Cell]:
    """Group runs by (study, profile, config without seed); one seed per cell kept (the newest)."""
    cells: dict[tuple[str, str, str], Cell] = {}
    for run in runs:
        key = (run.study, run.profile, run.signature)
        cell = cells.setdefault(key, Cell(run.study, run.profile, run.signature))
        same_seed = [r for r in cell.runs if r.seed == run.seed]
        if same_seed:  # a re-run of a seed replaces the older one
            older = same_seed[0]
            if run.path.joinpath("metrics.json").stat().st_mtime > older.path.joinpath("metrics.json").stat().st_mtime:
                cell.runs[cell.runs.index(older)] = run
        else:
            cell.runs.append(run)
    for cell in cells.values():
        cell.runs.sort(key=lambda r: (r.seed is None, r.seed))
    return list(cells.values())
