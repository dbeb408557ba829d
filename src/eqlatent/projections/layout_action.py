""":class:`FieldAction` s for the studies' own latent layouts (no escnn needed).

* ``regular`` ``[B, C, N]``: C regular fields of C_N; element k rolls each field by k
  (:func:`eqlatent.models.field_actions.roll_regular`).  Irreps coordinates: the real DFT
  of the group axis scaled like ``torch.fft.rfft`` (so the norms are ``|rfft(z)|``; the
  frequency-0 entry keeps its absolute value, as the studies have always reported it).
* ``irreps`` ``[B, C, 1+2L]``: C fields of SO(2) irreps 0..L in escnn's basis; elements are
  the ``2L+1`` interpolation nodes of a :class:`~eqlatent.projections.trig.TrigGrid`
  (:func:`eqlatent.models.field_actions.rotate_irreps`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from eqlatent.models.field_actions import irreps_max_frequency, roll_regular, rotate_irreps
from eqlatent.projections.field_action import FieldAction, FieldKind, Irrep
from eqlatent.projections.trig import TrigGrid


def _field_index(fields: int, size: int) -> Tensor:
    return torch.arange(fields * size).view(fields, size)


def _real_dft(n: int) -> tuple[Tensor, tuple[Irrep, ...]]:
    """Rows ``cos(2pi k j / n)`` and ``-sin(2pi k j / n)`` for k = 0..n//2 (zero rows dropped)."""
    j = torch.arange(n, dtype=torch.float64)
    rows, irreps = [], []
    for k in range(n // 2 + 1):
        rows.append(torch.cos(2 * math.pi * k * j / n))
        if 0 < k < n / 2:
            rows.append(-torch.sin(2 * math.pi * k * j / n))
            irreps.append(Irrep(2, k))
        else:
            irreps.append(Irrep(1, k))
    return torch.stack(rows), tuple(irreps)


@lru_cache(maxsize=32)
def regular_action(fields: int, order: int) -> FieldAction:
    """C_N acting on ``fields`` regular fields (flat ``[B, fields * N]``)."""
    eye = torch.eye(order, dtype=torch.float64)
    mats = torch.stack([roll_regular(eye, k).T for k in range(order)])  # column j = roll(e_j, k)
    to_irreps, irreps = _real_dft(order)
    kind = FieldKind("regular", _field_index(fields, order), mats, irreps, to_irreps=to_irreps, regular=True)
    return FieldAction(f"C{order}", fields * order, "finite", [kind], order)


def irreps_rotation(kind: FieldKind, theta: Tensor) -> Tensor:
    """``[B, s, s]`` rotation matrices of an irreps field ``[a0, c1, s1, ...]`` at angles ``theta [B]``."""
    eye = torch.eye(kind.size, dtype=theta.dtype, device=theta.device).expand(len(theta), -1, -1)
    return rotate_irreps(eye, theta).transpose(1, 2)


@lru_cache(maxsize=32)
def irreps_action(fields: int, size: int, n_angles: int = 64) -> FieldAction:
    """SO(2) acting on ``fields`` irreps fields of size ``1 + 2L`` (flat ``[B, fields * (1+2L)]``)."""
    band = irreps_max_frequency(size)
    grid = TrigGrid(band, n_angles)
    eye = torch.eye(size, dtype=torch.float64)
    mats = torch.stack([rotate_irreps(eye, float(t)).T for t in grid.nodes])
    irreps = (Irrep(1, 0, signed=True),) + tuple(Irrep(2, k) for k in range(1, band + 1))
    kind = FieldKind("irreps", _field_index(fields, size), mats, irreps)
    return FieldAction("SO(2)", fields * size, "circle", [kind], grid.n_nodes, grid=grid, rotate=irreps_rotation)
