"""Orbit maximum for a non-equivariant encoder: the largest of its latents over rotated copies of the input.

As :mod:`~eqlatent.projections.orbit_average`, with the maximum over the ``M`` copies of each feature.
"""

from __future__ import annotations

from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.field_projection import FieldProjection


class OrbitMax(FieldProjection):
    """``[B, M, F] -> [B, F]``: max over the M rotated-input copies.  Group: C_M acting on the input.  Lossy."""

    name = "orbit_max"
    group = "C_M rotations acting on the input image"
    lossless = False
    layouts = ("orbit",)

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return z.amax(dim=1)
