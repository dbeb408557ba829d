"""The quotient distance ``min_g ||z1 - D(g) z2||`` over SO(3) or O(3) for e3nn latents.

Why a separate path from :mod:`eqlatent.groups.quotient`: there the group is finite or a
circle, and its orbit is a list of elements.  SO(3) is three-dimensional, so an orbit is
never listed: each pair is reduced to its cross-covariances ``M_l = sum_u z1_u z2_u^T`` per
degree l (``(2l+1)^2`` numbers, whatever the multiplicities), and
``<z1, D(g) z2> = sum_l <M_l, D^l(R)>`` is maximised over rotations by
:func:`eqlatent.groups.so3_max.maximize`.  O(3) adds the inversion: an element is ``(R, k)``
acting on irrep ``(l, p)`` by ``p^k D^l(R)``, so the coset ``k = 1`` is the same problem with
``M_l = sum_p p M_(l,p)``; the better coset wins.

Exactness (``d_true`` the true distance, ``d`` the returned one):

* ``d >= d_true`` always, up to rounding: ``d = ||z1 - D(g*) z2||`` is evaluated at the found
  element ``g*`` itself (directly, not as ``||z1||^2 + ||z2||^2 - 2 max``, so an orbit pair
  gives ~1e-15, not ~1e-8).
* only ``l <= 1`` present: closed form (Kabsch with the det fix), ``d = d_true`` to rounding.
* otherwise, guaranteed: ``d^2 - d_true^2 <= h^2 L^2 ||z1|| ||z2||``, ``h`` the grid's covering
  radius (:func:`~eqlatent.groups.so3_max.covering_radius`: 0.39 rad for the default grid at L = 2,
  0.25 at L = 3), L the highest degree; this is the bound of the grid maximum, which refinement never
  lowers.  Measured with refinement (``benchmarks/o3_quotient.py``, and the numbers in
  :mod:`eqlatent.groups.so3_max`): equal to a dense search refined from its 32 best distinct
  peaks to ~1e-15 relative for every one of thousands of random pairs at L = 2, 3, 4.

Gradients: ``d`` is differentiable in both latents and finite everywhere: ``g*`` is held fixed
(the envelope theorem: where the maximiser is unique this is the gradient of the distance;
at ties it is one of the one-sided ones) and the gradient at ``d = 0`` is taken as 0.

Examples
--------
>>> import torch
>>> from e3nn import o3
>>> irreps = o3.Irreps("2x0e + 1x1o + 1x2e")
>>> z = torch.randn(irreps.dim, dtype=torch.float64)
>>> R = o3.rand_matrix(dtype=torch.float64)
>>> zr = irreps.D_from_matrix(R) @ z      # (float32-precise e3nn matrices: ~1e-6)
>>> float(irreps_quotient_distance(z, zr, irreps)) < 1e-5
True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError
from eqlatent.groups.inputs import check_finite
from eqlatent.groups.o3 import IrrepsAction, irreps_action
from eqlatent.groups.so3_max import default_grid_size, maximize, so3_grid, wigner_blocks

#: pairs handled at once (their ``M_l``, search and residuals)
PAIRS_PER_CHUNK = 16384


def _as_latent(z: Any, action: IrrepsAction, what: str, pairwise: bool) -> Tensor:
    z = torch.as_tensor(getattr(z, "tensor", z))
    if not z.is_floating_point():
        z = z.double()
    check_finite(z, what)
    ok = z.ndim == 2 if pairwise else z.ndim in (1, 2)
    if not ok or z.shape[-1] != action.dim:
        want = "[n, irreps.dim]" if pairwise else "[irreps.dim] or [pairs, irreps.dim]"
        raise LatentShapeError(f"the {what} has shape {tuple(z.shape)}, but latents of irreps {action.irreps} "
                               f"are {want} with irreps.dim = {action.dim}",
                               "pass the model's flat e3nn latent [N, irreps.dim] and the irreps it was built with")
    return z


def cross_blocks(action: IrrepsAction, a: Tensor, b: Tensor) -> list[Tensor | None]:
    """Per l = 0..lmax: ``[P, cosets, 2l+1, 2l+1]`` with ``<a, D(R, k) b> = sum_l <M_l[:, k], D^l(R)>`` (None if absent)."""
    M: list[Tensor | None] = [None] * (action.lmax + 1)
    signs = torch.tensor([1.0, -1.0], dtype=a.dtype, device=a.device)[: action.cosets]
    for blk in action.blocks:
        d = 2 * blk.l + 1
        au = a[:, blk.start:blk.stop].view(-1, blk.mul, d)
        bu = b[:, blk.start:blk.stop].view(-1, blk.mul, d)
        m = torch.einsum("pua,pub->pab", au, bu)
        parity = signs if blk.p == -1 else torch.ones_like(signs)  # p^k for k = 0, 1
        m = m[:, None] * parity[None, :, None, None]
        M[blk.l] = m if M[blk.l] is None else M[blk.l] + m
    return M


def _moved(action: IrrepsAction, b: Tensor, R: Tensor, coset: Tensor) -> Tensor:
    """``D(R_p, k_p) b_p`` per row, with ``R`` / ``coset`` as constants (differentiable in ``b``)."""
    D = wigner_blocks(R.detach().to(b.dtype), action.lmax)
    inverted = coset.to(b.dtype)
    parts = []
    for blk in action.blocks:
        d = 2 * blk.l + 1
        bu = b[:, blk.start:blk.stop].view(-1, blk.mul, d)
        moved = bu @ D[blk.l].transpose(1, 2)  # rows z_u -> D z_u
        if blk.p == -1:
            moved = moved * (1 - 2 * inverted)[:, None, None]
        parts.append(moved.flatten(1))
    return torch.cat(parts, dim=1)


def _safe_norm(x: Tensor) -> Tensor:
    """``||x||`` per row with gradient 0 (not NaN) at 0."""
    sq = x.pow(2).sum(1)
    pos = sq > 0
    return torch.where(pos, torch.where(pos, sq, torch.ones_like(sq)).sqrt(), torch.zeros_like(sq))


def _rows(action: IrrepsAction, a: Tensor, b: Tensor, refine: bool, n_grid: int | None,
          elements: bool) -> tuple[Tensor, Tensor | None]:
    """``[P]`` distances of row pairs (float64), and ``[P, 3, 3]`` O(3) matrices of the minimisers."""
    a, b = a.double(), b.double()
    grid = None
    if action.lmax >= 2:
        grid = so3_grid(int(n_grid) if n_grid else default_grid_size(action.lmax), action.lmax)
    out, mats = [], []
    for s in range(0, len(a), PAIRS_PER_CHUNK):
        ca, cb = a[s:s + PAIRS_PER_CHUNK], b[s:s + PAIRS_PER_CHUNK]
        with torch.no_grad():
            _, R, coset = maximize(cross_blocks(action, ca.detach(), cb.detach()), grid, refine=refine)
        out.append(_safe_norm(ca - _moved(action, cb, R, coset)))
        if elements:
            mats.append(R * (1 - 2 * coset.to(R.dtype))[:, None, None])
    d = torch.cat(out) if out else a.new_zeros(0)
    if not elements:
        return d, None
    return d, (torch.cat(mats) if mats else a.new_zeros(0, 3, 3))


def irreps_quotient_distance(z1: Any, z2: Any = None, irreps: Any = None, pairwise: bool = False,
                             refine: bool = True, n_grid: int | None = None,
                             return_elements: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Quotient distance ``min_g ||z1 - D(g) z2||`` of e3nn latents over O(3) or SO(3).

    Parameters
    ----------
    z1, z2:
        Flat e3nn latents ``[irreps.dim]`` or ``[pairs, irreps.dim]`` (row i with row i); with
        ``pairwise``, ``[n, irreps.dim]`` and ``[m, irreps.dim]`` (``z2=None``: the pairs within ``z1``).
    irreps:
        An ``e3nn.o3.Irreps`` (acted on by O(3)), a spec ``"SO3: 8x0e+4x1o"`` / ``"O3: ..."``, or
        an :class:`~eqlatent.groups.o3.IrrepsAction`.
    pairwise:
        All pairs: ``[n, m]``; within one set ``[n, n]``, symmetric with zero diagonal (each
        unordered pair computed once).
    refine, n_grid:
        Whether Newton steps refine the grid maximum, and the grid size (default
        :func:`~eqlatent.groups.so3_max.default_grid_size`); unused when only l <= 1 is present.
    return_elements:
        Also return the minimising group elements as 3x3 O(3) matrices ``g`` (det -1: rotation
        ``-g`` then the inversion, e3nn's ``D_from_matrix`` reading) with
        ``||z1 - irreps.D_from_matrix(g) z2|| = d``.

    Returns
    -------
    Tensor
        float64 distances (a scalar, ``[pairs]`` or ``[n, m]``), differentiable; with
        ``return_elements`` also the elements ``[..., 3, 3]``.
    """
    action = irreps_action(irreps)
    if z2 is None and not pairwise:
        raise LatentShapeError("quotient_distance got no second latent", "pass z2, or pairwise=True for the pairs within z1")
    a = _as_latent(z1, action, "first latent", pairwise)
    b = None if z2 is None else _as_latent(z2, action, "second latent", pairwise)
    if not pairwise:
        if a.shape != b.shape:
            raise LatentShapeError(f"the two latents differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}",
                                   "compare latents of the same model, row by row (or pass pairwise=True)")
        single = a.ndim == 1
        d, g = _rows(action, a.reshape(-1, action.dim), b.reshape(-1, action.dim), refine, n_grid, return_elements)
        if single:
            d, g = d[0], None if g is None else g[0]
        return (d, g) if return_elements else d
    n = len(a)
    if b is None:
        i, j = torch.triu_indices(n, n, offset=1, device=a.device)
        m = n
    else:
        m = len(b)
        i, j = torch.arange(n, device=a.device).repeat_interleave(m), torch.arange(m, device=a.device).repeat(n)
    d, g = _rows(action, a[i], (a if b is None else b)[j], refine, n_grid, return_elements)
    out = a.new_zeros(n, m, dtype=torch.float64).index_put((i, j), d)
    if b is None:
        out = out.index_put((j, i), d)
    if not return_elements:
        return out
    mats = torch.eye(3, dtype=torch.float64, device=a.device).repeat(n, m, 1, 1)
    mats[i, j] = g
    if b is None:
        mats[j, i] = g.transpose(1, 2)  # d(z_j, z_i) is attained by the inverse element
    return out, mats
