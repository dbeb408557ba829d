"""Exact quotient distance under node permutations, ``d([z1], [z2]) = min_P ||z1 - P z2||``.

This is the reference every node projection is judged against.  For latents
``[n, d]`` the minimum over the ``n!`` permutations is a linear assignment problem on
the cost matrix ``C[a, b] = ||z1_a - z2_b||^2`` (the sum of matched costs is the
squared distance), solved exactly by the Hungarian algorithm
(:func:`scipy.optimize.linear_sum_assignment`).  Cost matrices are built batched in
torch; the assignments are solved one pair at a time (scipy has no batched solver).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from eqlatent.errors import LatentShapeError


def _check(z: Tensor, what: str) -> Tensor:
    z = torch.as_tensor(z)
    if z.ndim != 3:
        raise LatentShapeError(f"{what} must be [pairs, nodes, channels], got shape {tuple(z.shape)}",
                               "add a channel axis with z.unsqueeze(-1) for one number per node")
    return z.detach().to(torch.float64).cpu()


def quotient_distance(z1: Tensor, z2: Tensor, return_permutation: bool = False):
    """Exact ``min_P ||z1[k] - P z2[k]||`` for each pair ``k`` of ``z1, z2 [pairs, n, d]``.

    Returns
    -------
    ``[pairs]`` float64 distances, and with ``return_permutation`` also ``perm [pairs, n]``
    such that ``z2[k, perm[k]]`` is the member of ``z2[k]``'s orbit closest to ``z1[k]``.
    """
    a, b = _check(z1, "z1"), _check(z2, "z2")
    if a.shape != b.shape:
        raise LatentShapeError(f"z1 and z2 differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}",
                               "compare latents with the same number of node slots and channels")
    cost = torch.cdist(a, b).pow(2).numpy()              # [pairs, n, n]
    n = a.shape[1]
    perms = np.empty((len(cost), n), dtype=np.int64)
    dist = np.empty(len(cost))
    for k, c in enumerate(cost):
        rows, cols = linear_sum_assignment(c)
        perms[k, rows] = cols
        dist[k] = c[rows, cols].sum()
    out = torch.from_numpy(np.sqrt(np.maximum(dist, 0.0)))
    return (out, torch.from_numpy(perms)) if return_permutation else out


def quotient_distance_matrix(z: Tensor, chunk: int = 4096, progress: bool = True) -> Tensor:
    """All pairwise quotient distances ``[m, m]`` (symmetric, zero diagonal) of ``z [m, n, d]``.

    ``m (m - 1) / 2`` assignment problems; shows a progress bar because this is the
    slow step of the retention metrics for a few hundred molecules.
    """
    z = _check(z, "z")
    m = len(z)
    i, j = torch.triu_indices(m, m, offset=1)
    d = torch.empty(len(i), dtype=torch.float64)
    starts = range(0, len(i), chunk)
    if progress:
        from rich.progress import track  # the bar Lightning and the images study draw too; removed when done

        starts = track(starts, description=f"quotient distances ({len(i):,} pairs)", transient=True)
    for s in starts:
        d[s:s + chunk] = quotient_distance(z[i[s:s + chunk]], z[j[s:s + chunk]])
    out = torch.zeros(m, m, dtype=torch.float64)
    out[i, j] = d
    out[j, i] = d
    return out
