"""How a canonicalisation breaks ties invariantly: tolerances, pseudo-random keys and the pick among candidates.

Why a module of its own: every canonical form here (finite groups and SO(2) in
:mod:`~eqlatent.projections.canonicalize`, SO(3) / O(3) frames in :mod:`~eqlatent.projections.e3nn_frame`)
chooses one of a few candidate representatives by keys that are functions of the candidate vector
alone -- so the choice depends on the orbit only -- and judges ties with tolerances relative to the
latent's scale, so that float rounding of the group action cannot flip them.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: keys within ``KEY_TOL * eps * scale`` of each other are tied (covers float rounding of the group action)
KEY_TOL = 64
#: a feature (an SO(2) frequency vector, an SO(3) frame vector) shorter than ``ZERO_TOL * eps * scale`` counts as zero
ZERO_TOL = 256


def tie_functionals(dim: int) -> Tensor:
    """``[2, dim]`` float64 unit functionals that break ties, the same on every machine and device.

    An exact integer hash of the channel index (a linear start, then three rounds of
    ``x -> x^2 + c mod p``, p = 2^31 - 1, so no product leaves int64) rather than a seeded
    ``torch.Generator``: it is traced by ``torch.compile`` like any tensor op, and a
    pseudo-random vector has no structure that a latent's ties could share.
    """
    prime = 2_147_483_647
    channel = torch.arange(int(dim), dtype=torch.int64)
    rows = []
    for i in range(2):
        x = (channel * 48_271 + 7_919 * (i + 1)) % prime
        for c in (12_345, 54_321, 99_991):
            x = (x * x + c) % prime
        rows.append(x)
    w = torch.stack(rows).double() / prime - 0.5
    return w / w.norm(dim=1, keepdim=True)


def pick(keys: Tensor, tol: Tensor, allowed: Tensor | None = None) -> Tensor:
    """``keys [B, C, m]``, ``tol [B, m]`` -> ``[B]``: the candidate with the lexicographically largest keys.

    Key by key, candidates more than ``tol`` below the best still in the running drop out;
    the first one left is returned (those left agree on every key to ``tol``).  Fixed shapes.
    """
    alive = torch.ones_like(keys[..., 0], dtype=torch.bool) if allowed is None else allowed
    for i in range(keys.shape[-1]):
        key = keys[..., i].masked_fill(~alive, float("-inf"))
        alive = alive & (key >= key.amax(dim=-1, keepdim=True) - tol[:, i:i + 1])
    return alive.to(torch.int8).argmax(dim=-1)
