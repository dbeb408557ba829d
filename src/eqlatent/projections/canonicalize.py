"""Canonicalisation: move every latent to a fixed representative of its orbit.

A cross-section picks, for each orbit, one point; here the point is chosen by an
orbit-defined feature so that no information is lost (the map is injective on orbits,
apart from ties, which have measure zero on real latents):

* C_N regular ``[B, C, N]``: the total activation per group element ``a(g) = sum_c z[c, g]``
  rolls with the input rotation; roll each latent so that ``argmax_g a(g)`` comes first.
* SO(2) irreps ``[B, C, 1+2L]``: the summed frequency-1 component ``sum_c (c1, s1)`` is a
  2-D vector that rotates with the input; rotate the whole latent by minus its angle.

The result is invariant (exactly for C_N; for SO(2) up to float error) and lossless, but
not isometric: two latents whose canonical frames are far apart can be closer after a
different group element, so distances only upper-bound the quotient distances.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.models.field_actions import roll_regular, rotate_irreps
from eqlatent.projections.base import Meta
from eqlatent.projections.image_latent import ImageLatentProjection, check_irreps_size


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
            shift = z.sum(dim=1).argmax(dim=-1)  # [B]: where the orbit feature peaks
            return roll_regular(z, -shift).flatten(1)
        L = check_irreps_size(self.name, z)
        if L < 1:
            return z.flatten(1)
        v = z[..., 1:3].sum(dim=1)  # [B, 2] summed frequency-1 vectors
        phase = torch.atan2(v[:, 1], v[:, 0])
        return rotate_irreps(z, -phase).flatten(1)
