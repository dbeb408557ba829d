"""The raw equivariant image latent, flattened: the baseline every field projection is compared with.

Not invariant: rotating the input rolls the group axis of a C_N field, rotates the
irreps of an SO(2) field, and changes a plain CNN's features in no structured way.
"""

from __future__ import annotations

from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.field_projection import FieldProjection


class IdentityField(FieldProjection):
    """``[batch, ...] -> [batch, features]``.  Group: none removed (NOT invariant); lossless.

    The image latents' baseline (the molecules study's is ``identity``).
    """

    name = "identity_field"
    group = "none (baseline: not invariant)"
    lossless = True
    invariant = False  # the contract check requires it to move under C_N shifts / SO(2) rotations
    layouts = ("regular", "irreps", "vector")

    @classmethod
    def examples(cls) -> list["IdentityField"]:
        """The layouts a group acts on (a ``vector`` latent has no action to be non-invariant to)."""
        return [cls(layout="regular"), cls(layout="irreps")]

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return z.reshape(z.shape[0], -1)
