"""How a rotation of the input image acts on each kind of image latent.

The encoders of the images study return one of three latent layouts, and every
projection, quotient distance and test needs the same group action on them, so it lives
here once:

* ``regular``: ``[batch, channels, N]``, the regular representation of C_N; rotating the
  input by ``k * 2pi/N`` rolls the last axis by ``k`` (escnn's regular representation,
  checked against escnn in ``tests/test_images_encoders.py``).
* ``irreps``: ``[batch, channels, 1 + 2L]``, per channel the SO(2) irreps of frequency
  0..L in escnn's basis ``[a0, c1, s1, c2, s2, ...]``; rotating the input by ``theta``
  rotates each pair ``(c_k, s_k)`` by ``k * theta``.
* ``vector``: ``[batch, features]`` from a plain CNN; the group acts on the input only.
* ``orbit``: ``[batch, M, features]``, a plain CNN's latents of the ``M`` input copies
  rotated by ``2pi m/M``; rotating the input by ``2pi k/M`` rolls axis 1 by ``-k``
  (exactly for ``M = 4``, up to pixel interpolation otherwise).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

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
