"""Group pooling of a C_N regular field: max or mean over the group axis.

The invariant map escnn's ``GroupPooling`` applies before a classifier head.  It keeps
one number per field out of N, so it is invariant but lossy: every ordering of the
group axis with the same maximum (or mean) collides.
"""

from __future__ import annotations

from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.projections.base import Meta
from eqlatent.projections.image_latent import ImageLatentProjection


class GroupPool(ImageLatentProjection):
    """``[batch, fields, N] -> [batch, fields]`` by ``mode`` = max or mean over N.  Group: C_N.  Lossy."""

    group = "C_N: cyclic shifts of the regular representation"
    lossless = False
    layouts = ("regular",)

    def __init__(self, mode: str = "max", layout: str | None = None) -> None:
        if mode not in ("max", "mean"):
            raise ConfigError(f"unknown group-pool mode '{mode}'", "use mode: max or mode: mean")
        super().__init__(layout)
        self.mode = mode
        self.name = f"group_pool_{mode}"

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return z.amax(dim=-1) if self.mode == "max" else z.mean(dim=-1)
