"""What ``eqlatent.retention`` returns: one :class:`RetentionResult` per projection, several in a :class:`RetentionReport`.

A table for people (``to_markdown``) and rows for programs (``as_dicts``); the measuring itself is
:mod:`eqlatent.toolkit.retention_measure`'s.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from eqlatent.runtime.markdown import markdown_table

#: the name of the baseline row: the flattened latent itself (not invariant)
RAW_LATENT = "raw latent"


class SmallSampleWarning(UserWarning):
    """The sample is too small for a number ``retention`` reports (few pairs, or a trivial kNN)."""


def distortion_cell(row: "RetentionResult") -> str:
    """``"1.500 (2..3)"``; a collapse says so (``"inf (a pair collapsed)"``); ``"n/a"`` when no pair counted."""
    if math.isnan(row.distortion):
        return "n/a"
    if row.ratio_min == 0:
        return "inf (a pair collapsed)"
    return f"{row.distortion:.3f} ({row.ratio_min:.3g}..{row.ratio_max:.3g})"


@dataclass
class RetentionResult:
    """Retention of one projection (one row of a :class:`RetentionReport`).

    ``spearman`` / ``pearson`` / ``rel_error`` over ``n_pairs`` distinct random pairs of the
    ``n_points`` latents; ``knn`` = k-NN consistency with ``knn_k`` neighbours among the first
    ``n_knn`` latents; ``n_features`` = width of the projection's output; ``note`` says when
    the sample is too small for the numbers (empty otherwise).  ``distortion`` = ``ratio_max /
    ratio_min``, the extreme ratios of projected to quotient distance over the same pairs (those of
    two different orbits: :func:`eqlatent.toolkit.retention_measure.distortion`), the empirical
    bi-Lipschitz constant: 1 for an isometry, ``inf`` when a pair collapsed to one point.
    """

    group: str
    projection: str
    n_points: int
    n_pairs: int
    n_features: int
    spearman: float
    pearson: float
    rel_error: float
    knn: float
    knn_k: int
    n_knn: int
    note: str = ""
    distortion: float = math.nan
    ratio_min: float = math.nan
    ratio_max: float = math.nan

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        """A one-row markdown table."""
        return RetentionReport([self]).to_markdown()


@dataclass
class RetentionReport:
    """Several projections measured on the same latents and pairs: one :class:`RetentionResult` per row.

    The last row is the raw latent (``"raw latent"``) unless ``baseline=False`` was passed.
    ``report["lex_sort"]`` is the row of that projection.
    """

    rows: list[RetentionResult] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [row.as_dict() for row in self.rows]

    def to_markdown(self) -> str:
        """The comparison table (a ``note`` column appears when a row has a small-sample note)."""
        header = ["group", "projection", "latents", "pairs", "features", "Spearman", "relative error",
                  "kNN consistency", "distortion (min..max ratio)"]
        noted = any(row.note for row in self.rows)
        body = []
        for r in self.rows:
            cells = [r.group, r.projection, r.n_points, r.n_pairs, r.n_features, f"{r.spearman:.4f}",
                     f"{r.rel_error:.4f}", f"{r.knn:.4f} (k={r.knn_k}, n={r.n_knn})", distortion_cell(r)] + \
                ([r.note] if noted else [])
            body.append([str(c) for c in cells])
        return "\n".join(markdown_table(header + (["note"] if noted else []), body))

    def __getitem__(self, projection: str) -> RetentionResult:
        for row in self.rows:
            if row.projection == projection:
                return row
        raise KeyError(f"no row '{projection}' (rows: {', '.join(r.projection for r in self.rows)})")

    def __iter__(self) -> Iterator[RetentionResult]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)
