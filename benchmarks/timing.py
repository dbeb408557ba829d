"""Small timing helpers: median wall time of a callable after warm-up, synchronising CUDA."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

from eqlatent.markdown import markdown_table as table_lines


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, device: str = "cpu") -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs (after ``warmup`` runs)."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        sync()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    """A GitHub markdown table with numbers formatted to 3-4 significant digits."""
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    return "\n".join(table_lines(headers, [[fmt(v) for v in row] for row in rows]))
