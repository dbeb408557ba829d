"""``eqlatent.retention``: how much of the quotient geometry a projection keeps -- the one measuring engine.

Why: the paper's measure of information kept -- projected distances against the quotient
distances ``min_g ||z_i - g . z_j||`` -- for a researcher's own encoder and group, and for the
studies: Spearman, Pearson and relative error of the pair distances, k-NN consistency, and the
distortion (the ``max / min`` ratio of projected to quotient distance, a collapse as ``inf``).  Every
number of distance preservation in eqlatent is computed here, by :func:`measure_retention`:

* **sampled pairs** (:func:`retention`'s default): Spearman / relative error over ``n_pairs``
  random distinct pairs (:func:`sample_pairs`), k-NN consistency over the first ``n_knn`` latents;
* **all pairs** (``retention(..., n_pairs="all")``, and both studies, which hand over their own
  quotient-distance matrices -- the images study's includes the plain CNN's orbit distances, which
  no group acts on): every distinct pair and every neighbourhood of the latents given.

Several projections are measured against one set of quotient distances (the expensive part,
computed once) and reported in one table (:mod:`~eqlatent.toolkit.retention_report`), with the raw
latent as a baseline row.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.quotient import infer_field_type, quotient_distance
from eqlatent.groups.specs import check_group_argument, is_permutation_group
from eqlatent.projections.registry import projection_class
from eqlatent.toolkit.retention_inputs import field_latents, group_name, layout_name, node_latents, projector, \
    resolve_group
from eqlatent.toolkit.retention_report import RAW_LATENT, RetentionReport, RetentionResult, SmallSampleWarning

__all__ = ["RetentionReport", "RetentionResult", "SmallSampleWarning", "distance_preservation", "knn_consistency",
           "distortion", "measure_retention", "pairwise_distances", "retention", "sample_pairs"]

#: fewer distinct pairs than this and the Spearman / relative error are flagged as a small sample
SMALL_PAIRS = 50


# -- the measures: two sets of distances over the same pairs, two neighbourhood structures ------------

def _np(x: "np.ndarray | torch.Tensor") -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def pairwise_distances(x: "np.ndarray | torch.Tensor") -> torch.Tensor:
    """Euclidean distance matrix ``[n, n]`` of the rows of ``x`` ``[n, f]`` (float64)."""
    x = torch.as_tensor(_np(x)).reshape(len(x), -1)
    return torch.cdist(x, x).fill_diagonal_(0.0)


def distance_preservation(d_true: "np.ndarray | torch.Tensor", d_proj: "np.ndarray | torch.Tensor") -> dict[str, float]:
    """Compare projected distances with quotient distances over the same pairs.

    Returns
    -------
    dict with ``spearman`` (rank agreement, 1 = same ordering of pairs), ``pearson``, and
    ``rel_error = mean|d_proj - d_true| / mean d_true`` (0 for an isometric cross-section).

    Examples
    --------
    >>> distance_preservation([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])["rel_error"]
    0.0
    """
    t, p = _np(d_true).ravel(), _np(d_proj).ravel()
    if t.shape != p.shape or t.size < 2:
        raise ValueError(f"need two equally long sets of >= 2 distances, got {t.size} and {p.size}")
    const = np.ptp(t) == 0 or np.ptp(p) == 0
    spearman = float("nan") if const else float(stats.spearmanr(t, p).statistic)
    pearson = float("nan") if const else float(stats.pearsonr(t, p).statistic)
    denom = t.mean()
    rel = float(np.abs(p - t).mean() / denom) if denom > 0 else float("nan")
    return {"spearman": spearman, "pearson": pearson, "rel_error": rel}


def knn_consistency(D_true: "np.ndarray | torch.Tensor", D_proj: "np.ndarray | torch.Tensor", k: int = 10) -> float:
    """Mean fraction of each point's ``k`` nearest neighbours that the two geometries share.

    1.0 means every neighbourhood in the quotient space survives the projection; a random
    embedding scores about ``k / (n - 1)``.  Self-matches are excluded; ties are broken by
    index order so the result is deterministic.
    """
    t, p = _np(D_true), _np(D_proj)
    n = t.shape[0]
    if t.shape != (n, n) or p.shape != (n, n):
        raise ValueError(f"need two square distance matrices of the same size, got {t.shape} and {p.shape}")
    if not 0 < k < n:
        raise ValueError(f"k must be in 1..{n - 1} for {n} points, got {k}")
    big = np.inf
    t = t.copy(); p = p.copy()
    np.fill_diagonal(t, big); np.fill_diagonal(p, big)
    nn_t = np.argsort(t, axis=1, kind="stable")[:, :k]
    nn_p = np.argsort(p, axis=1, kind="stable")[:, :k]
    shared = [len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(nn_t, nn_p)]
    return float(np.mean(shared) / k)


#: a pair counts for the distortion when its quotient distance exceeds this fraction of the largest one
DISTORTION_RTOL = 1e-6


def distortion(d_true: "np.ndarray | torch.Tensor", d_proj: "np.ndarray | torch.Tensor",
               rtol: float = DISTORTION_RTOL) -> dict[str, float]:
    """The empirical distortion: ``max / min`` of ``d_proj / d_true`` over the pairs of two different orbits.

    A bi-Lipschitz projection, ``a d_quot <= d_proj <= b d_quot``, has distortion at most ``b / a``:
    1 for an isometry (and for a projection that scales every distance by one factor), large when it
    shrinks some pairs much more than others.  Only pairs with ``d_true > rtol * max(d_true)`` count:
    below that the two latents are one orbit as far as the quotient distances can tell (exact to
    float64 rounding for S_n and finite groups, to their search's stated error over SO(2) / SO(3)),
    and a ratio of two rounding errors says nothing.  Scale-free: the same for latents in metres or
    in nanometres.

    Returns
    -------
    dict with ``distortion`` (``ratio_max / ratio_min``), ``ratio_min`` and ``ratio_max``.
    ``distortion`` is ``inf`` when some pair of different orbits has ``d_proj == 0``: a collapse
    (the projection maps two orbits to one point, so it is not injective on these latents, and no
    finite constant bounds it from below); NaN when no pair counts (all latents in one orbit) or a
    projected distance is NaN.

    Examples
    --------
    >>> distortion([1.0, 2.0, 4.0], [2.0, 4.0, 12.0])   # distances doubled, one pair tripled
    {'distortion': 1.5, 'ratio_min': 2.0, 'ratio_max': 3.0}
    >>> distortion([1.0, 2.0], [0.0, 2.0])["distortion"]  # the first pair collapsed
    inf
    """
    t, p = _np(d_true).ravel(), _np(d_proj).ravel()
    if t.shape != p.shape:
        raise ValueError(f"need two equally long sets of distances, got {t.size} and {p.size}")
    keep = t > rtol * t.max() if t.size and np.isfinite(t.max()) else np.zeros(t.shape, dtype=bool)
    ratio = p[keep] / t[keep]
    if not ratio.size or np.isnan(ratio).any():  # no pair counts, or a projection that returned NaN
        return {"distortion": float("nan"), "ratio_min": float("nan"), "ratio_max": float("nan")}
    low, high = float(ratio.min()), float(ratio.max())
    return {"distortion": high / low if low > 0 else float("inf"), "ratio_min": low, "ratio_max": high}


#: below this many distinct pairs they are listed and drawn from; above, drawn at random and de-duplicated
LIST_PAIRS_UP_TO = 1 << 22


def sample_pairs(n: int, n_pairs: int, seed: int = 0) -> torch.Tensor:
    """``[min(n_pairs, n (n - 1) / 2), 2]`` distinct unordered index pairs ``i != j``, drawn with a fixed seed.

    Why without replacement: a pair counted twice adds no information but weighs twice in the
    Spearman / relative error, and a report of "2000 pairs" of 5 latents (10 distinct pairs)
    overstates the sample.  When ``n_pairs`` reaches ``n (n - 1) / 2`` every pair is returned once.
    """
    if n < 2:
        raise ValueError(f"need at least 2 points to form pairs, got {n}")
    total = n * (n - 1) // 2
    gen = torch.Generator().manual_seed(seed)
    if n_pairs >= total:
        return torch.triu_indices(n, n, offset=1).T.contiguous()
    if total <= LIST_PAIRS_UP_TO:
        every = torch.triu_indices(n, n, offset=1).T
        return every[torch.randperm(total, generator=gen)[:n_pairs]].contiguous()
    keys = torch.empty(0, dtype=torch.long)
    while len(keys) < n_pairs:  # n_pairs < total / 2 here in practice: a few rounds at most
        i = torch.randint(n, (2 * n_pairs,), generator=gen)
        j = (i + torch.randint(1, n, (2 * n_pairs,), generator=gen)) % n
        keys = torch.unique(torch.cat([keys, torch.minimum(i, j) * n + torch.maximum(i, j)]))
    keys = keys[torch.randperm(len(keys), generator=gen)[:n_pairs]]
    return torch.stack([keys // n, keys % n], dim=1)


# -- the engine -----------------------------------------------------------------------------------------

def measure_retention(reference: Tensor, features: Tensor, knn_k: int, pairs: Tensor | None = None,
                      reference_pairs: Tensor | None = None) -> dict[str, float]:
    """Distance preservation of ``features [n, F]`` (one projected row per latent) against quotient distances.

    All pairs (``pairs`` None): ``reference [n, n]`` holds the quotient distances of all ``n`` latents;
    every distinct pair is compared and every latent's ``knn_k`` nearest neighbours.  Sampled pairs:
    ``pairs [P, 2]`` index the latents and ``reference_pairs [P]`` are their quotient distances;
    ``reference [m, m]`` those of the first ``m`` latents, whose neighbourhoods are compared.

    Returns ``spearman``, ``pearson``, ``rel_error`` (:func:`distance_preservation`),
    ``max_abs_dev`` (the largest ``|d_proj - d_quot|``: 0 for an isometric cross-section), ``knn``
    (:func:`knn_consistency` with ``min(knn_k, m - 1)`` neighbours), ``n_pairs``, and ``distortion``,
    ``ratio_min``, ``ratio_max`` (:func:`distortion`, over the same pairs), in that order.
    """
    m = reference.shape[0]
    if pairs is None:
        if features.shape[0] != m:
            raise ValueError(f"{features.shape[0]} projected rows for a {m} x {m} reference")
        d_proj = pairwise_distances(features)
        i, j = torch.triu_indices(m, m, offset=1)
        out = distance_preservation(reference[i, j], d_proj[i, j])
        out["max_abs_dev"] = float((d_proj - reference).abs().max())
        out["knn"] = knn_consistency(reference, d_proj, k=min(knn_k, m - 1))
        out["n_pairs"] = int(i.numel())
        out.update(distortion(reference[i, j], d_proj[i, j]))
        return out
    feats = torch.as_tensor(features).detach().double().cpu().flatten(1)
    d_proj = (feats[pairs[:, 0]] - feats[pairs[:, 1]]).norm(dim=1)
    out = distance_preservation(reference_pairs, d_proj)
    out["max_abs_dev"] = float((d_proj - torch.as_tensor(reference_pairs).double()).abs().max())
    out["knn"] = knn_consistency(reference, torch.cdist(feats[:m], feats[:m]), k=min(knn_k, m - 1))
    out["n_pairs"] = int(len(pairs))
    out.update(distortion(reference_pairs, d_proj))
    return out


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


def _check_counts(n_pairs: int | str, knn_k: int, n_knn: int, n_functionals: int | None, names: list[Any]) -> None:
    if isinstance(n_pairs, str) and n_pairs != "all":
        raise ConfigError(f"n_pairs must be a number or 'all', got {n_pairs!r}", "pass n_pairs=2000 or n_pairs='all'")
    counts = (("knn_k", knn_k, 1), ("n_knn", n_knn, 2)) + ((("n_pairs", n_pairs, 2),) if n_pairs != "all" else ())
    for what, value, least in counts:
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

def retention(latents: Any, projection: Any, group_or_field_type: Any, n_pairs: int | str = 2000, knn_k: int = 10,
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

    The **distortion** (:func:`distortion`) is the empirical bi-Lipschitz constant on the same pairs:
    ``max / min`` of ``d_proj / d_quot`` -- 1 for an isometry (or a uniform scaling), ``inf`` when two
    latents of different orbits are projected to one point (a collapse: not injective on these latents;
    a finite distortion on a sample does not prove injectivity).

    Parameters
    ----------
    latents:
        ``[n, ...]`` latents.  S_n: dense node latents ``[n, nodes, d]`` (every slot a node, or
        ``mask``), node rows ``x [num_nodes, d]`` with ``batch``, or a ``torch_geometric`` Batch.
        Groups: ``[n, C]`` / ``[n, C, 1, 1]`` (or a GeometricTensor) for a FieldType;
        ``[n, fields, N]`` for ``"C8"``; ``[n, irreps.dim]`` for e3nn irreps.  Numpy arrays are taken too.
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
        ``"C4: 4 regular + 2 trivial"`` (:func:`eqlatent.groups.specs.parse_field_type`), or e3nn irreps:
        an ``e3nn.o3.Irreps`` (O(3)) or a spec ``"O3: 8x0e + 4x1o + 2x2e"`` / ``"SO3: ..."``, whose
        projections are ``projection_names("e3nn")`` (``random_invariant``, ``norm``, ``scalars``, ``gram``,
        ``canonicalize``) and whose quotient distances are the SO(3) / O(3) search of
        :func:`eqlatent.groups.o3_quotient.irreps_quotient_distance`.
    n_pairs:
        Distinct random pairs for Spearman / relative error, at most all ``n (n - 1) / 2``; the
        number actually used is reported.  ``"all"``: the all-pairs mode -- every distinct pair and
        every latent's neighbours (``n_knn`` unused), from one ``n x n`` matrix of quotient
        distances (the studies' measure; ``n`` of a few hundred for S_n, whose distances are
        Hungarian solves).
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
    spec = resolve_group(group_or_field_type)
    if not is_permutation_group(spec):  # a GeometricTensor of other fields than the given ones is refused
        infer_field_type(latents, None, spec, "retention")
    group = group_name(group_or_field_type)
    for name in projections:  # refuse a misspelt name before any work on the latents
        if isinstance(name, str):
            projection_class(name, layout_name(spec))
    if is_permutation_group(spec):
        z, node_mask = node_latents(latents, batch, mask)
    else:
        if batch is not None or mask is not None:
            raise ConfigError("batch / mask are for node latents under S_n", "drop them, or pass group 'S_n'")
        z, node_mask = field_latents(latents), None
    if z.ndim < 2 or len(z) < 3:
        raise LatentShapeError(f"retention needs at least 3 latents [n, ...], got shape {tuple(z.shape)}",
                               "pass a batch of latents (the first axis indexes samples)")
    n = len(z)
    named = [projector(p, spec, z, node_mask, seed, n_functionals) for p in projections]
    if many and baseline:
        named.append(((lambda x: x.flatten(1)), RAW_LATENT))

    every = n_pairs == "all"
    m = n if every else min(n, int(n_knn))
    full_true = quotient_distance(z[:m], None, spec, pairwise=True)
    pairs = None if every else sample_pairs(n, int(n_pairs), seed)
    d_true = None if every else _pair_distances(z, pairs, full_true, spec)
    kk = min(int(knn_k), m - 1)
    note, warning = _small_sample_notes(n, n * (n - 1) // 2 if every else len(pairs), int(knn_k), m)
    if warning:
        warnings.warn(f"{warning} -- fix: pass more latents (or a smaller knn_k)", SmallSampleWarning, stacklevel=2)

    rows = []
    for project, name in named:
        with torch.no_grad():
            feats = torch.as_tensor(project(z)).detach().double().cpu().flatten(1)
        if len(feats) != n:
            raise LatentShapeError(f"projection '{name}' returned {len(feats)} rows for {n} latents",
                                   "return one row per latent, [n, F]")
        got = measure_retention(full_true, feats, kk, pairs, d_true)
        rows.append(RetentionResult(group, name, n, got["n_pairs"], feats.shape[1], got["spearman"], got["pearson"],
                                    got["rel_error"], got["knn"], kk, m, note, distortion=got["distortion"],
                                    ratio_min=got["ratio_min"], ratio_max=got["ratio_max"]))
    return RetentionReport(rows) if many else rows[0]
