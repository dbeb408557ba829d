"""Canonical frames of e3nn latents: rotate every latent into a frame read off its own l = 1 vectors.

Why a frame: under SO(3) a latent with two linearly independent vectors (``l = 1`` copies, ``1o`` or
``1e``) has a unique rotation ``F`` (columns ``e1, e2, e3``) that takes the first to the +x axis and
the second into the upper xy half-plane; ``D(F)^T z = D(F^T) z`` is then the same for every rotated
copy of ``z`` (``F`` rotates with the latent) and a member of its orbit: an invariant, lossless
(not isometric) projection, the SO(3) analogue of "rotate by minus the phase" over SO(2).

Which vectors, by rules that depend on the orbit only (norms and residuals are invariant, channel
positions are not moved by the group):

* ``e1``: the longest vector; among vectors within ``KEY_TOL eps s`` of the longest (exact ties: two
  equal copies, a copy and its negative), the first in channel order;
* ``e2``: Gram-Schmidt of the vector with the largest component orthogonal to ``e1`` (ties as above),
  so near-parallel copies are passed over for a better-conditioned one;
* ``e3 = e1 x e2``: a right-handed frame, ``det F = +1``, so ``F^T`` is a rotation.

O(3) adds the inversion ``P`` (odd-parity copies change sign; ``1o`` vectors flip, ``1e`` do not), so a
frame alone cannot decide between ``z`` and ``P z``: both are put in their frames (``c0``, ``c1``, the
same picks, since norms and residuals do not see signs) and the candidate with the larger keys --
two fixed pseudo-random functionals of the candidate vector itself
(:func:`~eqlatent.projections.tie_keys.tie_functionals`) -- is returned.  ``{c0, c1}`` is the same pair
for every element of the orbit, so the pick is invariant.

Where the frame is ill-defined, and what is returned there (:func:`canonical_frame` reports these
rows; :meth:`eqlatent.projections.canonicalize.Canonicalize.ill_defined` is the public mask):

* fewer than two linearly independent vectors (no ``l = 1`` part, one vector, all parallel, zero
  or cancelling copies; "independent" means an orthogonal residual above ``ZERO_TOL eps s``): the
  rotations about ``e1`` (or all of them) leave the vectors fixed, so no frame exists.  ``e1`` is the
  vector (or +x when there is none) and ``e2`` the coordinate axis least aligned with it, made
  orthogonal.  The ``l <= 1`` part of the output is still invariant (the stabiliser fixes it); the
  ``l >= 2`` part is only defined up to that stabiliser, so it may move with the latent's orientation;
* near-parallel vectors: the largest orthogonal residual ``r`` below ``sqrt(eps) s``.  The frame
  exists, but its angle carries a rounding error of ``~ eps s / r`` (above ``sqrt(eps)``), which the
  ``l >= 2`` part carries too;
* O(3) only: the two candidates' keys tie to ``KEY_TOL eps sqrt(D) s`` while the candidates differ
  (a measure-zero coincidence of the hash functionals).

Everywhere, also there, the output is finite and its gradient is finite: the picks are made without
gradient, the frame vectors are normalised only where their norm is above the zero tolerance (a
constant axis elsewhere), and the Wigner matrices come from
:func:`~eqlatent.groups.so3_max.wigner_blocks` (Clebsch-Gordan products of ``F^T``, no Euler-angle
pole).  It is discontinuous where a pick changes (two norms or residuals crossing), as every
canonicalisation is somewhere.  The frame reads values (its picks are data-dependent gathers, no
host sync), so it runs under ``torch.compile``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from eqlatent.groups.so3_max import coupling, wigner_blocks
from eqlatent.projections.e3nn_blocks import copies, rotate_copies
from eqlatent.projections.tie_keys import KEY_TOL, ZERO_TOL, pick, tie_functionals


class WignerCouplings(torch.nn.Module):
    """The Wigner recursion's coupling matrices up to ``lmax`` as (non-persistent) buffers: they follow
    ``.to(device)``, and ``torch.compile`` reads them instead of tracing into e3nn's ``wigner_3j``."""

    def __init__(self, lmax: int) -> None:
        super().__init__()
        self.degrees = tuple(range(2, int(lmax) + 1))
        for l in self.degrees:
            self.register_buffer(f"degree_{l}", coupling(l), persistent=False)

    def forward(self) -> dict[int, Tensor]:
        return {l: getattr(self, f"degree_{l}") for l in self.degrees}


def _first_near_max(values: Tensor, tol: Tensor) -> Tensor:
    """``[B]``: the first index whose value is within ``tol`` of the row's largest (ties broken by position)."""
    near = values >= values.amax(dim=1, keepdim=True) - tol[:, None]
    return near.to(torch.int8).argmax(dim=1)


def _take(v: Tensor, index: Tensor) -> Tensor:
    """``v [B, n, 3]``, ``index [B]`` -> ``[B, 3]``."""
    return v.gather(1, index[:, None, None].expand(-1, 1, 3))[:, 0]


def _frame(first: Tensor, second: Tensor, found1: Tensor, found2: Tensor, axis: Tensor) -> Tensor:
    """``[B, 3, 3]`` rotation ``F^T`` (rows ``e1, e2, e3``) from the picked vectors, guarded where none was found
    (+x, and ``axis``, the coordinate axis least aligned with ``e1``: never parallel to it)."""
    x_axis = torch.zeros_like(first)
    x_axis[:, 0] = 1
    a = torch.where(found1[:, None], first, x_axis)
    e1 = a / a.norm(dim=1, keepdim=True)
    b = torch.where(found2[:, None], second, axis)
    u = b - (b * e1).sum(1, keepdim=True) * e1
    e2 = u / u.norm(dim=1, keepdim=True)
    return torch.stack([e1, e2, torch.linalg.cross(e1, e2)], dim=1)


def canonical_frame(action: Any, z: Tensor, couplings: dict[int, Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """``([B, D] representatives, [B] ill-defined rows)`` of e3nn latents ``z [B, D]`` (see the module docstring).

    Irreps with no ``l = 1`` copy must be scalars only (nothing to rotate: every row well-defined); the
    projection refuses ``l >= 2`` without vectors at construction.  ``couplings``: the Wigner recursion's
    matrices when the caller holds them (:func:`~eqlatent.groups.so3_max.wigner_blocks`).
    """
    eps = torch.finfo(z.dtype).eps
    vec_blocks = [b for b in action.blocks if b.l == 1]
    n_rows = z.shape[0]
    if not vec_blocks:  # scalars only: SO(3) fixes them; O(3) flips the 0o ones, decided by the keys below
        rotated, ill = z, torch.zeros(n_rows, dtype=torch.bool, device=z.device)
        flipped = rotate_copies(action, z, [], signs=-torch.ones(n_rows, dtype=z.dtype, device=z.device))
        return _choose(action, z, rotated, flipped, ill, eps)
    parity = torch.tensor([b.p for b in vec_blocks for _ in range(b.mul)], dtype=z.dtype, device=z.device)
    v = copies(z, vec_blocks)  # [B, n, 3]
    with torch.no_grad():
        vd = v.detach()
        scale = z.detach().norm(dim=1)  # invariant: the action is orthogonal
        zero, tol = ZERO_TOL * eps * scale, KEY_TOL * eps * scale
        lengths = vd.norm(dim=-1)  # [B, n]
        a = _first_near_max(lengths, tol)
        found1 = lengths.amax(dim=1) > zero
        x_axis = torch.zeros_like(vd[:, 0])
        x_axis[:, 0] = 1
        e1 = torch.where(found1[:, None], _take(vd, a) / lengths.amax(dim=1).clamp_min(1e-300)[:, None], x_axis)
        residual = (vd - (vd * e1[:, None]).sum(-1, keepdim=True) * e1[:, None]).norm(dim=-1)
        b = _first_near_max(residual, tol)
        best = residual.amax(dim=1)
        found2 = found1 & (best > zero)
        ill = ~found2 | (best <= math.sqrt(eps) * scale)
        axis = torch.nn.functional.one_hot(e1.abs().argmin(dim=1), 3).to(z.dtype)  # the axis least aligned with e1
    first, second = _take(v, a), _take(v, b)
    wigner = lambda frame: wigner_blocks(frame, action.lmax, couplings)  # noqa: E731
    rotated = rotate_copies(action, z, wigner(_frame(first, second, found1, found2, axis)))
    if action.group == "SO3" or not any(blk.p == -1 for blk in action.blocks):
        return rotated, ill  # no inversion to decide (SO(3), or O(3) acting on even copies only: P z = z)
    # O(3): the same picks on P z, whose odd vectors are flipped; its own frame, then the keys decide
    one = torch.ones_like(scale)
    sign_a, sign_b = torch.where(found1, parity[a], one), torch.where(found2, parity[b], one)
    frame = _frame(first * sign_a[:, None], second * sign_b[:, None], found1, found2, axis)
    flipped = rotate_copies(action, z, wigner(frame), signs=-one)
    return _choose(action, z, rotated, flipped, ill, eps)


def _choose(action: Any, z: Tensor, c0: Tensor, c1: Tensor, ill: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """O(3): of the candidates from ``z`` and from ``P z``, the one with the larger keys; ties between different
    candidates are added to ``ill``."""
    if action.group == "SO3":
        return c0, ill
    with torch.no_grad():
        scale = z.detach().norm(dim=1)
        dim = z.shape[1]  # not action.dim: torch.compile cannot guard the Irreps behind it
        w = tie_functionals(dim).to(z)
        keys = torch.stack([c0.detach() @ w.T, c1.detach() @ w.T], dim=1)  # [B, 2 candidates, 2 keys]
        key_tol = (KEY_TOL * eps * math.sqrt(dim) * scale)[:, None].expand(-1, 2)
        chosen = pick(keys, key_tol)
        tied = ((keys[:, 0] - keys[:, 1]).abs() <= key_tol).all(dim=1)
        differ = (c0.detach() - c1.detach()).abs().amax(dim=1) > KEY_TOL * eps * scale
    return torch.where((chosen == 0)[:, None], c0, c1), ill | (tied & differ)
