"""Markdown tables: the one layout every results.md, REPORT.md and bench.md table is written in.

Why a module of its own: the studies, the report and the benchmarks each format their
numbers their own way (per-study precision, mean ± std, timings), but the table around
the formatted cells must be the same everywhere so the files render alike on GitHub and
in ``index.html``.
"""

from __future__ import annotations

from typing import Iterable, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a GitHub markdown table; every cell must already be a formatted string."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
