"""The cluster path of a sweep: hydra-submitit-launcher, run locally and rendered for Slurm.

``hydra/launcher=submitit_local`` runs a sweep the way a Slurm job array does -- each job
pickled, started as a subprocess of its own by submitit, its Hydra job rebuilt from the
pickle -- without a cluster.  Checked end to end on two tiny jobs: both finish, each writes
its results into its own sweep folder, and submitit's logs show two job processes other
than the launching one.  ``hydra/launcher=slurm``: the launcher's real ``launch()`` writes the
sbatch script with submitit's own rendering (a stand-in ``sbatch`` only records it), and the
script asks for what the composed config says.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import hydra
import submitit.slurm.slurm
from omegaconf import OmegaConf
from submitit.core.utils import DelayedSubmission

from eqlatent.runtime.config import compose

#: a two-job sweep of the molecules sweep file, at sizes that train in seconds
SWEEP = ["experiment=sweep_molecules", "profile=cpu", "logger=csv", "seed=0,1", "molecules.latent_dims=[1]",
         "profile.molecules.n_molecules=200", "profile.molecules.epochs=1", "model.graph_vae.hidden=8",
         "model.graph_vae.n_layers=2", "model.graph_vae.width=8", "profile.molecules.n_eval=40",
         "profile.molecules.tsne_points=40", "profile.molecules.batch_size=64", "probe.mlp_regressor.max_iter=20",
         "trainer.enable_progress_bar=false", "~callbacks.rich_progress_bar"]


def test_submitit_local_is_the_plugins_own_launcher():
    # configs/hydra/launcher/ must not shadow the plugin's option of the same name
    launcher = compose(["experiment=sweep_molecules", "hydra/launcher=submitit_local"]).hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"


def test_a_sweep_runs_through_submitit_local_in_job_processes_of_its_own(tmp_path, qm9_full):
    # qm9_full: the QM9 cache exists before two jobs would both build it
    proc = subprocess.Popen([sys.executable, "-m", "eqlatent.cli.run", "--multirun", "hydra/launcher=submitit_local",
                             *SWEEP, f"paths.output_root={tmp_path}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        output = proc.communicate(timeout=300)[0]
    finally:
        proc.kill()   # nothing left running if it timed out
    assert proc.returncode == 0, output[-3000:]
    (sweep,) = (tmp_path / "molecules" / "multirun").iterdir()
    job_ids = set()
    for num, seed in ((0, 0), (1, 1)):                                 # one folder per job, numbered by Hydra
        job = sweep / str(num)
        assert f"- seed={seed}" in (job / ".hydra" / "overrides.yaml").read_text().splitlines()
        assert json.loads((job / "metrics.json").read_text())["run_name"] == f"cpu-seed{seed}"
        assert (job / "results.md").is_file() and (job / "latent1" / "latents.pt").is_file()
        # the job id Hydra recorded is submitit's: its folder holds the job's pickles and logs
        job_id = str(OmegaConf.load(job / ".hydra" / "hydra.yaml").hydra.job.id)
        logs = sweep / ".submitit" / job_id
        out = (logs / f"{job_id}_0_log.out").read_text()
        assert f"Starting with JobEnvironment(job_id={job_id}," in out
        assert f"Loading pickle: {logs / f'{job_id}_submitted.pkl'}" in out
        assert f"Seed set to {seed}" in out and "Job completed successfully" in out   # this job ran the study
        assert (logs / f"{job_id}_0_result.pkl").is_file()
        job_ids.add(int(job_id))
    # local job ids are the pids of the job processes: two of them, neither the launching process
    assert len(job_ids) == 2 and proc.pid not in job_ids


def _fake_slurm(folder: Path) -> Path:
    """``srun`` (submitit looks for it) and an ``sbatch`` that keeps the script and answers like Slurm."""
    folder.mkdir()
    (folder / "srun").write_text("#!/bin/sh\nexit 1\n")
    (folder / "sbatch").write_text(f'#!/bin/sh\ncp "$1" "{folder}/submitted.sh"\necho "Submitted batch job 4242"\n')
    for tool in folder.iterdir():
        tool.chmod(0o755)
    return folder / "submitted.sh"


#: sbatch's long options that submitit can write (https://slurm.schedmd.com/sbatch.html)
SBATCH_OPTIONS = {"account", "array", "comment", "constraint", "cpus-per-gpu", "cpus-per-task", "dependency", "error",
                  "exclude", "exclusive", "gpus-per-node", "gpus-per-task", "gres", "job-name", "mail-type",
                  "mail-user", "mem", "mem-per-cpu", "mem-per-gpu", "nodelist", "nodes", "ntasks-per-node",
                  "open-mode", "output", "partition", "qos", "signal", "time", "wckey"}


def test_the_slurm_launcher_renders_a_valid_sbatch_script(tmp_path, monkeypatch):
    submitted = _fake_slurm(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(submitit.slurm.slurm.SlurmJob, "results", lambda job: [job.job_id])   # no waiting on a queue
    cfg = compose(["experiment=sweep_molecules", "hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                   f"paths.output_root={tmp_path}"])
    launcher = hydra.utils.instantiate(cfg.hydra.launcher, _convert_="partial")
    launcher.setup(hydra_context=None, task_function=None, config=cfg)
    assert launcher.launch([["seed=0"], ["seed=1"]], initial_job_idx=0) == ["4242_0", "4242_1"]

    script = submitted.read_text()
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert subprocess.run(["bash", "-n", str(submitted)]).returncode == 0
    first_command = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    flags = dict(re.fullmatch(r"#SBATCH --([a-z-]+)(?:=(.*))?", line).groups() for line in lines if "SBATCH" in line)
    assert all(i < first_command for i, line in enumerate(lines) if line.startswith("#SBATCH"))  # sbatch stops there
    assert set(flags) <= SBATCH_OPTIONS, sorted(set(flags) - SBATCH_OPTIONS)

    slurm = cfg.hydra.launcher
    logs = f"{Path(str(cfg.hydra.sweep.dir))}/.submitit/%A_%a/%A_%a_0_log"
    assert flags["partition"] == "gpu" and flags["time"] == str(slurm.timeout_min)
    assert flags["nodes"] == str(slurm.nodes) and flags["ntasks-per-node"] == str(slurm.tasks_per_node)
    assert flags["gpus-per-node"] == str(slurm.gpus_per_node) and flags["cpus-per-task"] == str(slurm.cpus_per_task)
    assert flags["mem"] == f"{slurm.mem_gb}GB" and flags["job-name"] == cfg.hydra.job.name
    assert flags["output"] == f"{logs}.out" and flags["error"] == f"{logs}.err"
    assert flags["array"] == f"0-1%{min(2, slurm.array_parallelism)}"              # one array task per sweep job
    assert flags["signal"] == f"USR2@{slurm.signal_delay_s}"                       # time to stop before the limit

    # each task runs this interpreter on the pickled launcher, which rebuilds that task's Hydra job
    folder = Path(str(cfg.hydra.sweep.dir)) / ".submitit"
    assert lines[-1].startswith("srun ") and lines[-1].endswith(f"{sys.executable} -u -m submitit.core._submit "
                                                                 f"{folder}/%j")
    for task, seed in ((0, 0), (1, 1)):
        pickled = DelayedSubmission.load(folder / f"4242_{task}" / f"4242_{task}_submitted.pkl")
        assert type(pickled.function).__name__ == "SlurmLauncher" and pickled.args[:3] == ([f"seed={seed}"],
                                                                                          "hydra.sweep.dir", task)

