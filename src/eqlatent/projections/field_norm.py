"""Per-frequency norms of an equivariant field: the power spectrum, invariant and lossy.

For SO(2) irreps ``[a0, c1, s1, ..., cL, sL]`` a rotation by ``theta`` rotates each pair
``(c_k, s_k)`` by ``k theta``, so the norms ``|(c_k, s_k)|`` and ``a0`` itself are
invariant (``NormNonLinearity`` / ``NormPool`` use the same fact).  For a C_N regular
field the same holds in the Fourier basis of the group axis: a cyclic shift only changes
the phases of the DFT, so ``|DFT(z)|`` is invariant.  Phases (relative orientations of
different fields) are lost, so the projection is lossy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.image_latent import ImageLatentProjection, check_irreps_size


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
            return torch.fft.rfft(z, dim=-1).abs().flatten(1)
        L = check_irreps_size(self.name, z)
        pairs = z[..., 1:].unflatten(-1, (L, 2)).norm(dim=-1)
        return torch.cat([z[..., :1], pairs], dim=-1).flatten(1)
