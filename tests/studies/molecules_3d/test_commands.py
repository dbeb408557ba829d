"""The QM9-3D study through the user's own commands: ``eqlatent reproduce qm9_3d``, ``make reproduce-qm9-3d``, ``make report``.

Why: the study is tested in-process in test_study.py; this runs what a user types (the Makefile, the
``eqlatent`` command, Hydra) on tiny sizes, as tests/test_make_targets.py does for the other studies,
and checks that the run writes its results and that the report collects them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from eqlatent.cli.commands import build_parser, run_argv
from eqlatent.runtime.commandline import parse_with_overrides
from eqlatent.runtime.config import project_root

TINY = ["logger=csv", "profile.molecules_3d.n_molecules=300", "profile.molecules_3d.n_train=0",
        "profile.molecules_3d.n_val=0", "profile.molecules_3d.n_test=0", "profile.molecules_3d.epochs=1",
        "profile.molecules_3d.batch_size=32", "model.e3nn_regressor.encoder.irreps_hidden=4x0e+1x1o+1x2e",
        "model.e3nn_regressor.encoder.irreps_latent=4x0e+1x1o+1x2e", "model.e3nn_regressor.encoder.n_layers=1",
        "model.e3nn_regressor.head_hidden=8", "model.e3nn_regressor.encoder.radial_hidden=8",
        "profile.molecules_3d.n_eval=16", "profile.molecules_3d.n_probe_train=60", "profile.molecules_3d.n_probe_test=30",
        "profile.molecules_3d.n_orient=16", "profile.molecules_3d.n_check=4", "profile.molecules_3d.k_multipliers=[2]",
        "profile.molecules_3d.pca_points=16", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false"]


@pytest.mark.parametrize(("command", "experiment"), [("reproduce", "molecules_3d"), ("sweep", "sweep_molecules_3d")])
def test_eqlatent_qm9_3d_runs_its_experiment(command, experiment):
    parser, study = build_parser()
    args, passthrough = parse_with_overrides(study[command], ["qm9_3d", "--profile", "full", "seed=1"], passthrough=True)
    argv = run_argv(command, args, passthrough)
    assert argv[1:] == ["-m", "eqlatent.cli.run", f"experiment={experiment}", "profile=full", "seed=1"]


def test_the_makefile_targets_call_the_cli():
    if shutil.which("make") is None:
        pytest.skip("no make")
    for target, study in (("reproduce-qm9-3d", "reproduce qm9_3d"), ("sweep-qm9-3d", "sweep qm9_3d")):
        done = subprocess.run(["make", "--no-print-directory", "-n", "-o", ".venv/.eqlatent-installed", target,
                               "PROFILE=full", "ARGS=seed=1"], cwd=project_root(), capture_output=True, text=True,
                              env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")})
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith(f"-m eqlatent {study} --profile full seed=1"), done.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_reproduce_qm9_3d_then_make_report(tmp_path: Path):
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    out = tmp_path / "outputs"

    def make(target: str, args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-s", target, f"ARGS={' '.join(args)}"],
                              cwd=project_root(), env=env, capture_output=True, text=True, timeout=600)

    done = make("reproduce-qm9-3d", [*TINY, f"paths.output_root={out}"])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = out / "molecules_3d" / "cpu-seed0"
    assert (run / "results.md").is_file() and (run / "metrics.json").is_file() and (run / ".hydra").is_dir()
    assert "Traceback" not in done.stderr and "== molecules_3d study done in" in done.stdout
    report = make("report", [f"--outputs {out}", f"--out {tmp_path / 'report'}"])
    assert report.returncode == 0, report.stderr[-2000:]
    assert "### `molecules_3d` (cpu profile), 1 seed(s): 0" in (tmp_path / "report" / "REPORT.md").read_text()

    wrong = make("reproduce-qm9-3d", ["molecules_3d.no_such_key=1", f"paths.output_root={tmp_path / 'none'}"])
    errors = [line for line in wrong.stderr.splitlines() if line.startswith("error:")]
    assert wrong.returncode != 0 and len(errors) == 1 and "no_such_key" in errors[0]
    assert not (tmp_path / "none").exists()
