"""The command lines: ``eqlatent <command>`` and every ``python -m eqlatent...`` entry point.

Checked: every ``--help`` answers with a usage line and no traceback; a command line that
cannot run (no study, unknown experiment / profile / dataset, misspelt key, configs or
benchmarks not found) exits 2 with one ``error: ... -- fix: ...`` line and writes nothing;
``eqlatent reproduce`` / ``sweep`` hand ``python -m eqlatent.cli.run`` the overrides the Makefile used to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from eqlatent import __version__
from eqlatent.cli import commands as cli
from eqlatent.runtime.config import CONFIG_DIR
from eqlatent.errors import ConfigError

ROOT = CONFIG_DIR.parent
SCRIPT = Path(sys.executable).parent / "eqlatent"   # the console script of `pip install -e .`


def _main(argv: list[str]) -> int:
    """``cli.main``'s exit status, whether it returns it or argparse raises SystemExit."""
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def _py(args: list[str], cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, **(env or {})})


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("command", [*cli.COMMANDS, None])
def test_every_eqlatent_command_answers_help(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    assert _main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and "Traceback" not in out
    if command in ("reproduce", "sweep", "prepare", "report"):
        assert f"usage: eqlatent {command}" in out and "example" in out.lower()
    if command is None:
        assert all(name in out for name in cli.COMMANDS)


@pytest.mark.parametrize("args", [
    ["-m", "eqlatent"], ["-m", "eqlatent.cli.run"], ["-m", "eqlatent.data.prepare"], ["-m", "eqlatent.report"],
    ["-m", "eqlatent.cli.retention"], ["benchmarks/bench.py"], ["benchmarks/paper_check.py"],
    ["benchmarks/gpu_check.py"], ["-m", "eqlatent", "reproduce"], ["-m", "eqlatent", "bench"],
], ids=lambda a: " ".join(a))
def test_every_python_entry_point_answers_help(args):
    proc = _py([*args, "--help"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    if "eqlatent.cli.retention" not in args:   # (its help is its own module's business)
        assert "example" in proc.stdout.lower()


def test_run_help_lists_experiments_and_profiles():
    proc = _py(["-m", "eqlatent.cli.run", "--help"])
    experiments = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
    profiles = sorted(p.stem for p in (CONFIG_DIR / "profile").glob("*.yaml"))
    assert all(f"  {name} " in proc.stdout for name in experiments + profiles), proc.stdout


@pytest.mark.skipif(not SCRIPT.is_file(), reason="console script not installed (pip install -e .)")
def test_console_script_is_the_cli():
    proc = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == f"eqlatent {__version__}"


def test_eqlatent_without_a_command_prints_help_and_exits_2(capsys):
    assert _main([]) == 2
    assert "usage: eqlatent" in capsys.readouterr().err


def test_unknown_command_is_one_line(capsys):
    assert _main(["reproduse"]) == 2
    err = _error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("error:") and "reproduse" in err[0]


def test_version(capsys):
    assert _main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"eqlatent {__version__}"


@pytest.fixture
def handed_over(monkeypatch) -> list:
    """The command line ``eqlatent`` would replace itself with (nothing is run)."""
    seen: list = []
    monkeypatch.setattr(cli, "_hand_over", lambda argv: seen.append(list(argv)) or 0)
    return seen


@pytest.mark.parametrize("argv, overrides", [
    (["reproduce", "molecules"], ["experiment=molecules", "profile=cpu"]),
    (["reproduce", "images", "--profile", "full", "seed=1"], ["experiment=images", "profile=full", "seed=1"]),
    (["reproduce", "zinc", "--profile=paper"], ["experiment=molecules_zinc", "profile=paper"]),
    (["reproduce", "molecules", "seed=0,1", "--multirun", "trainer=gpu"],
     ["experiment=molecules", "profile=cpu", "seed=0,1", "trainer=gpu", "--multirun"]),
    (["reproduce", "molecules", "--cfg", "job", "-m"], ["experiment=molecules", "profile=cpu", "--cfg", "job", "-m"]),
    (["sweep", "molecules"], ["experiment=sweep_molecules", "profile=cpu"]),
    (["sweep", "images", "--profile", "full", "hydra/launcher=slurm"],
     ["experiment=sweep_images", "profile=full", "hydra/launcher=slurm"]),
])
def test_reproduce_and_sweep_hand_run_the_makefile_overrides(argv, overrides, handed_over):
    assert _main(argv) == 0
    assert handed_over == [[sys.executable, "-m", "eqlatent.cli.run", *overrides]]


@pytest.mark.parametrize("argv, needle", [
    (["reproduce", "proteins"], "proteins"),
    (["reproduce", "molecules", "--profile", "huge"], "huge"),
    (["reproduce", "molecules", "profile=full"], "--profile full"),
    (["sweep", "molecules", "experiment=images"], "experiment"),
    (["sweep", "zinc"], "zinc"),
])
def test_reproduce_rejects_bad_arguments_in_one_line(argv, needle, handed_over, capsys):
    assert _main(argv) == 2
    err = _error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0] and "fix:" in err[0]
    assert handed_over == []


def test_benchmark_commands_need_the_checkout(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "project_root", lambda: tmp_path)
    for command in ("bench", "paper-check", "gpu-check"):
        assert _main([command, "--quick"]) == 2
        err = _error_lines(capsys.readouterr().err)
        assert len(err) == 1 and "source checkout" in err[0] and "EQLATENT_ROOT" in err[0]


def test_benchmark_commands_run_from_the_project_root(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    assert _main(["bench", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: eqlatent bench")
    assert Path.cwd() == tmp_path                  # the working directory is given back


def test_retention_is_delegated(capsys):
    assert _main(["retention", "--help"]) == 0
    assert "--latents" in capsys.readouterr().out


def test_report_parses_its_own_arguments(capsys):
    assert _main(["report", "--no-such-flag"]) == 2
    err = _error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("error:") and "--no-such-flag" in err[0]


def test_report_without_runs_is_one_line_and_status_2(tmp_path, capsys):
    assert _main(["report", "--outputs", str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    err = _error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("error: no finished runs") and not (tmp_path / "report").exists()


# --- nothing is written before the command line is valid ------------------------------------------------------


@pytest.fixture
def isolated_root(tmp_path) -> Path:
    """A project root holding only a copy of configs/: outputs would land in it, so configs/ alone = nothing written."""
    shutil.copytree(CONFIG_DIR, tmp_path / "configs")
    return tmp_path


@pytest.mark.parametrize("argv, needle", [
    ([], "no study selected"),
    (["experiment=molecule"], "unknown experiment 'molecule'"),
    (["experiment=molecules", "profile=tiny"], "unknown profile 'tiny'"),
    (["experiment=molecules", "no_such_key=1"], "Could not override 'no_such_key'"),
    (["experiment=molecules", "--no-such-flag"], "--no-such-flag"),
])
def test_run_rejects_a_bad_command_line_before_writing_anything(argv, needle, isolated_root):
    proc = _py(["-m", "eqlatent.cli.run", *argv], cwd=isolated_root, env={"EQLATENT_ROOT": str(isolated_root)})
    err = _error_lines(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0] and " -- fix: " in err[0], err
    assert sorted(p.name for p in isolated_root.iterdir()) == ["configs"]


@pytest.mark.parametrize("argv, needle", [
    (["experiment=molecules", "data.no_such_key=1"], "Could not override 'data.no_such_key'"),
    (["experiment=molecules", "x==1"], "x==1"),
    (["experiment=molecules", "seed=0,1"], "--multirun"),
    (["--multirun", "experiment=molecules", "model=graph_vae,nope"], "unknown model 'nope'"),
    (["experiment=sweep_molecules", "seed=1", "projection=nope"], "unknown projection 'nope'"),
    (["data=qm9"], "no study selected"),
])
def test_run_command_line_errors_are_one_config_error(argv, needle):
    from eqlatent.cli.run import check_command_line

    with pytest.raises(ConfigError, match="fix:") as err:
        check_command_line(argv)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("argv", [
    ["experiment=molecules"], ["experiment=sweep_molecules"], ["--multirun", "experiment=images", "seed=0,1,2"],
    ["experiment=molecules", "hydra.verbose=true", "seed=3"], ["--cfg", "job"], ["--hydra-help"],
])
def test_run_accepts_valid_command_lines(argv):
    from eqlatent.cli.run import check_command_line

    check_command_line(argv)


def test_prepare_rejects_unknown_datasets_and_keys_before_building(monkeypatch, capsys):
    from eqlatent.data import prepare

    monkeypatch.setattr(prepare.hydra.utils, "instantiate", lambda *a, **k: pytest.fail("built a dataset"))
    for argv in (["--data", "qm10"], ["data=qm10"], ["no_such_key=1"], ["--data", "zinc", "--profile", "tiny"]):
        assert _main(["prepare", *argv]) == 2
        err = _error_lines(capsys.readouterr().err)
        assert len(err) == 1 and err[0].startswith("error:") and "fix:" in err[0], (argv, err)


def test_prepare_composes_the_chosen_datasets(monkeypatch, capsys):
    from eqlatent.data import prepare

    composed, real_compose = [], prepare.compose
    monkeypatch.setattr(prepare, "compose", lambda ov, **kw: composed.append(real_compose(ov, **kw)) or composed[-1])
    monkeypatch.setattr(prepare.hydra.utils, "instantiate", lambda data: SimpleNamespace(summary=lambda: data._target_))
    assert _main(["prepare", "--data", "zinc", "rotated_mnist", "--profile", "full", "seed=5"]) == 0
    assert [(c.profile.name, c.seed) for c in composed] == [("full", 5), ("full", 5)]
    printed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert printed == ["eqlatent.data.zinc.load_zinc", "eqlatent.data.rotated_mnist.load_rotated_mnist"]


@pytest.mark.parametrize("args", [
    ["-m", "eqlatent", "reproduce", "molecules"], ["-m", "eqlatent.cli.run", "experiment=molecules"],
    ["-m", "eqlatent.data.prepare", "--data", "qm9"],
], ids=lambda a: " ".join(a[1:3]))
def test_missing_configs_are_one_line_naming_the_fix(args, tmp_path):
    proc = _py(args, cwd=tmp_path, env={"EQLATENT_ROOT": str(tmp_path)})
    err = _error_lines(proc.stderr)
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    assert err[0].startswith("error:") and "EQLATENT_ROOT" in err[0] and "checkout" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_makefile_targets_call_the_cli():
    if shutil.which("make") is None:
        pytest.skip("no make")
    expected = {
        "reproduce-molecules": "-m eqlatent reproduce molecules --profile full seed=1",
        "reproduce-zinc": "-m eqlatent reproduce zinc --profile full seed=1",
        "sweep-images": "-m eqlatent sweep images --profile full seed=1",
        "prepare-data": "-m eqlatent prepare --profile full seed=1",
        "report": "-m eqlatent report seed=1",
        "bench": "-m eqlatent bench seed=1",
    }
    # run as its own make, not as a sub-make of `make test` (which would add "Entering directory" lines)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    for target, line in expected.items():
        proc = subprocess.run(["make", "--no-print-directory", "-n", "-o", ".venv/.eqlatent-installed", target,
                               "PROFILE=full", "ARGS=seed=1"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                              env=env)
        assert proc.returncode == 0 and proc.stdout.strip().endswith(line), (target, proc.stdout)
