"""The raw equivariant image latent, flattened: the baseline every projection is compared with.

Not invariant: rotating the input rolls the group axis of a C_N field, rotates the
irreps of an SO(2) field, and changes a plain CNN's features in no structured way.
"""

from __future__ import annotations

from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.image_latent import ImageLatentProjection


class FlattenField(ImageLatentProjection):
    """``[batch, ...] -> [batch, features]``.  Group: none removed (NOT invariant); lossless.

    Config name ``identity_field`` (the molecules study owns ``identity``).
    """

    name = "identity_field"
    group = "none (baseline: not invariant)"
    lossless = True
    layouts = ("regular", "irreps", "vector")

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return z.reshape(z.shape[0], -1)
