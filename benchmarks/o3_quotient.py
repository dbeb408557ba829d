"""SO(3) / O(3) quotient distance of e3nn latents: error against a dense search and the closed form, and its time.

Run: ``.venv/bin/python benchmarks/o3_quotient.py [--pairs 400] [--threads 2] [--n 300]``.

Three tables, one line per case:

* accuracy (l >= 2): the returned distance ``d`` against a dense search ``d_ref`` (a
  150,000-rotation grid, Newton from its 32 best distinct peaks run to convergence), over
  random pairs: the worst ``d - d_ref`` (negative: ours lower), the pairs where ours is
  above by more than 1e-9 relative (misses), and the bound ``h^2 L^2 ||z1|| ||z2||`` on
  ``d^2 - d_true^2`` of the default grid before refinement;
* closed form (l <= 1): Kabsch against the grid + Newton path forced on the same problems;
* time: all pairs of two sets of ``n`` latents (``n x n``) and within one set, with torch on
  ``--threads`` threads (wall and process CPU seconds, and the load average at the start).
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def _table(headers: list[str], rows: list[list[object]]) -> str:
    def fmt(v: object) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def _reference(action, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dense search: 150,000 grid rotations, Newton to convergence from the 32 best distinct peaks."""
    from eqlatent.groups import so3_max
    from eqlatent.groups.o3_quotient import _moved, _safe_norm, cross_blocks

    saved = so3_max.SCREEN_STEPS, so3_max.N_KEEP
    so3_max.SCREEN_STEPS, so3_max.N_KEEP = 12, 32
    try:
        grid = so3_max.SO3Grid(150_000, action.lmax)
        _, R, c = so3_max.maximize(cross_blocks(action, a, b), grid, n_starts=32)
    finally:
        so3_max.SCREEN_STEPS, so3_max.N_KEEP = saved
    return _safe_norm(a - _moved(action, b, R, c))


def accuracy(pairs: int) -> list[list[object]]:
    from eqlatent.groups.o3 import irreps_action
    from eqlatent.groups.o3_quotient import irreps_quotient_distance
    from eqlatent.groups.so3_max import default_grid_size, so3_grid

    rows = []
    for spec in ["SO3: 1x2e", "O3: 1x2e + 1x2o", "SO3: 1x3o", "O3: 1x2e + 1x3o", "O3: 2x0e + 2x1o + 1x2e + 1x3o",
                 "O3: 16x0e + 8x1o + 4x2e + 2x3o", "SO3: 1x4e", "O3: 1x4e + 2x2o", "SO3: 1x6e"]:
        action = irreps_action(spec)
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(pairs, action.dim, generator=gen, dtype=torch.float64)
        b = torch.randn(pairs, action.dim, generator=gen, dtype=torch.float64)
        d = irreps_quotient_distance(a, b, action)
        ref = _reference(action, a, b)
        rel = (d - ref) / (a.norm(dim=1) * b.norm(dim=1)).sqrt()
        L = action.lmax
        h = so3_grid(default_grid_size(L), L).covering_radius
        bound = (h * L) ** 2 * (a.norm(dim=1) * b.norm(dim=1))  # on d^2 - d_true^2 without refinement
        rows.append([spec, pairs, float((d - ref).max()), float((d - ref).min()), int((rel > 1e-9).sum()),
                     default_grid_size(L), round(h, 3), float(bound.median())])
    return rows


def closed_form(pairs: int) -> list[list[object]]:
    from eqlatent.groups.o3 import irreps_action
    from eqlatent.groups.o3_quotient import _moved, _safe_norm, cross_blocks
    from eqlatent.groups.so3_max import maximize, so3_grid

    rows = []
    for spec in ["SO3: 1x1o", "O3: 1x1o", "O3: 2x0e + 1x0o + 3x1o + 1x1e", "SO3: 4x0e + 3x1o + 2x1e"]:
        action = irreps_action(spec)
        gen = torch.Generator().manual_seed(1)
        a = torch.randn(pairs, action.dim, generator=gen, dtype=torch.float64)
        b = torch.randn(pairs, action.dim, generator=gen, dtype=torch.float64)
        M = cross_blocks(action, a, b)
        _, R, c = maximize(M)  # l <= 1: Kabsch
        closed = _safe_norm(a - _moved(action, b, R, c))
        _, R2, c2 = maximize(M + [None], so3_grid(4096, 2))  # a phantom l = 2: the grid + Newton path
        searched = _safe_norm(a - _moved(action, b, R2, c2))
        rows.append([spec, pairs, float((closed - searched).abs().max()), float((closed - searched).max())])
    return rows


def timing(n: int, threads: int, specs: list[str]):
    """One row per (irreps, all pairs of two sets / within one set), yielded as each finishes."""
    from eqlatent.groups.o3 import irreps_action
    from eqlatent.groups.o3_quotient import irreps_quotient_distance

    torch.set_num_threads(threads)
    for spec in specs:
        action = irreps_action(spec)
        gen = torch.Generator().manual_seed(2)
        z = torch.randn(2 * n, action.dim, generator=gen)
        irreps_quotient_distance(z[:8], None, action, pairwise=True)  # grid built, e3nn loaded
        for label, args in [(f"{n} x {n} (two sets)", (z[:n], z[n:])), (f"{n} within one set", (z[:n], None))]:
            load = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            d = irreps_quotient_distance(*args, action, pairwise=True)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            yield [spec, action.dim, label, "x".join(map(str, d.shape)), round(wall, 1), round(cpu, 1), threads,
                   round(load, 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400, help="random pairs per accuracy case")
    parser.add_argument("--n", type=int, default=300, help="latents per set in the timing")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in the timing")
    parser.add_argument("--skip", nargs="*", default=[], choices=["accuracy", "closed", "timing"])
    parser.add_argument("--specs", nargs="*", default=["O3: 16x0e + 8x1o + 4x2e + 2x3o", "O3: 24x0e + 12x1o + 6x2e + 3x3o",
                                                       "SO3: 24x0e + 12x1o + 6x2e + 3x3o"],
                        help="irreps of the timing (dims 74 and 111 by default)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if "accuracy" not in args.skip:
        print("accuracy against a dense search (150,000 rotations + Newton from 32 peaks), random latents:")
        print(_table(["irreps", "pairs", "max d - d_ref", "min d - d_ref", "misses > 1e-9", "grid", "h (rad)",
                      "unrefined bound (median)"], accuracy(args.pairs)), flush=True)
    if "closed" not in args.skip:
        print("\nclosed form (Kabsch, l <= 1) against grid + Newton on the same problems:")
        print(_table(["irreps", "pairs", "max |closed - searched|", "max closed - searched"], closed_form(args.pairs)),
              flush=True)
    if "timing" not in args.skip:
        print(f"\npairwise time (torch threads = {args.threads}; load = 1-min load average at the start):")
        headers = ["irreps", "dim", "pairs", "shape", "wall s", "cpu s", "threads", "load"]
        rows = []
        for row in timing(args.n, args.threads, args.specs):
            rows.append(row)
            print(f"  {row[0]}, {row[2]}: {row[4]} s wall, {row[5]} s cpu", flush=True)
        print(_table(headers, rows), flush=True)


if __name__ == "__main__":
    main()
