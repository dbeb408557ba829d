"""Build (or check) the processed caches of every dataset and print what they hold.

``python -m eqlatent.data.prepare [data=qm9|zinc|rotated_mnist ...] [profile=paper]``
composes the same data configs the studies use, so the counts printed here are the
ones a study will see.  With no ``data=`` override all three datasets are prepared.
"""

from __future__ import annotations

import sys
import time

import hydra

from eqlatent.config import compose
from eqlatent.errors import EqlatentError

DATASETS = ("qm9", "zinc", "rotated_mnist")


def prepare(overrides: list[str]) -> list[str]:
    """Load each selected dataset through its config; return one summary line per dataset."""
    chosen = [o.split("=", 1)[1] for o in overrides if o.startswith("data=")]
    rest = [o for o in overrides if not o.startswith("data=")]
    lines = []
    for name in chosen or DATASETS:
        cfg = compose([f"data={name}", *rest], with_hydra=False)
        t0 = time.perf_counter()
        ds = hydra.utils.instantiate(cfg.data)
        lines.append(f"{ds.summary()}  [{time.perf_counter() - t0:.1f} s]")
        print(lines[-1], flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    try:
        prepare(list(sys.argv[1:] if argv is None else argv))
    except EqlatentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
