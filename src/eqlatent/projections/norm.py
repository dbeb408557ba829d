"""Per-irrep norms of an equivariant field: the power spectrum, invariant and lossy.

In its irreps coordinates a field transforms block by block with orthogonal irreps, so
the norm of every block is invariant (escnn's ``NormNonLinearity`` / ``NormPool`` use the
same fact) and trivial blocks are invariant as they are.  For SO(2) irreps
``[a0, c1, s1, ..., cL, sL]`` that gives ``a0`` and the norms ``|(c_k, s_k)|``; for a C_N
regular field the irreps coordinates are its real DFT, so the projection is ``|rfft(z)|``;
for an escnn field type they are ``Q^-1 z`` (its change of basis).  Phases (relative
orientations of different irreps) are lost, so the projection is lossy.

For an e3nn latent (the ``e3nn`` layout: SO(3) / O(3)) the blocks are the copies of ``2l+1`` numbers,
already in irreps coordinates: one norm per copy, in channel order, which is e3nn's own
``o3.Norm(irreps)`` number for number (``tests/projections/test_e3nn_projections.py`` compares them).
As there, a scalar copy gives its absolute value: ``0e`` loses its sign (``scalars`` keeps it), which
is also what makes a ``0o`` copy invariant under the inversion.  Every relative orientation of the
``l >= 1`` copies is lost (``gram`` keeps the ones within a degree); the gradient at a zero copy is 0,
as e3nn's (no NaN).

:func:`irrep_norms` is the one implementation, for every layout :class:`Norm` is built from
(``eqlatent.invariant_projection(field_type, "norm")`` builds it from a field type; the studies'
SO(2) irreps layout is already in irreps coordinates, so there :class:`Norm` reads its norms off
directly: the same numbers, without building an action).
"""

from __future__ import annotations

import torch
from torch import Tensor

from typing import Any

from eqlatent.groups.actions import FieldAction
from eqlatent.projections.base import Meta
from eqlatent.projections.field_projection import FieldProjection


def irrep_norms(action: FieldAction, z: Tensor) -> Tensor:
    """``[B, D] -> [B, irreps]``: per field (in channel order), per irrep block, its norm (signed value if ``signed``)."""
    per_kind = []
    for fk in action.kinds:
        coeffs = action.irrep_coefficients(fk, z)  # [B, f, s]
        feats, start = [], 0
        for irr in fk.irreps:
            block = coeffs[..., start:start + irr.size]
            feats.append(block[..., 0] if irr.signed else block.norm(dim=-1))
            start += irr.size
        per_kind.append(torch.stack(feats, dim=-1))  # [B, f, irreps of this kind]
    if len(per_kind) == 1:  # one kind of field: its rows are already in channel order
        return per_kind[0].flatten(1)
    # several kinds: one gather puts every field's norms back in channel order
    keys = torch.cat([(fk.index[:, :1] * (fk.size + 1) + torch.arange(len(fk.irreps))).flatten()
                      for fk in action.kinds])
    return torch.cat([f.flatten(1) for f in per_kind], dim=1)[:, keys.argsort().to(z.device)]


class Norm(FieldProjection):
    """Per-irrep norms: a field type ``[B, D] -> [B, irreps of every field]``; the studies' layouts
    irreps ``[B, C, 1+2L] -> [B, C*(L+1)]`` (a0 and the L pair norms), regular ``[B, C, N] -> [B, C*(N//2+1)]`` (|rFFT|).

    e3nn irreps ``[B, irreps.dim] -> [B, irreps.num_irreps]`` (e3nn's ``o3.Norm``: one norm per copy).

    Group: that of its layout (SO(2), C_N, any finite group, O(2), SO(3), O(3)).  Lossy (drops relative phases).
    """

    name = "norm"
    group = ("SO(2) rotations of irreps fields / C_N shifts of regular fields / a field type's group / "
             "SO(3) or O(3) on e3nn irreps")
    lossless = False
    layouts = ("irreps", "regular", "field_type", "e3nn")

    def width(self, action: Any) -> int:
        """One number per irrep of every field, after the change of basis (e3nn: per copy)."""
        if self.latent_layout == "e3nn":
            return sum(b.mul for b in action.blocks)
        return sum(fk.index.shape[0] * len(fk.irreps) for fk in action.kinds)

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        if self.latent_layout == "e3nn":  # mul-major copies of 2l+1: already irreps coordinates
            blocks = self.action.blocks
            return torch.cat([z[:, b.start:b.stop].unflatten(1, (b.mul, 2 * b.l + 1)).norm(dim=-1) for b in blocks], 1)
        if self.latent_layout != "irreps":
            return irrep_norms(self.action_for(z), z.flatten(1))
        band = (z.shape[-1] - 1) // 2  # the layout checked 1 + 2L
        # already in irreps coordinates [a0, c1, s1, ...]: irrep_norms(irreps_action(...)) read off directly,
        # with no action (and its rotation grid) to build, eagerly or inside a compiled graph
        pairs = z[..., 1:].unflatten(-1, (band, 2)).norm(dim=-1)
        return torch.cat([z[..., :1], pairs], dim=-1).flatten(1)
