"""Command-line entry point: ``python -m eqlatent.cli.run experiment=<study> [overrides]``.

Thin on purpose: it checks the command line, seeds, sets wandb to offline unless asked
otherwise, and hands the composed config to the study function named by ``cfg.study``.
The command line is checked *before* Hydra starts (:func:`check_command_line`), because
Hydra makes the run folder and its log file before the job sees its config: a command
that cannot run leaves nothing on disk.  Errors caused by the user's input are printed as
one line and exit with status 2.  ``--help`` is this module's own (experiments, profiles,
examples); ``--hydra-help`` is Hydra's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from eqlatent.runtime.commandline import check_overrides, require_configs
from eqlatent.runtime.config import CONFIG_DIR
from eqlatent.errors import ConfigError, EqlatentError

PROG = "python -m eqlatent.cli.run"
# Hydra flags after which nothing runs (help, versions, shell completion, config info): passed on unchecked
_INFO_FLAGS = ("help", "hydra_help", "shell_completion", "info")


def run_study(cfg: DictConfig) -> dict:
    """Run the study ``cfg.study`` names and return its final metrics."""
    if not cfg.get("study"):
        raise ConfigError("no study selected", "pass experiment=molecules or experiment=images")
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    # deterministic cuBLAS (trainer.deterministic): read when the first cuBLAS handle is made, so before any GPU work
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import lightning

    from eqlatent.runtime.console import configure_console, set_matmul_precision

    configure_console()
    set_matmul_precision(str(cfg.get("matmul_precision", "highest")))
    lightning.seed_everything(int(cfg.seed), workers=True)
    study = hydra.utils.get_method(cfg.study)
    return study(cfg)


def _hydra_args(argv: list[str]):
    """Hydra's own parse of the command line, its errors as one line."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    parser.prog = PROG

    def one_line(message: str):
        raise ConfigError(f"{PROG}: {message}", f"see `{PROG} --help`")

    parser.error = one_line  # type: ignore[method-assign]
    return parser.parse_args(argv)


def check_command_line(argv: list[str]) -> None:
    """Raise a one-line :class:`ConfigError` unless ``argv`` names a study whose config composes.

    Flags that only print (``--help``, ``--hydra-help``, ``--info``) pass unchecked; ``--cfg``
    needs composable overrides but no study.  ``--config-path`` / ``--config-dir`` change where
    configs are found, so such a command line is left to Hydra.
    """
    args = _hydra_args(argv)
    if any(getattr(args, flag) for flag in _INFO_FLAGS) or args.config_path or args.config_dir \
            or args.experimental_rerun:
        return
    cfg = check_overrides(args.overrides, multirun=args.multirun, config_name=args.config_name or "config")
    if not cfg.get("study") and not args.cfg:
        raise ConfigError("no study selected", "pass experiment=molecules or experiment=images "
                          f"(`{PROG} --help` lists them)")


def _first_comment(path: Path) -> str:
    """The one-line description a config file opens with (its first comment that is not ``@package``)."""
    for line in path.read_text().splitlines():
        text = line.lstrip("# ").strip()
        if line.startswith("#") and text and not text.startswith("@package"):
            return text.split(": `")[0].rstrip(":. ")
    return ""


def help_text() -> str:
    """``--help``: the experiments and profiles found in configs/, with their descriptions, and examples."""
    def listing(group: str) -> list[str]:
        return [f"  {p.stem:<28} {_first_comment(p)}" for p in sorted((CONFIG_DIR / group).glob("*.yaml"))]

    listed = ("hydra", "experiment", "profile")
    groups = sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name not in listed)
    return "\n".join([
        f"usage: {PROG} experiment=<study> [profile=cpu|full|paper] [key=value ...] [--multirun] [--cfg job]", "",
        "Run one study of the reproduction (a Hydra app): train, project, measure; results under "
        "outputs/<study>/<profile>-seed<seed>/.", "",
        "experiments (experiment=...):", *listing("experiment"), "",
        "profiles (profile=..., default cpu):", *listing("profile"), "",
        f"other config groups (group=option): {', '.join(groups)}; any key: key=value, new key: +key=value.", "",
        "options:",
        "  -h, --help                   this help",
        "  -m, --multirun               one job per value of each sweep (seed=0,1,2); the sweep_* experiments imply it",
        "  --cfg job [--resolve]        print the composed config and exit (no study needed)",
        "  --hydra-help                 Hydra's own flags (--info, --config-dir, shell completion, ...)", "",
        "examples:",
        f"  {PROG} experiment=molecules profile=full seed=1",
        f"  {PROG} experiment=images --cfg job",
        "  eqlatent reproduce molecules --profile full seed=1     (the same run through the `eqlatent` command)",
    ]) + "\n"


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    """Hydra's entry: reads ``sys.argv``, makes the run folder, calls the study."""
    try:
        run_study(cfg)
    except EqlatentError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    """``python -m eqlatent.cli.run [overrides]``: check the command line, then hand it to Hydra."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if "-h" in argv or "--help" in argv:
            require_configs()
            print(help_text(), end="")
            return 0
        check_command_line(argv)
    except EqlatentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sys.argv = [sys.argv[0], *argv]   # Hydra parses sys.argv (and a DDP launch re-runs it)
    hydra_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
