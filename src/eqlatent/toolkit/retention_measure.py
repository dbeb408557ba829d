"""``eqlatent.retention``: how much of the quotient geometry a projection keeps, on your latents.

Why: the paper's measure of information kept -- projected distances against the quotient
distances ``min_g ||z_i - g . z_j||`` -- for a researcher's own encoder and group, with the
studies' metrics (:mod:`eqlatent.metrics.distance_retention`): Spearman and relative error over
random distinct pairs, and k-NN consistency over the first ``n_knn`` latents (all their pairs).
Several projections are measured against one set of quotient distances (the expensive part,
computed once) and reported in one table, with the raw latent as a baseline row.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.inputs import check_finite
from eqlatent.groups.quotient import infer_field_type, quotient_distance
from eqlatent.groups.specs import (check_group_argument, field_type_for, is_field_type, is_field_type_spec,
                                   is_permutation_group, parse_field_type)
from eqlatent.runtime.markdown import markdown_table
from eqlatent.metrics.distance_retention import distance_preservation, knn_consistency, sample_pairs
from eqlatent.projections.base import InvariantProjection
from eqlatent.projections.node_inputs import dense_nodes
from eqlatent.projections.node_projection import zero_padding
from eqlatent.projections.registry import projection_class
from eqlatent.toolkit.invariant import invariant_projection

#: the name of the baseline row: the flattened latent itself (not invariant)
RAW_LATENT = "raw latent"
#: fewer distinct pairs than this and the Spearman / relative error are flagged as a small sample
SMALL_PAIRS = 50

Projector = Callable[[Tensor], Tensor]


class SmallSampleWarning(UserWarning):
    """The sample is too small for a number ``retention`` reports (few pairs, or a trivial kNN)."""


@dataclass
class RetentionResult:
    """Retention of one projection (one row of a :class:`RetentionReport`).

    ``spearman`` / ``pearson`` / ``rel_error`` over ``n_pairs`` distinct random pairs of the
    ``n_points`` latents; ``knn`` = k-NN consistency with ``knn_k`` neighbours among the first
    ``n_knn`` latents; ``n_features`` = width of the projection's output; ``note`` says when
    the sample is too small for the numbers (empty otherwise).
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
                  "kNN consistency"]
        noted = any(row.note for row in self.rows)
        body = []
        for r in self.rows:
            cells = [r.group, r.projection, r.n_points, r.n_pairs, r.n_features, f"{r.spearman:.4f}",
                     f"{r.rel_error:.4f}", f"{r.knn:.4f} (k={r.knn_k}, n={r.n_knn})"] + ([r.note] if noted else [])
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


def _pair_distances(z: Tensor, pairs: Tensor, full_true: Tensor, spec: Any) -> Tensor:
    """Quotient distances of ``pairs``: looked up in the all-pairs matrix of the first ``m`` latents where
    both ends are among them, computed for the rest (each S_n distance is a Hungarian solve: not twice)."""
    m = len(full_true)
    inside = (pairs < m).all(1)
    d_true = full_true.new_empty(len(pairs))
    d_true[inside] = full_true[pairs[inside, 0], pairs[inside, 1]]
    if not bool(inside.all()):
        outside = pairs[~inside]
        d_true[~inside] = quotient_distance(z[outside[:, 0]], z[outside[:, 1]], spec).to(d_true)
    return d_true


# -- latents and projections --------------------------------------------------------------------

def _node_latents(latents: Any, batch: Any, mask: Any) -> tuple[Tensor, Tensor | None]:
    """Dense ``[graphs, nodes, d]`` node latents with zero padding, and the padding mask (None: every slot a node)."""
    if isinstance(latents, np.ndarray):
        latents = torch.from_numpy(latents)
    if mask is not None and (batch is not None or hasattr(latents, "batch")):
        raise ConfigError("mask is for a dense latent [graphs, nodes, d]; a batch vector already says which nodes are real",
                          "pass either (x, batch=...) / a PyG Batch, or (dense, mask=...)")
    z, found = dense_nodes(latents, batch)
    if mask is not None:
        found = torch.as_tensor(mask, device=z.device).bool()
        if found.shape != z.shape[:2]:
            raise LatentShapeError(f"mask has shape {tuple(found.shape)} but the latent is {tuple(z.shape)}",
                                   "pass the [graphs, nodes] mask of to_dense_batch with its dense latent")
    return zero_padding(z, found), found  # the reference compares graphs zero-padded to the largest one


def _field_latents(latents: Any) -> Tensor:
    z = getattr(latents, "tensor", latents)
    if isinstance(z, np.ndarray):
        z = torch.from_numpy(z)
    if not isinstance(z, Tensor):
        raise LatentShapeError(f"latents must be a tensor [n, ...], got {type(latents).__name__}",
                               "pass the encoder's output as a torch.Tensor, numpy array or GeometricTensor")
    return check_finite(z) if z.is_floating_point() else z


def _mask_keyword(projection: Any) -> str | None:
    """How a callable takes the S_n padding mask: ``"mask"`` (``f(z, mask=m)``, e.g. :class:`eqlatent.NodeProjection`,
    as a module built with its own ``max_num_nodes``), ``"meta"`` (``f(z, meta={"mask": m})``, the
    :class:`~eqlatent.projections.base.InvariantProjection` convention), or None (``f(z)``: only the
    zero-padded latent)."""
    target = projection.forward if isinstance(projection, torch.nn.Module) else projection
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):  # a builtin or C callable: no signature to read
        return None
    return next((name for name in ("mask", "meta") if name in params), None)


def _with_mask(projection: Any, mask: Tensor | None) -> Projector:
    """``projection`` called with the padding mask where it takes one (see :func:`_mask_keyword`)."""
    keyword = None if mask is None else _mask_keyword(projection)
    if keyword == "meta":
        return lambda x: projection(x, meta={"mask": mask})
    if keyword == "mask":
        return lambda x: projection(x, mask=mask)
    return projection


def _projector(projection: Any, spec: Any, z: Tensor, mask: Tensor | None, seed: int,
               n_functionals: int | None) -> tuple[Projector, str]:
    """A callable ``latents -> [n, F]`` and its name, for a method name or a callable."""
    if not isinstance(projection, str):
        name = projection.name if isinstance(projection, InvariantProjection) else (
            getattr(projection, "__name__", None) or getattr(projection, "name", None) or type(projection).__name__)
        return (_with_mask(projection, mask) if is_permutation_group(spec) else projection), name
    if is_permutation_group(spec):
        proj = projection_class(projection, "nodes")()   # the name was checked by retention() before any work
        if mask is None:
            return proj, projection
        return (lambda x: proj(x, meta={"mask": mask})), projection
    proj = invariant_projection(field_type_for(spec, tuple(z.shape)), projection, n_functionals=n_functionals,
                                seed=seed)
    if is_field_type(spec):
        return proj, projection
    return (lambda x: proj(x.flatten(1))), projection  # a name or spec: the flat / studies' [n, fields, N] layouts


def _group_name(spec: Any) -> str:
    if is_permutation_group(spec):
        return "S_n"
    if is_field_type(spec):
        return f"{spec.fibergroup.name} field type ({spec.size} channels)"
    return str(spec) if isinstance(spec, str) else getattr(spec, "name", type(spec).__name__)


def _check_counts(n_pairs: int, knn_k: int, n_knn: int, n_functionals: int | None, names: list[Any]) -> None:
    for what, value, least in (("n_pairs", n_pairs, 2), ("knn_k", knn_k, 1), ("n_knn", n_knn, 2)):
        if int(value) < least:
            raise ConfigError(f"{what} must be >= {least}, got {value}", f"pass {what}={max(least, 10)} or more")
    if n_functionals is not None:
        if int(n_functionals) < 1:
            raise ConfigError(f"n_functionals must be >= 1, got {n_functionals}",
                              "pass a positive number of random functionals")
        if "random_invariant" not in names:
            raise ConfigError("n_functionals sets the random functionals of 'random_invariant', which is not measured",
                              "add 'random_invariant' to the projections, or drop n_functionals")


def _small_sample_notes(n: int, n_pairs: int, knn_k: int, m: int) -> tuple[str, str]:
    """``(note for the table, warning text)``, both empty when the sample is large enough."""
    notes, warns = [], []
    if knn_k >= m - 1:
        notes.append("kNN trivially 1")
        warns.append(f"kNN consistency is trivially 1: knn_k={knn_k} neighbours among n_knn={m} latents is every other "
                     "latent")
    if n_pairs < SMALL_PAIRS:
        notes.append(f"only {n_pairs} pairs")
        warns.append(f"Spearman / relative error rest on only {n_pairs} pairs of {n} latents (< {SMALL_PAIRS})")
    return "; ".join(notes), "; ".join(warns)


# -- the public function ------------------------------------------------------------------------

def retention(latents: Any, projection: Any, group_or_field_type: Any, n_pairs: int = 2000, knn_k: int = 10,
              n_knn: int = 200, seed: int = 0, *, batch: Any = None, mask: Any = None,
              n_functionals: int | None = None, baseline: bool = True,
              **removed: Any) -> RetentionResult | RetentionReport:
    """How distance-preserving projections are: their distances against the quotient distances on ``latents``.

    Two properties of an invariant projection ``pi`` are easy to confuse:

    * **lossless** -- ``pi`` is injective on orbits: ``pi(z1) == pi(z2)`` only if ``z1`` and
      ``z2`` are in the same orbit, so the orbit could be recovered from ``pi(z)``;
    * **distance-preserving** -- ``||pi(z1) - pi(z2)||`` equals (or at least ranks like) the
      quotient distance ``min_g ||z1 - g . z2||``.

    ``retention`` measures distance preservation -- Spearman / Pearson / relative error of the
    projected distances against the quotient distances, and k-NN consistency -- **not**
    losslessness.  A lossless projection can rank distances worse than a lossy one (a researcher's
    300 GCN graphs, d = 3: lossless ``lex_sort`` Spearman 0.921 / kNN 0.577, lossy ``channel_sort``
    0.976 / 0.716).  The ``"raw latent"`` baseline row (the flattened latent, not invariant: its
    distances only bound the quotient distances from above) shows what a projection buys.

    Parameters
    ----------
    latents:
        ``[n, ...]`` latents.  S_n: dense node latents ``[n, nodes, d]`` (every slot a node, or
        ``mask``), node rows ``x [num_nodes, d]`` with ``batch``, or a ``torch_geometric`` Batch.
        Groups: ``[n, C]`` / ``[n, C, 1, 1]`` (or a GeometricTensor) for a FieldType;
        ``[n, fields, N]`` for ``"C8"``.  Numpy arrays are taken too.
    projection:
        A projection name (``"random_invariant"``, ``"norm"``, ``"group_pool_max"``, ``"group_pool_mean"``,
        ``"canonicalize"``; for S_n ``"sort"``, ``"lex_sort"``, ``"channel_sort"``, ``"sum_pool"``, ... as
        in :func:`eqlatent.project_nodes`), any callable ``latents -> [n, F]`` (e.g. an
        :func:`eqlatent.invariant_projection` module), or a **list** of them.  For S_n a callable
        gets the dense zero-padded latent ``[n, nodes, d]`` and, when graphs differ in size, the
        padding mask ``[n, nodes]`` (True on real nodes): as ``f(z, meta={"mask": mask})`` if it
        has a parameter ``meta`` (the :class:`~eqlatent.projections.base.InvariantProjection` convention), as
        ``f(z, mask=mask)`` if it has one named ``mask`` (e.g. :class:`eqlatent.NodeProjection`),
        else ``f(z)`` alone (padding slots are then zero nodes to it).  For a list, a
        :class:`RetentionReport` with one row each (and the raw latent) comes back.  A single
        projection returns its :class:`RetentionResult` alone, as in earlier releases (no
        baseline row; pass ``[name]`` for one).
    group_or_field_type:
        As for :func:`eqlatent.quotient_distance`, or a field-type spec such as
        ``"C4: 4 regular + 2 trivial"`` (:func:`eqlatent.groups.specs.parse_field_type`).
    n_pairs:
        Distinct random pairs for Spearman / relative error, at most all ``n (n - 1) / 2``; the
        number actually used is reported.
    knn_k, n_knn:
        k-NN consistency with ``knn_k`` neighbours over the first ``n_knn`` latents (all their pairs).
    seed:
        Seed of the pairs and of the random functionals.
    batch:
        S_n: ``[num_nodes]`` graph index of each row of ``x`` (PyG's ``data.batch``).
    mask:
        S_n with a dense latent: ``[n, nodes]`` True for real nodes (``to_dense_batch``'s mask).
    n_functionals:
        Number of random functionals of ``"random_invariant"`` (default: the latent size).
    baseline:
        Add the ``"raw latent"`` row to a report.

    Graphs of different sizes are compared **zero-padded to the largest graph**: padding slots
    are set to 0 and the quotient distance (Hungarian matching) may match them with any node of
    the other graph.  The projections see the mask: pooling ignores padding, the sorts treat it as
    zero nodes sorted in with the real ones, so ``sort`` (d = 1) stays isometric to this reference.

    A sample too small for what is reported (fewer than 50 distinct pairs; ``knn_k >= n_knn - 1``,
    where every neighbour set is everything and kNN consistency is 1) raises one
    :class:`SmallSampleWarning` and fills each row's ``note``.

    Returns
    -------
    RetentionResult or RetentionReport

    Examples
    --------
    >>> import torch, eqlatent
    >>> z = torch.randn(40, 6, 1)          # 40 graphs, 6 nodes, one number per node (synthetic)
    >>> res = eqlatent.retention(z, "sort", "S_n", n_pairs=200, knn_k=5, n_knn=40)
    >>> round(res.spearman, 6), round(res.rel_error, 6)
    (1.0, 0.0)
    >>> report = eqlatent.retention(z, ["sort", "sum_pool"], "S_n", n_pairs=200, knn_k=5, n_knn=40)
    >>> [row.projection for row in report]
    ['sort', 'sum_pool', 'raw latent']
    """
    if "k" in removed:
        raise ConfigError("retention's k is now called knn_k (the kNN neighbours)",
                          f"pass knn_k={removed['k']}; n_functionals= sets the number of random functionals")
    if removed:
        raise TypeError(f"retention() got an unexpected keyword argument '{next(iter(removed))}'")
    many = isinstance(projection, (list, tuple))
    projections = list(projection) if many else [projection]
    if not projections:
        raise ConfigError("no projection to measure", "pass a projection name or a list of them")
    _check_counts(n_pairs, knn_k, n_knn, n_functionals, projections)
    check_group_argument(group_or_field_type, "retention")
    spec = parse_field_type(group_or_field_type) if is_field_type_spec(group_or_field_type) else group_or_field_type
    if not is_permutation_group(spec):  # a GeometricTensor of other fields than the given ones is refused
        infer_field_type(latents, None, spec, "retention")
    group = _group_name(group_or_field_type)
    for name in projections:  # refuse a misspelt name before any work on the latents
        if isinstance(name, str):
            projection_class(name, "nodes" if is_permutation_group(spec) else "field_type")
    if is_permutation_group(spec):
        z, node_mask = _node_latents(latents, batch, mask)
    else:
        if batch is not None or mask is not None:
            raise ConfigError("batch / mask are for node latents under S_n", "drop them, or pass group 'S_n'")
        z, node_mask = _field_latents(latents), None
    if z.ndim < 2 or len(z) < 3:
        raise LatentShapeError(f"retention needs at least 3 latents [n, ...], got shape {tuple(z.shape)}",
                               "pass a batch of latents (the first axis indexes samples)")
    n = len(z)
    named = [_projector(p, spec, z, node_mask, seed, n_functionals) for p in projections]
    if many and baseline:
        named.append(((lambda x: x.flatten(1)), RAW_LATENT))

    m = min(n, int(n_knn))
    full_true = quotient_distance(z[:m], None, spec, pairwise=True)
    pairs = sample_pairs(n, int(n_pairs), seed)
    d_true = _pair_distances(z, pairs, full_true, spec)
    kk = min(int(knn_k), m - 1)
    note, warning = _small_sample_notes(n, len(pairs), int(knn_k), m)
    if warning:
        warnings.warn(f"{warning} -- fix: pass more latents (or a smaller knn_k)", SmallSampleWarning, stacklevel=2)

    rows = []
    for project, name in named:
        with torch.no_grad():
            feats = torch.as_tensor(project(z)).detach().double().cpu().flatten(1)
        if len(feats) != n:
            raise LatentShapeError(f"projection '{name}' returned {len(feats)} rows for {n} latents",
                                   "return one row per latent, [n, F]")
        d_proj = (feats[pairs[:, 0]] - feats[pairs[:, 1]]).norm(dim=1)
        stats = distance_preservation(d_true, d_proj)
        knn = knn_consistency(full_true, torch.cdist(feats[:m], feats[:m]), k=kk)
        rows.append(RetentionResult(group, name, n, len(pairs), feats.shape[1], stats["spearman"], stats["pearson"],
                                    stats["rel_error"], knn, kk, m, note))
    return RetentionReport(rows) if many else rows[0]
