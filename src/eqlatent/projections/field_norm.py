"""Per-irrep norms of an equivariant field: the power spectrum, invariant and lossy.

In its irreps coordinates a field transforms block by block with orthogonal irreps, so
the norm of every block is invariant (escnn's ``NormNonLinearity`` / ``NormPool`` use the
same fact) and trivial blocks are invariant as they are.  For SO(2) irreps
``[a0, c1, s1, ..., cL, sL]`` that gives ``a0`` and the norms ``|(c_k, s_k)|``; for a C_N
regular field the irreps coordinates are its real DFT, so the projection is ``|rfft(z)|``;
for an escnn field type they are ``Q^-1 z`` (its change of basis).  Phases (relative
orientations of different irreps) are lost, so the projection is lossy.

:func:`irrep_norms` is the one implementation: the studies' :class:`FieldNorm` and the
toolkit's ``invariant_projection(field_type, "norm")`` both call it (the studies' SO(2) irreps
layout is already in irreps coordinates, so :class:`FieldNorm` reads its norms off directly: the
same numbers, without building an action).
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.groups.actions import FieldAction
from eqlatent.groups.layouts import regular_action
from eqlatent.projections.base import Meta
from eqlatent.projections.image_latent import ImageLatentProjection, check_irreps_size


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


class FieldNorm(ImageLatentProjection):
    """Irreps: ``[B, C, 1+2L] -> [B, C*(L+1)]`` (a0 and the L pair norms); regular: ``[B, C, N] -> [B, C*(N//2+1)]`` (|rFFT|).

    Group: SO(2) (irreps) or C_N (regular).  Lossy (drops relative phases).
    """

    name = "norm"
    group = "SO(2) rotations of irreps fields / C_N shifts of regular fields"
    lossless = False
    layouts = ("irreps", "regular")

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        if self.latent_layout == "regular":
            return irrep_norms(regular_action(z.shape[1], z.shape[2]), z.flatten(1))
        band = check_irreps_size(self.name, z)
        # already in irreps coordinates [a0, c1, s1, ...]: irrep_norms(irreps_action(...)) read off directly,
        # with no action (and its rotation grid) to build, eagerly or inside a compiled graph
        pairs = z[..., 1:].unflatten(-1, (band, 2)).norm(dim=-1)
        return torch.cat([z[..., :1], pairs], dim=-1).flatten(1)
