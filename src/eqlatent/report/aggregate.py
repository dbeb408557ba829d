"""Mean and standard deviation of nested metric structures, leaf by leaf.

Each study writes one nested dict per run.  Averaging *the structure* (rather than a
flattened copy) lets the report feed the averaged dict back into the study's own table
and verdict functions, so the cross-seed report applies exactly the rules the single
runs applied.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def nested_stat(items: list[Any], how: str) -> Any:
    """Combine equally-shaped nested values: numbers -> mean/std, bools -> fraction true, else the first."""
    first = items[0]
    if isinstance(first, dict):
        keys = [k for k in first if all(isinstance(i, dict) and k in i for i in items)]
        return {k: nested_stat([i[k] for i in items], how) for k in keys}
    if isinstance(first, list) and all(isinstance(i, list) and len(i) == len(first) for i in items):
        return [nested_stat([i[j] for i in items], how) for j in range(len(first))]
    if isinstance(first, (bool, int)) and all(type(i) is type(first) and i == first for i in items):
        return first if how == "mean" else 0  # the same flag / count in every seed: keep it exact
    if isinstance(first, bool) and all(isinstance(i, bool) for i in items):
        return float(np.mean(items)) if how == "mean" else float(np.std([float(i) for i in items], ddof=1))
    if _is_number(first) and all(_is_number(i) for i in items):
        vals = np.asarray(items, dtype=np.float64)
        finite = vals[np.isfinite(vals)]
        if finite.size == 0:
            return float("nan")
        if how == "mean":
            return float(finite.mean())
        return float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return first


def mean_std(items: list[Any]) -> tuple[Any, Any]:
    """``(mean structure, std structure)`` over runs (sample std, ddof = 1)."""
    return nested_stat(items, "mean"), nested_stat(items, "std")


def pm(mean: Any, std: Any, digits: int = 3) -> str:
    """Format ``mean ± std`` compactly (scientific for tiny numbers)."""
    if mean is None:
        return "n/a"
    if isinstance(mean, bool):
        return "yes" if mean else "no"
    if not _is_number(mean):
        return str(mean)
    if isinstance(mean, int) and not std:
        return str(mean)
    if isinstance(mean, float) and math.isnan(mean):
        return "nan"
    fmt = (lambda v: f"{v:.1e}") if (mean != 0 and abs(mean) < 10 ** -digits) else (lambda v: f"{v:.{digits}f}")
    if not _is_number(std) or std == 0:
        return fmt(mean)
    return f"{fmt(mean)} ± {fmt(std)}"
