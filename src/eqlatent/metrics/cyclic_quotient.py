"""Quotient distances ``d([z1], [z2]) = min_g ||z1 - g . z2||`` for cyclic group actions.

These are the reference every image projection is judged against.  Over C_N acting on a
regular field the minimum is exact: all N shifts are scored at once through
``||a - g b||^2 = ||a||^2 + ||b||^2 - 2 <a, g b>`` and one matrix product.  For SO(2)
acting on irreps the inner product ``<a, R(theta) b>`` is a trigonometric polynomial of
degree L in theta, evaluated on ``n_angles`` equally spaced angles (the C_M subgroup):
with ``n_angles >= 360`` the grid error on the distance is far below the latents' own
rotation error from pixel interpolation.  For a plain CNN (group acting on the input)
the minimum runs over its latents of M rotated copies of the second input.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError


def _as3(name: str, z: Tensor) -> Tensor:
    if not isinstance(z, Tensor) or z.ndim != 3:
        raise LatentShapeError(f"{name} needs a [n, fields, dim] latent, got {getattr(z, 'shape', type(z))}",
                               "pass the batched field latent unflattened")
    return z.double()


def _from_max_inner(sq1: Tensor, sq2: Tensor, max_inner: Tensor) -> Tensor:
    return (sq1[:, None] + sq2[None, :] - 2 * max_inner).clamp_min(0).sqrt()


def cyclic_quotient_distances(z1: Tensor, z2: Tensor | None = None, chunk: int = 256) -> Tensor:
    """Exact C_N quotient distances between regular fields ``[n, C, N]`` and ``[m, C, N]`` -> ``[n, m]`` (float64)."""
    a = _as3("cyclic_quotient_distances", z1)
    b = a if z2 is None else _as3("cyclic_quotient_distances", z2)
    if a.shape[1:] != b.shape[1:]:
        raise LatentShapeError(f"latents differ in layout: {tuple(a.shape[1:])} vs {tuple(b.shape[1:])}",
                               "compare latents of the same encoder")
    n = a.shape[-1]
    idx = (torch.arange(n)[None, :] - torch.arange(n)[:, None]) % n  # shift g: j -> j - g
    b_orbit = b[..., idx].movedim(-2, 1).reshape(b.shape[0] * n, -1)  # [m*N, C*N]
    af = a.reshape(a.shape[0], -1)
    out = []
    for s in range(0, af.shape[0], chunk):
        inner = (af[s:s + chunk] @ b_orbit.T).view(-1, b.shape[0], n)
        out.append(inner.amax(-1))
    d = _from_max_inner(af.pow(2).sum(1), b.reshape(b.shape[0], -1).pow(2).sum(1), torch.cat(out))
    if z2 is None:
        d.fill_diagonal_(0.0)
    return d


def so2_quotient_distances(z1: Tensor, z2: Tensor | None = None, n_angles: int = 360, chunk: int = 128) -> Tensor:
    """SO(2) quotient distances between irreps fields ``[n, C, 1+2L]`` -> ``[n, m]``, minimised over ``n_angles`` rotations.

    ``<a, R(theta) b> = A_0 + sum_k (A_k cos k theta + B_k sin k theta)`` with
    ``A_k = <a_k, b_k>`` and ``B_k = <a_k, J b_k>`` summed over fields, so only 2L + 1
    matrix products are needed before evaluating the grid.
    """
    a = _as3("so2_quotient_distances", z1)
    b = a if z2 is None else _as3("so2_quotient_distances", z2)
    dim = a.shape[-1]
    if (dim - 1) % 2 or a.shape[1:] != b.shape[1:]:
        raise LatentShapeError(f"need two irreps latents [n, C, 1+2L] of one layout, got {tuple(a.shape)} and {tuple(b.shape)}",
                               "pass the SO(2) encoder's latents unflattened")
    L = (dim - 1) // 2
    theta = torch.arange(n_angles, dtype=torch.float64) * (2 * math.pi / n_angles)
    A0 = a[..., 0] @ b[..., 0].T
    coef = []
    for k in range(1, L + 1):
        ac, as_, bc, bs = a[..., 2 * k - 1], a[..., 2 * k], b[..., 2 * k - 1], b[..., 2 * k]
        # R(k theta) b = (cos bc - sin bs, sin bc + cos bs)
        coef.append((ac @ bc.T + as_ @ bs.T, as_ @ bc.T - ac @ bs.T))
    out = []
    for s in range(0, a.shape[0], chunk):
        inner = A0[s:s + chunk, :, None].expand(-1, -1, n_angles).clone()
        for k, (Ak, Bk) in enumerate(coef, start=1):
            inner += Ak[s:s + chunk, :, None] * torch.cos(k * theta) + Bk[s:s + chunk, :, None] * torch.sin(k * theta)
        out.append(inner.amax(-1))
    d = _from_max_inner(a.pow(2).sum((1, 2)), b.pow(2).sum((1, 2)), torch.cat(out))
    if z2 is None:
        d.fill_diagonal_(0.0)
    return d


def orbit_quotient_distances(z: Tensor, z_orbit: Tensor) -> Tensor:
    """``min_m ||f(x_i) - f(R_m x_j)||`` for a plain CNN: ``z [n, F]`` and ``z_orbit [n, M, F]`` -> ``[n, n]``.

    The group acts on the input only, so the orbit of ``x_j`` in latent space is the set of
    latents of its rotated copies; this is not symmetric in i, j, so it is symmetrised by
    the smaller of the two directions.
    """
    if z.ndim != 2 or z_orbit.ndim != 3 or z_orbit.shape[0] != z.shape[0] or z_orbit.shape[2] != z.shape[1]:
        raise LatentShapeError(f"need z [n, F] and z_orbit [n, M, F], got {tuple(z.shape)} and {tuple(z_orbit.shape)}",
                               "encode M rotated copies of the same inputs")
    a, b = z.double(), z_orbit.double()
    n, m, f = b.shape
    d = torch.cdist(a, b.reshape(n * m, f)).view(n, n, m).amin(-1)
    d = torch.minimum(d, d.T)
    return d.fill_diagonal_(0.0)
