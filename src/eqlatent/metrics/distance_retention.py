"""Group-agnostic measures of how much of the quotient geometry a projection keeps.

The reference is always the quotient distance ``d([z1], [z2]) = min_g ||z1 - g . z2||``,
computed by a group-specific module (permutations, cyclic shifts).  These functions only
compare two sets of distances, so the same numbers mean the same thing for molecules and
images.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats



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
