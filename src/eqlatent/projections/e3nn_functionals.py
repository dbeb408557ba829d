"""Max filtering over SO(3) / O(3): K random functionals of an e3nn latent, each maxed over the group.

``f_k(z) = sqrt(D / K) max_g <w_k, D(g) z>`` (Cahill, Iverson, Mixon "max filtering"; the paper's
random invariant projection) with ``w_k`` unit random vectors of the latent's dimension D.  Why it
is computable: ``<w, D(R) z> = sum_l <M_l, D^l(R)>`` with ``M_l = sum_u w_u z_u^T`` over the copies
of degree l (``(2l+1)^2`` numbers per l, whatever the multiplicities), and under O(3) the inversion
coset is the same problem with the odd copies' ``M`` negated -- the same reduction the O(3) quotient
distance uses, so the maximum is :func:`eqlatent.groups.so3_max.maximize`'s: Kabsch in closed form
when only ``l <= 1`` is present, else a super-Fibonacci grid of ``128 L^3`` rotations (at least
1,024) and Newton steps on the rotation manifold from its best distinct peaks (``refine``), to the
true maximum in float64 wherever a start lies in its basin (measured in :mod:`~eqlatent.groups.so3_max`:
no miss on thousands of random problems up to L = 6).

Exactness: the output is ``<w_k, D(g*) z>`` evaluated at the found element ``g*``, so it is never
above the true maximum, and invariance is the search's precision: exact to rounding for ``l <= 1``,
float64 rounding after refinement (``tests/projections/test_e3nn_projections.py`` measures it);
without refinement each value is within ``h^2 L^2 / 2 * ||w|| ||z||`` of the maximum (``h`` the grid's
covering radius), so two of them within that times ``sqrt(D / K)``.

Gradient: the envelope theorem.  ``g*`` is held fixed (found without gradient) and the output is the
linear ``<M(z), D(g*)>``, so the gradient is ``D(g*)^T w``: the gradient of the maximum where its
maximiser is unique, one of its one-sided gradients at ties (a latent with a symmetry), finite
everywhere, zero latent included.

Cost: the search is ``O(B K (G + S N))`` for G grid rotations, S starts and N Newton steps (about
``B K`` small 3x3 problems, like ``B K`` quotient distances); the search reads values, so this module
has host syncs and does not run under ``torch.compile(fullgraph=True)`` or on the ``meta`` device.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from eqlatent.groups.so3_max import covering_radius, default_grid_size, maximize, so3_grid, wigner_blocks

#: (rows x functionals) searched at once: keeps the search's intermediates near the CPU cache
PROBLEMS_PER_CHUNK = 4096


class IrrepsFunctionals(torch.nn.Module):
    """``z [B, D] -> [B, K]``: K unit random functionals, each maxed over SO(3) or O(3).

    A module so that the functionals are a registered buffer (``weights``, float64 ``[K, D]`` as drawn by
    :func:`eqlatent.projections.random_invariant.unit_functionals`): saved, loaded and moved with their
    owner.  Scores are computed in the latent's dtype; the search in float64.
    """

    def __init__(self, action: Any, weights: Tensor, refine: bool = True) -> None:
        super().__init__()
        self.action, self.refine = action, bool(refine)
        self.k = int(weights.shape[0])
        self.register_buffer("weights", weights)

    @property
    def out_features(self) -> int:
        return self.k

    def extra_repr(self) -> str:
        return f"n_functionals={self.k}, dim={self.action.dim}, group={self.action.group}, refine={self.refine}"

    def grid_bound(self) -> float:
        """``h^2 L^2 / 2``: the grid maximum's distance below the true one, per ``||w|| ||z||`` (0 when exact)."""
        lmax = self.action.lmax
        if lmax <= 1 or self.refine:
            return 0.0
        return covering_radius(default_grid_size(lmax)) ** 2 * lmax ** 2 / 2

    def cross(self, z: Tensor) -> list[Tensor | None]:
        """Per l: ``[B, K, cosets, 2l+1, 2l+1]`` with ``<w_k, D(R, c) z_b> = sum_l <M_l[b, k, c], D^l(R)>`` (None if absent)."""
        w = self.weights.to(z)
        M: list[Tensor | None] = [None] * (self.action.lmax + 1)
        for b in self.action.blocks:
            d = 2 * b.l + 1
            wu = w[:, b.start:b.stop].unflatten(1, (b.mul, d))
            zu = z[:, b.start:b.stop].unflatten(1, (b.mul, d))
            m = torch.einsum("kux,nuy->nkxy", wu, zu)  # sum_u w_u z_u^T per (row n, functional k)
            cosets = [m] if self.action.cosets == 1 else [m, m if b.p == 1 else -m]  # the inversion: p^k
            m = torch.stack(cosets, dim=2)
            M[b.l] = m if M[b.l] is None else M[b.l] + m
        return M

    def forward(self, z: Tensor) -> Tensor:
        rows = max(1, PROBLEMS_PER_CHUNK // self.k)
        out = torch.cat([self._chunk(z[s:s + rows]) for s in range(0, z.shape[0], rows)]) if z.shape[0] else \
            z.new_zeros(0, self.k)
        # Johnson-Lindenstrauss scale, as over the other groups: distances on the latent's own scale for every K
        return out * math.sqrt(self.action.dim / self.k)

    def _chunk(self, z: Tensor) -> Tensor:
        B, K, lmax = z.shape[0], self.k, self.action.lmax
        M = self.cross(z)
        flat = [None if m is None else m.flatten(0, 1) for m in M]  # [B K, cosets, d, d]
        grid = so3_grid(default_grid_size(lmax), lmax) if lmax >= 2 else None
        with torch.no_grad():
            _, R, coset = maximize(flat, grid, refine=self.refine)  # float64, no gradient
            D = wigner_blocks(R, lmax)
        rows = torch.arange(B * K, device=z.device)
        value = 0
        for l, m in enumerate(flat):
            if m is not None:  # <M_l(z), D^l(g*)> at the found coset: the envelope gradient D(g*)^T w
                value = value + (m[rows, coset] * D[l].to(z)).sum((-2, -1))
        return value.view(B, K)
