"""Build (or check) the processed caches of every dataset and print what they hold.

``python -m eqlatent.data.prepare [--data qm9 zinc rotated_mnist] [--profile paper] [key=value ...]``
composes the same data configs the studies use, so the counts printed here are the
ones a study will see.  With no ``--data`` all three datasets are prepared; the older
spelling ``data=qm9`` is accepted too.  Every dataset's config is composed before the first
one is built, so a misspelt name or key costs one line and no build.

``data.subset=all`` with ``--data zinc`` builds the whole MOSES set (1,584,663 molecules) shard
by shard at bounded memory (:mod:`eqlatent.data.zinc_shards`); a progress bar shows the build,
and a line says when an interrupted build resumes and what the finished one kept and dropped.
"""

from __future__ import annotations

import logging
import sys
import time

import hydra

from eqlatent.runtime.commandline import OneLineParser, check_overrides, exit_status, parse_with_overrides
from eqlatent.runtime.config import compose
from eqlatent.errors import ConfigError

DATASETS = ("qm9", "zinc", "rotated_mnist")


def _datasets_and_rest(overrides: list[str], datasets: list[str] | tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The datasets chosen (``--data`` or ``data=`` overrides; all when none) and the other overrides."""
    chosen = list(datasets) + [o.split("=", 1)[1] for o in overrides if o.startswith("data=")]
    for name in chosen:
        if name not in DATASETS:
            raise ConfigError(f"unknown dataset '{name}'", f"use one of {', '.join(DATASETS)}")
    return chosen or list(DATASETS), [o for o in overrides if not o.startswith("data=")]


def prepare(overrides: list[str], datasets: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Load each selected dataset through its config; return one summary line per dataset."""
    chosen, rest = _datasets_and_rest(list(overrides), datasets)
    for name in chosen:   # all configs first: an error in the last one must not wait for the first build
        check_overrides([f"data={name}", *rest])
    lines = []
    for name in chosen:
        cfg = compose([f"data={name}", *rest], with_hydra=False)
        t0 = time.perf_counter()
        ds = hydra.utils.instantiate(cfg.data)
        lines.append(f"{ds.summary()}  [{time.perf_counter() - t0:.1f} s]")
        print(lines[-1], flush=True)
    return lines


def _show_build_events() -> None:
    """Print a sharded build's events (resumed, finished with its drops) when no logging is set up (a plain command)."""
    events = logging.getLogger("eqlatent.data.shards")
    if not logging.getLogger().handlers and not events.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        events.addHandler(handler)
        events.setLevel(logging.INFO)


def build_parser(prog: str = "python -m eqlatent.data.prepare") -> OneLineParser:
    ap = OneLineParser(prog=prog, description="Build (or check) the cached tensors of QM9, ZINC and rotated MNIST "
                       "under data/processed and print their counts.",
                       epilog=f"example: {prog} --data qm9 --profile paper   (no --data: all three datasets)")
    ap.add_argument("--data", nargs="+", choices=DATASETS, default=[], metavar="NAME",
                    help=f"datasets to prepare: {', '.join(DATASETS)} (default: all)")
    ap.add_argument("--profile", help="profile whose sizes to prepare: cpu, full, paper (default: the config's, cpu)")
    ap.add_argument("overrides", nargs="*", default=[], metavar="key=value",
                    help="Hydra overrides, as for python -m eqlatent.cli.run")
    return ap


def main(argv: list[str] | None = None, prog: str = "python -m eqlatent.data.prepare") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, _ = parse_with_overrides(build_parser(prog), argv)   # `--data qm9 seed=1`: seed=1 is no dataset
    profile = [f"profile={args.profile}"] if args.profile else []
    _show_build_events()
    return exit_status(lambda: prepare([*profile, *args.overrides], args.data))


if __name__ == "__main__":
    sys.exit(main())
