"""``eqlatent.retention``: how much of the quotient geometry a projection keeps, on your latents.

Why: the paper's measure of information kept -- projected distances against the quotient
distances ``min_g ||z_i - g . z_j||`` -- for a researcher's own encoder and group, with the
studies' metrics (:mod:`eqlatent.metrics.distance_retention`): Spearman and relative error over
random pairs, and k-NN consistency over the first ``n_knn`` latents (all their pairs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError
from eqlatent.groups.quotient import quotient_distance
from eqlatent.groups.specs import field_type_for, is_permutation_group
from eqlatent.markdown import markdown_table
from eqlatent.metrics.distance_retention import distance_preservation, knn_consistency, sample_pairs
from eqlatent.toolkit.invariant import invariant_projection
from eqlatent.toolkit.nodes import project_nodes


@dataclass
class RetentionResult:
    """Retention of one projection: ``spearman`` / ``pearson`` / ``rel_error`` over ``n_pairs``
    random pairs, ``knn`` = k-NN consistency (``k`` neighbours among ``n_knn`` points)."""

    group: str
    projection: str
    n_points: int
    n_pairs: int
    spearman: float
    pearson: float
    rel_error: float
    knn: float
    k: int
    n_knn: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        """A one-row markdown table."""
        row = [self.group, self.projection, self.n_points, self.n_pairs, f"{self.spearman:.4f}",
               f"{self.rel_error:.4f}", f"{self.knn:.4f} (k={self.k}, n={self.n_knn})"]
        return "\n".join(markdown_table(["group", "projection", "latents", "pairs", "Spearman",
                                         "relative error", "kNN consistency"], [[str(v) for v in row]]))


def _projector(projection: Any, spec: Any, latents: Tensor, seed: int) -> tuple[Callable[[Tensor], Tensor], str]:
    """A callable ``latents -> [n, F]`` and its name, for a method name or a callable."""
    if not isinstance(projection, str):
        return projection, getattr(projection, "method", None) or type(projection).__name__
    if is_permutation_group(spec):
        return (lambda z: project_nodes(z, method=projection)), projection
    proj = invariant_projection(field_type_for(spec, tuple(latents.shape)), projection, seed=seed)
    if hasattr(spec, "fibergroup"):
        return proj, projection
    return (lambda z: proj(z.flatten(1))), projection  # a group name: the studies' [n, fields, N] layouts


def _group_name(spec: Any) -> str:
    if is_permutation_group(spec):
        return "S_n"
    if hasattr(spec, "fibergroup"):
        return f"{spec.fibergroup.name} field type ({spec.size} channels)"
    return str(spec) if isinstance(spec, str) else getattr(spec, "name", type(spec).__name__)


def retention(latents: Any, projection: Any, group_or_field_type: Any, n_pairs: int = 2000, k: int = 10,
              n_knn: int = 200, seed: int = 0) -> RetentionResult:
    """Compare a projection's distances with the quotient distances on ``latents``.

    Parameters
    ----------
    latents:
        ``[n, ...]`` latents: node latents ``[n, nodes, d]`` for S_n; ``[n, C]`` /
        ``[n, C, 1, 1]`` (or a GeometricTensor) for a FieldType; ``[n, fields, N]`` for ``"C8"``.
    projection:
        A projection name (``"random_invariant"``, ``"norm"``, ``"group_pool_max"``, ``"group_pool_mean"``,
        ``"canonicalize"``; for S_n ``"sort"``, ``"lex_sort"``, ``"sum_pool"``, ... as in
        :func:`eqlatent.project_nodes`) or any callable
        ``latents -> [n, F]`` (e.g. an :func:`eqlatent.invariant_projection` module).
    group_or_field_type:
        As for :func:`eqlatent.quotient_distance`.
    n_pairs, k, n_knn, seed:
        Random pairs for Spearman / relative error; k-NN consistency with ``k`` neighbours over the
        first ``n_knn`` latents (all their ``n_knn (n_knn - 1) / 2`` pairs).

    Returns
    -------
    RetentionResult

    Examples
    --------
    >>> import torch, eqlatent
    >>> z = torch.randn(40, 6, 1)          # 40 graphs, 6 nodes, one number per node (synthetic)
    >>> res = eqlatent.retention(z, "sort", "S_n", n_pairs=200, k=5, n_knn=40)
    >>> round(res.spearman, 6), round(res.rel_error, 6)
    (1.0, 0.0)
    """
    z = getattr(latents, "tensor", latents)
    z = torch.as_tensor(z)
    if z.ndim < 2 or len(z) < 3:
        raise LatentShapeError(f"retention needs at least 3 latents [n, ...], got shape {tuple(z.shape)}",
                               "pass a batch of latents (the first axis indexes samples)")
    project, name = _projector(projection, group_or_field_type, z, seed)
    with torch.no_grad():
        feats = torch.as_tensor(project(z)).double().flatten(1)
    pairs = sample_pairs(len(z), n_pairs, seed)
    d_true = quotient_distance(z[pairs[:, 0]], z[pairs[:, 1]], group_or_field_type)
    d_proj = (feats[pairs[:, 0]] - feats[pairs[:, 1]]).norm(dim=1)
    stats = distance_preservation(d_true, d_proj)
    m = min(len(z), n_knn)
    i, j = torch.triu_indices(m, m, offset=1)
    full_true = torch.zeros(m, m, dtype=torch.float64)
    full_true[i, j] = full_true[j, i] = quotient_distance(z[i], z[j], group_or_field_type)
    kk = min(k, m - 1)
    knn = knn_consistency(full_true, torch.cdist(feats[:m], feats[:m]), k=kk)
    return RetentionResult(_group_name(group_or_field_type), name, len(z), n_pairs, stats["spearman"],
                           stats["pearson"], stats["rel_error"], knn, kk, m)
