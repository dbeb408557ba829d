"""Gram matrices of an e3nn latent: every inner product between copies the group moves together.

Why: ``norm`` keeps each copy's length and nothing of how copies sit relative to each other, which
is most of what an equivariant latent's ``l >= 1`` part says (the relative orientation of two
learned vectors, the angle between a dipole-like and a force-like channel).  The group acts on all
copies of one irrep type by the same orthogonal matrix, so their inner products ``<u_i, u_j>`` are
invariant; this projection returns all of them, the upper triangle (diagonal included) of the
``m x m`` Gram matrix of the ``m`` copies of each type.

Which copies form a type (:func:`eqlatent.projections.e3nn_blocks.irrep_types`): under O(3) the
irrep ``(l, p)`` -- a ``1o`` and a ``1e`` copy are not compared, their inner product changes sign
under the inversion; under SO(3) the degree ``l`` alone.  Copies of one type split over several
entries of the Irreps (``"2x1o + 0e + 1x1o"``) are one type.  Invariant scalars (``0e``; under SO(3)
every ``l = 0``) are returned as they are, not as their products ``x_i x_j``, which would lose their
common sign and cost ``m^2 / 2`` numbers for what is already invariant; ``0o`` under O(3) gives its
Gram matrix (the products are invariant, the values are not).

What it keeps: for vectors (``l = 1``) of one type the Gram matrix is a *complete* invariant under
O(3): two sets of vectors with the same Gram matrix differ by an orthogonal matrix (a rotation, or a
rotation and the inversion), so on a latent of ``0e`` and ``1o`` copies ``gram`` is injective on O(3)
orbits.  Under SO(3) it cannot tell a configuration from its mirror image (the sign of the triple
product ``det[u_1, u_2, u_3]``), and between types (``1o`` with ``1e``, ``l = 1`` with ``l = 2``)
nothing is compared, so it is lossy there; ``random_invariant`` keeps those relations.  Outputs are
quadratic in the latent (distances are not on the latent's scale; ``retention``'s Spearman and kNN
are rank measures).  Exact (invariant to float rounding of the group action), smooth, and sync-free.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.e3nn_blocks import copies, irrep_types, is_invariant_scalar
from eqlatent.projections.field_projection import FieldProjection


class Gram(FieldProjection):
    """``[B, irreps.dim] -> [B, F]``: the invariant scalars, then per irrep type the upper triangle of its copies'
    Gram matrix (``m (m + 1) / 2`` numbers for ``m`` copies), types in order of first appearance.

    Group: SO(3) or O(3) on e3nn irreps.  Lossy in general; complete (injective on orbits) for ``0e`` plus one
    type of vectors under O(3).
    """

    name = "gram"
    group = "SO(3) or O(3) on e3nn irreps"
    lossless = False
    layouts = ("e3nn",)

    def __init__(self, layout: Any = None, *, check_finite: bool = False, n_angles: int | None = None) -> None:
        super().__init__(layout, check_finite=check_finite, n_angles=n_angles)
        types = irrep_types(self.action)
        self._scalars = [blocks for (l, p), blocks in types.items() if is_invariant_scalar(self.action.group, l, p)]
        self._grams = [blocks for (l, p), blocks in types.items() if not is_invariant_scalar(self.action.group, l, p)]

    def invariance_atol(self, z: Tensor) -> float:
        """The base tolerance plus ``64 eps s^2`` (``s`` the largest row norm): the outputs are quadratic, so the
        rounding of the group action (``~eps s`` per coordinate) reaches them times ``s``.  Measured on the
        adversarial latents (``tests/projections/test_properties.py``, both dtypes): at most ``12 eps s^2``."""
        scale = float(z.detach().flatten(1).norm(dim=1).max()) if z.numel() else 0.0
        return super().invariance_atol(z) + 64 * torch.finfo(z.dtype).eps * scale ** 2

    def width(self, action: Any) -> int:
        m = [sum(b.mul for b in blocks) for blocks in self._grams]
        return sum(b.mul for blocks in self._scalars for b in blocks) + sum(k * (k + 1) // 2 for k in m)

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        out = [copies(z, blocks).flatten(1) for blocks in self._scalars]
        for blocks in self._grams:
            x = copies(z, blocks)  # [B, m, 2l+1]
            i, j = torch.triu_indices(x.shape[1], x.shape[1], device=z.device)
            out.append((x[:, i] * x[:, j]).sum(-1))  # <u_i, u_j>, i <= j: no m x m matrix, exact products
        return torch.cat(out, dim=1)
