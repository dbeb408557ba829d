"""End to end through the user's own commands: ``make reproduce-*`` and ``make report`` on tiny sizes.

Why: the studies are tested by calling them in-process; this runs what a user types, through
the Makefile, the ``eqlatent`` command and Hydra, and checks that each study writes its
results and that the report collects them.  Tiny sizes (a few hundred samples, one epoch):
what is checked is the path, not the models' quality.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from eqlatent.runtime.config import project_root

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("make") is None, reason="needs make")]

TINY = {
    "reproduce-molecules": ["logger=csv", "profile.molecules.n_molecules=200", "profile.molecules.epochs=1",
                            "profile.molecules.latent_dims=[1]", "model.graph_vae.hidden=8", "model.graph_vae.width=8",
                            "model.graph_vae.n_layers=2", "profile.molecules.n_eval=40",
                            "profile.molecules.tsne_points=40", "probe.mlp_regressor.max_iter=20",
                            "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false"],
    "reproduce-images": ["logger=csv", "model=c8", "profile.images.epochs=1", "profile.images.n_train=128",
                         "profile.images.n_test=64", "profile.images.n_probe_train=64", "profile.images.n_eval=50",
                         "profile.images.n_invariance=16", "profile.images.k_multipliers=[1]",
                         "profile.images.tsne_encoders=[]", "callbacks.rich_progress_bar=null",
                         "trainer.enable_progress_bar=false"],
}
STUDY = {"reproduce-molecules": "molecules", "reproduce-images": "images"}


def _make(target: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline"}
    return subprocess.run(["make", "-s", target, f"ARGS={' '.join(args)}"], cwd=project_root(), env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("target", sorted(TINY))
def test_make_reproduce_runs_the_study_and_make_report_collects_it(target: str, tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    done = _make(target, [*TINY[target], f"paths.output_root={out}"])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = out / STUDY[target] / "cpu-seed0"
    assert (run / "results.md").is_file() and (run / "metrics.json").is_file()
    assert "Traceback" not in done.stderr
    report = _make("report", [f"--outputs {out}", f"--out {tmp_path / 'report'}"])
    assert report.returncode == 0, report.stderr[-2000:]
    assert STUDY[target] in (tmp_path / "report" / "REPORT.md").read_text().lower()


def test_make_reproduce_with_a_wrong_key_fails_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    done = _make("reproduce-images", ["no_such_key=1", f"paths.output_root={out}"])
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no_such_key" in errors[0]
    assert not out.exists()
