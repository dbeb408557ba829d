"""How a rotation of the input image acts on each of the studies' image latent layouts.

The encoders of the images study return one of these layouts, and every projection,
quotient distance and test needs the same group action on them, so it lives here once:

* ``regular``: ``[batch, channels, N]``, the regular representation of C_N; rotating the
  input by ``k * 2pi/N`` rolls the last axis by ``k`` (escnn's regular representation,
  checked against escnn in ``tests/models/test_image_encoders.py``).
* ``irreps``: ``[batch, channels, 1 + 2L]``, per channel the SO(2) irreps of frequency
  0..L in escnn's basis ``[a0, c1, s1, c2, s2, ...]``; rotating the input by ``theta``
  rotates each pair ``(c_k, s_k)`` by ``k * theta``.
* ``vector``: ``[batch, features]`` from a plain CNN; the group acts on the input only.
* ``orbit``: ``[batch, M, features]``, a plain CNN's latents of the ``M`` input copies
  rotated by ``2pi m/M``; rotating the input by ``2pi k/M`` rolls axis 1 by ``-k``
  (exactly for ``M = 4``, up to pixel interpolation otherwise).

The two group layouts also come as :class:`~eqlatent.groups.actions.FieldAction` s on the
flattened latent (no escnn needed), which the projections and quotient distances use:

* :func:`regular_action`: element k rolls each field by k.  Irreps coordinates: the real DFT
  of the group axis scaled like ``torch.fft.rfft`` (so the norms are ``|rfft(z)|``; the
  frequency-0 entry keeps its absolute value, as the studies have always reported it).
* :func:`irreps_action`: elements are the ``2L+1`` interpolation nodes of a
  :class:`~eqlatent.groups.trig.TrigGrid`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from eqlatent.groups.actions import FieldAction, FieldKind, Irrep
from eqlatent.groups.trig import TrigGrid

LAYOUTS = ("regular", "irreps", "vector", "orbit")


def roll_regular(z: Tensor, k: int | Tensor) -> Tensor:
    """Act with the C_N element ``k`` on a regular-representation latent ``[..., N]``.

    ``k`` may be an int (same element for the whole batch) or a LongTensor ``[batch]``.
    """
    if isinstance(k, int):
        return torch.roll(z, shifts=k, dims=-1)
    n = z.shape[-1]
    idx = (torch.arange(n, device=z.device)[None, :] - k.to(z.device)[:, None]) % n  # [B, N]
    idx = idx.view(z.shape[0], *([1] * (z.ndim - 2)), n).expand_as(z)
    return torch.gather(z, -1, idx)


def all_rolls(z: Tensor) -> Tensor:
    """Every C_N translate of ``z`` ``[B, C, N]`` at once: ``[B, N, C, N]`` with ``out[:, g] = g . z``."""
    n = z.shape[-1]
    ar = torch.arange(n, device=z.device)
    idx = (ar[None, :] - ar[:, None]) % n  # [g, j] -> j - g
    return z[..., idx].movedim(-2, 1)


def irreps_max_frequency(dim: int) -> int:
    """Band limit ``L`` of a field of size ``1 + 2L``."""
    if dim < 1 or (dim - 1) % 2:
        raise ValueError(f"an irreps field has size 1 + 2L, got {dim}")
    return (dim - 1) // 2


def rotate_irreps(z: Tensor, theta: float | Tensor) -> Tensor:
    """Act with the rotation ``theta`` (radians, scalar or ``[batch]``) on an irreps latent ``[B, C, 1+2L]``."""
    L = irreps_max_frequency(z.shape[-1])
    theta = torch.as_tensor(theta, dtype=z.dtype, device=z.device)
    if theta.ndim == 1:  # one angle per sample: broadcast over the channel axes of c and s
        theta = theta.view(-1, *([1] * (z.ndim - 2)))
    out = [z[..., :1]]
    for k in range(1, L + 1):
        c, s = z[..., 2 * k - 1], z[..., 2 * k]
        cos, sin = torch.cos(k * theta), torch.sin(k * theta)
        out += [(cos * c - sin * s)[..., None], (sin * c + cos * s)[..., None]]
    return torch.cat(out, dim=-1)


def all_irreps_rotations(z: Tensor, n_angles: int) -> Tensor:
    """``z`` rotated by ``2pi m / n_angles`` for every ``m``: ``[B, n_angles, C, 1+2L]`` (a fine C_M grid of SO(2))."""
    return torch.stack([rotate_irreps(z, 2 * math.pi * m / n_angles) for m in range(n_angles)], dim=1)


# -- the same actions on flat latents ---------------------------------------------------------

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
    # all nodes at once, no Python float per angle: traceable by torch.compile (the same numbers as one by one)
    eye = torch.eye(size, dtype=torch.float64).expand(grid.n_nodes, -1, -1)
    mats = rotate_irreps(eye, grid.nodes).transpose(1, 2)
    irreps = (Irrep(1, 0, signed=True),) + tuple(Irrep(2, k) for k in range(1, band + 1))
    kind = FieldKind("irreps", _field_index(fields, size), mats, irreps)
    return FieldAction("SO(2)", fields * size, "circle", [kind], grid.n_nodes, grid=grid, rotate=irreps_rotation)
