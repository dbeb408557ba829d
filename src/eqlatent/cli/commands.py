"""The ``eqlatent`` command: one front door to the studies, the data, the report and the checks.

Each subcommand is a thin front to a module that also runs on its own, so the two spellings
always agree (``eqlatent reproduce molecules --profile full`` is
``python -m eqlatent.cli.run experiment=molecules profile=full``):

=================  =======================================================
``reproduce``      ``python -m eqlatent.cli.run experiment=<study>`` (a study)
``sweep``          ``python -m eqlatent.cli.run experiment=sweep_<study>``
``prepare``        ``python -m eqlatent.data.prepare``
``report``         ``python -m eqlatent.report``
``retention``      ``python -m eqlatent.cli.retention``
``paper-check``,   ``benchmarks/paper_check.py``, ``gpu_check.py``,
``gpu-check``,     ``bench.py`` (need the source checkout)
``bench``
=================  =======================================================

``reproduce`` and ``sweep`` *replace* this process by ``python -m eqlatent.cli.run`` rather than
calling it: Lightning's DDP launcher re-runs the command line of the main process, and that
must be the run module's, with its overrides.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from eqlatent.runtime.commandline import OneLineParser, parse_with_overrides, require_configs
from eqlatent.runtime.config import CONFIG_DIR, project_root
from eqlatent.errors import ConfigError, EqlatentError

PROG = "eqlatent"
#: study name on the command line -> the experiment config it runs
STUDIES = {"molecules": "molecules", "images": "images", "zinc": "molecules_zinc", "qm9_3d": "molecules_3d"}
SWEEPS = {"molecules": "sweep_molecules", "images": "sweep_images", "qm9_3d": "sweep_molecules_3d"}
#: benchmark command -> its script under benchmarks/
BENCHMARKS = {"paper-check": "paper_check", "gpu-check": "gpu_check", "bench": "bench"}
COMMANDS = {
    "reproduce": "run one study (trains, projects, measures) -> outputs/<study>/",
    "sweep": "Hydra multirun of a study: 3 seeds x latent size (molecules), x N of C_N (images) or x target (qm9_3d)",
    "prepare": "build and cache the QM9, ZINC and rotated-MNIST tensors under data/, print counts",
    "report": "aggregate every finished run under outputs/ -> outputs/report/REPORT.md + index.html "
              "(--update-docs: and the docs' profile tables)",
    "retention": "retention of invariant projections on saved latents (.pt, .npy, .npz)",
    "paper-check": "train every paper-profile model 1 epoch, project the paper profile's time (checkout only)",
    "gpu-check": "on a CUDA host: gpu tests + paper-check on a tenth of each epoch (checkout only)",
    "bench": "time projections vs encoders, throughput, scaling -> outputs/bench/bench.md (checkout only)",
}


def _profiles() -> list[str]:
    found = sorted(p.stem for p in (CONFIG_DIR / "profile").glob("*.yaml"))
    return found or ["cpu", "full", "paper"]


def _study_parser(sub: argparse._SubParsersAction, name: str, studies: dict[str, str], example: str) -> OneLineParser:
    parser = sub.add_parser(name, help=COMMANDS[name], description=COMMANDS[name][0].upper() + COMMANDS[name][1:] + ".",
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            usage=f"{PROG} {name} {{{','.join(studies)}}} [--profile PROFILE] [key=value ...] "
                                  "[--multirun] [hydra flags]",
                            epilog="Overrides and flags (--multirun, --cfg job, ...) go to Hydra unchanged; "
                                   "`python -m eqlatent.cli.run --help` lists what they can set.\n"
                                   f"example: {example}")
    parser.add_argument("study", choices=list(studies), metavar="study",
                        help=" | ".join(f"{s} (experiment={e})" for s, e in studies.items()))
    parser.add_argument("--profile", default="cpu", choices=_profiles(), help="sizes to run at (default: cpu)")
    parser.add_argument("overrides", nargs="*", default=[], metavar="key=value",
                        help="Hydra overrides, e.g. seed=1 trainer=gpu")
    return parser


def build_parser() -> tuple[OneLineParser, dict[str, OneLineParser]]:
    """The ``eqlatent`` parser and its ``reproduce`` / ``sweep`` subparsers (the others parse their own arguments)."""
    parser = OneLineParser(prog=PROG, description="Reproduce 'Interpreting Equivariant Representations' "
                           "(Hansen, Calissano, Feragen; ICML 2024): studies, data, report, checks.",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog="examples:\n  eqlatent reproduce molecules --profile full seed=1\n"
                                  "  eqlatent sweep images\n  eqlatent report\n"
                                  "`eqlatent <command> --help` tells more; `make help` lists the same as make targets.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="<command>")
    study = {"reproduce": _study_parser(sub, "reproduce", STUDIES, "eqlatent reproduce molecules --profile full "
                                        "seed=1   (= python -m eqlatent.cli.run experiment=molecules profile=full seed=1)"),
             "sweep": _study_parser(sub, "sweep", SWEEPS, "eqlatent sweep molecules hydra/launcher=slurm   "
                                    "(= python -m eqlatent.cli.run experiment=sweep_molecules profile=cpu ...)")}
    for name in COMMANDS:   # listed in the help; their own modules parse their arguments
        if name not in study:
            sub.add_parser(name, help=COMMANDS[name], add_help=False)
    return parser, study


def _version() -> str:
    from eqlatent import __version__

    return __version__


def run_argv(command: str, args: argparse.Namespace, passthrough: Sequence[str]) -> list[str]:
    """The ``python -m eqlatent.cli.run`` command line of ``eqlatent reproduce|sweep``."""
    studies = STUDIES if command == "reproduce" else SWEEPS
    experiment = studies[args.study]
    for override in args.overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if key == "profile":
            value = override.split("=", 1)[-1]
            raise ConfigError(f"'{override}' sets the profile as an override", f"pass --profile {value} instead")
        if key == "experiment":
            raise ConfigError(f"'{override}' names a second experiment",
                              f"the study argument picks it: `{PROG} {command} {{{','.join(studies)}}}`")
    return [sys.executable, "-m", "eqlatent.cli.run", f"experiment={experiment}", f"profile={args.profile}",
            *args.overrides, *passthrough]


def _hand_over(argv: Sequence[str]) -> int:
    """Replace this process by ``argv`` (POSIX), so signals, exit status and DDP re-launches are the command's own."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(argv[0], list(argv))
    return subprocess.call(list(argv))


def _study(parser: OneLineParser, command: str, argv: list[str]) -> int:
    args, passthrough = parse_with_overrides(parser, argv, passthrough=True)
    require_configs()
    command_line = run_argv(command, args, passthrough)
    print("running: python " + " ".join(command_line[1:]), file=sys.stderr)
    return _hand_over(command_line)


def _benchmark(command: str, argv: list[str]) -> int:
    """Run ``benchmarks/<script>.py``'s ``main(argv)`` in this process, from the project root, as ``eqlatent <command>``.

    In this process (not a child) so that argparse names it ``eqlatent <command>`` in its usage lines.
    """
    import importlib

    root = project_root()
    folder = root / "benchmarks"
    script = folder / f"{BENCHMARKS[command]}.py"
    if not script.is_file():
        raise ConfigError(f"`{PROG} {command}` needs the source checkout: no benchmarks/{script.name} under {root}",
                          "run it from a clone of the eqlatent repository, or set EQLATENT_ROOT to one")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))   # as the scripts do themselves: they import `timing` from their folder
    saved_argv, saved_cwd = sys.argv, Path.cwd()
    sys.argv = [f"{PROG} {command}", *argv]   # argparse's default prog: usage lines read `eqlatent bench ...`
    os.chdir(root)
    try:
        importlib.import_module(script.stem).main(argv)
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
    return 0


def _retention(argv: list[str]) -> int:
    from eqlatent.cli import retention as retention_cli

    return retention_cli.main(argv, prog=f"{PROG} retention")


def _delegates() -> dict[str, Callable[[list[str]], int]]:
    def prepare(argv: list[str]) -> int:
        from eqlatent.data.prepare import main

        return main(argv, prog=f"{PROG} prepare")

    def report(argv: list[str]) -> int:
        from eqlatent.report.build import main

        return main(argv, prog=f"{PROG} report")

    return {"prepare": prepare, "report": report, "retention": _retention,
            **{name: (lambda argv, name=name: _benchmark(name, argv)) for name in BENCHMARKS}}


def main(argv: list[str] | None = None) -> int:
    """``eqlatent <command> ...``; returns the exit status (0 ok, 2 for a command line that cannot run)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, study = build_parser()
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    try:
        if command in study:
            return _study(study[command], command, rest)
        delegates = _delegates()
        if command in delegates:
            return int(delegates[command](rest) or 0)
    except EqlatentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    parser.parse_args(argv)   # --help, --version, or an unknown command: argparse answers (one line for errors)
    return 2


if __name__ == "__main__":
    sys.exit(main())
