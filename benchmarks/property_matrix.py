"""The property matrix of issue 26: every projection on every adversarial latent, in both float dtypes.

``python benchmarks/property_matrix.py [--seeds N] [--out FILE]`` prints a markdown table: one row
per projection (method and group), one column per adversarial case and dtype, each cell the
worst invariance error relative to the latent's scale (``max |pi(g.z) - pi(z)| / max_row ||z||``
over 4 random group elements and ``--seeds`` latents) and ✓ when the gradient of a random linear
functional of the output was finite and the error within its tolerance (✗ with the reason
otherwise; ``—``: a baseline that is not invariant by design, gradients checked only).

The subjects, cases and tolerances are ``tests/helpers/adversarial.py``'s, the same ones
``tests/projections/test_properties.py`` asserts (test-only code, so this script needs the source
checkout, as every benchmark does).  Exit status 1 when a cell fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the checkout: tests.helpers is test-only code
from tests.helpers import adversarial as adv  # noqa: E402
from eqlatent.runtime.markdown import markdown_table  # noqa: E402

_SHORT = {torch.float32: "f32", torch.float64: "f64"}


def worst(subject: adv.Subject, case: str, dtype: torch.dtype, seeds: int) -> adv.Outcome:
    """The worst outcome of ``seeds`` latents (largest error; finite only if every gradient was)."""
    outcomes = [adv.run(subject.trial(case, dtype, seed), seed=seed) for seed in range(seeds)]
    return adv.Outcome(max(o.error for o in outcomes), min(o.tolerance for o in outcomes),
                       all(o.finite for o in outcomes), outcomes[0].invariant)


def matrix(seeds: int = 1) -> tuple[list[str], int, int]:
    """``(markdown lines, cells, failed cells)`` of the whole matrix."""
    header = ["projection"] + [f"{case} {_SHORT[dtype]}" for dtype in adv.DTYPES for case in adv.CASES]
    rows, cells, failed = [], 0, 0
    for subject in adv.all_subjects():
        row = [subject.name]
        for dtype in adv.DTYPES:
            for case in adv.CASES:
                outcome = worst(subject, case, dtype, seeds)
                row.append(outcome.cell())
                cells, failed = cells + 1, failed + (not outcome.ok)
        rows.append(row)
    return markdown_table(header, rows), cells, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="latents per cell (the worst is shown)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    lines, cells, failed = matrix(max(1, args.seeds))
    tol = ", ".join(f"{_SHORT[d]} {adv.RTOL[d]:g}" for d in adv.DTYPES)
    summary = (f"{cells - failed} of {cells} cells pass (tolerance relative to the latent's scale: {tol}, plus the "
               f"stated grid bound of the studies' sampled SO(2) random_invariant) in {time.perf_counter() - start:.0f} s")
    text = "\n".join(lines + ["", summary])
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
