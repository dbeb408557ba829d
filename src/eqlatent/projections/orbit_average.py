"""Orbit averaging for a non-equivariant encoder: the mean of its latents over rotated copies of the input.

For a plain CNN the rotation acts on the input only; its latent has no group action to
quotient by.  The invariant projection is then built from the encoder itself:
``pi(x) = mean_m f(R_{2pi m/M} x)``, i.e. the latents of ``M`` rotated copies of the input
(layout ``orbit``, ``[B, M, F]``) averaged over ``m`` (:mod:`~eqlatent.projections.orbit_max`:
their maximum).  It is exactly invariant to rotations in C_M when these act exactly on the grid
(M = 4), and approximately for the other angles (pixel interpolation); the study measures how far.
"""

from __future__ import annotations

from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.field_projection import FieldProjection


class OrbitAverage(FieldProjection):
    """``[B, M, F] -> [B, F]``: mean over the M rotated-input copies.  Group: C_M acting on the input.  Lossy."""

    name = "orbit_average"
    group = "C_M rotations acting on the input image"
    lossless = False
    layouts = ("orbit",)

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return z.mean(dim=1)
