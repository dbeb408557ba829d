"""Canonicalisation: move every latent to a fixed representative of its orbit.

A cross-section picks, for each orbit, one point; here the point is chosen by an
orbit-defined feature so that no information is lost (the map is injective on orbits,
apart from ties, which have measure zero on real latents):

* finite group with regular fields (C_N, D_N, ...): the total activation per group element
  ``a(h) = sum over regular fields of z[field, h]`` moves with the group, ``a_{g.z}(gh) =
  a_z(h)``; act with the inverse of the element at ``argmax_h a(h)`` so that the peak lands on
  a fixed channel (for the studies' ``[B, C, N]`` C_N layout: roll the argmax to the front).
* SO(2) with frequency-1 irreps: the summed frequency-1 component is a 2-D vector that
  rotates with the group; rotate the whole latent by minus its angle.

Not defined elsewhere (a finite group without regular fields, O(2), SO(2) without
frequency-1 irreps): a one-line error.  The result is invariant (exactly for finite
groups; for SO(2) up to float error) and lossless, but not isometric: two latents whose
canonical frames are far apart can be closer after a different group element, so distances
only upper-bound the quotient distances.

:func:`canonical_representative` is the one implementation, used by the studies'
:class:`Canonicalize` and by ``eqlatent.invariant_projection(field_type, "canonicalize")``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups.actions import FieldAction, FieldKind
from eqlatent.groups.layouts import irreps_action, regular_action
from eqlatent.projections.base import Meta
from eqlatent.projections.image_latent import ImageLatentProjection, check_irreps_size


def _regular_kinds(action: FieldAction) -> list[FieldKind]:
    return [fk for fk in action.kinds if fk.regular]


def canonicalization_error(action: FieldAction) -> str | None:
    """Why ``action`` has no canonical representative here (None when it has one)."""
    if action.kind == "finite":
        return None if _regular_kinds(action) else f"{action.name} latent without a regular field"
    if action.rotate is None:
        return f"{action.name} (only SO(2) and finite groups with regular fields are supported)"
    freqs = {irr.frequency for fk in action.kinds for irr in fk.irreps}
    if freqs - {0} and 1 not in freqs:
        return f"{action.name} latent without a frequency-1 irrep"
    return None


def _finite_tables(action: FieldAction) -> tuple[Tensor, Tensor]:
    """``(channel -> element, element -> inverse element)`` from the first regular field's permutations (cached)."""
    if "canonical_tables" not in action._cast:
        action._cast["canonical_tables"] = _build_tables(action)
    return action._cast["canonical_tables"]


def _build_tables(action: FieldAction) -> tuple[Tensor, Tensor]:
    mats = _regular_kinds(action)[0].mats  # [G, G, G] permutation matrices, rho(g) e_0 = e_{g h0}
    chan_to_elem = mats[:, :, 0].argmax(dim=0)  # channel c is reached from channel 0 by element chan_to_elem[c]
    inverse = torch.cdist(mats.transpose(1, 2).flatten(1), mats.flatten(1)).argmin(dim=1)  # rho(g)^T = rho(g^-1)
    return chan_to_elem, inverse


def canonical_representative(action: FieldAction, z: Tensor) -> Tensor:
    """``[B, D] -> [B, D]``: the orbit representative of each latent (see the module docstring)."""
    why = canonicalization_error(action)
    if why is not None:
        raise ConfigError(f"canonicalize is not defined for a {why}",
                          "use method='random_invariant' or 'norm', or add a regular field (finite group) / "
                          "a frequency-1 irrep (SO(2)) to the latent")
    if action.kind == "finite":
        chan_to_elem, inverse = _finite_tables(action)
        feature = sum(z[:, fk.index.to(z.device)].sum(dim=1) for fk in _regular_kinds(action))  # [B, |G|]
        peak = chan_to_elem.to(z.device)[feature.argmax(dim=-1)]
        return action.act(z, inverse.to(z.device)[peak])
    if all(irr.frequency == 0 for fk in action.kinds for irr in fk.irreps):
        return z  # only trivial irreps: already invariant
    v = z.new_zeros(z.shape[0], 2)
    for fk in action.kinds:
        coeffs, start = action.irrep_coefficients(fk, z), 0
        for irr in fk.irreps:
            if irr.frequency == 1:
                v = v + coeffs[..., start:start + 2].sum(dim=1)
            start += irr.size
    phase = torch.atan2(v[:, 1], v[:, 0])
    out = torch.empty_like(z)
    for fk in action.kinds:
        idx = fk.index.to(z.device)
        m = action.rotate(fk, -phase)  # [B, s, s]
        out[:, idx.flatten()] = torch.bmm(z[:, idx], m.transpose(1, 2)).flatten(1)
    return out


class Canonicalize(ImageLatentProjection):
    """Orbit representative chosen by the argmax (C_N) or phase (SO(2)) of an orbit feature.

    Group: C_N (regular) or SO(2) (irreps).  Lossless (injective on orbits up to ties); not isometric.
    """

    name = "canonicalize"
    group = "C_N shifts of regular fields / SO(2) rotations of irreps fields"
    lossless = True
    layouts = ("regular", "irreps")

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        if self.latent_layout == "regular":
            return canonical_representative(regular_action(z.shape[1], z.shape[2]), z.flatten(1))
        check_irreps_size(self.name, z)
        return canonical_representative(irreps_action(z.shape[1], z.shape[2]), z.flatten(1))
