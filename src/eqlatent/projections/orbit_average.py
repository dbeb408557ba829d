"""Orbit averaging for a non-equivariant encoder: pool its latents over rotated copies of the input.

For a plain CNN the rotation acts on the input only; its latent has no group action to
quotient by.  The invariant projection is then built from the encoder itself:
``pi(x) = mean_m f(R_{2pi m/M} x)`` (or max), i.e. the latents of ``M`` rotated copies of
the input (layout ``orbit``, ``[B, M, F]``) pooled over ``m``.  It is exactly invariant to
rotations in C_M when these act exactly on the grid (M = 4), and approximately for the
other angles (pixel interpolation); the study measures how far.
"""

from __future__ import annotations

from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.projections.base import Meta
from eqlatent.projections.image_latent import ImageLatentProjection


class OrbitAverage(ImageLatentProjection):
    """``[B, M, F] -> [B, F]``: mean (or max) over the M rotated-input copies.  Group: C_M acting on the input.  Lossy."""

    group = "C_M rotations acting on the input image"
    lossless = False
    layouts = ("orbit",)

    def __init__(self, mode: str = "mean", layout: str | None = None) -> None:
        if mode not in ("mean", "max"):
            raise ConfigError(f"unknown orbit-average mode '{mode}'", "use mode: mean or mode: max")
        super().__init__(layout)
        self.mode = mode
        self.name = "orbit_average" if mode == "mean" else "orbit_max"

    @classmethod
    def examples(cls) -> list["OrbitAverage"]:
        return [cls(mode) for mode in ("mean", "max")]

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return z.mean(dim=1) if self.mode == "mean" else z.amax(dim=1)
