"""Group pooling of regular fields: max or mean over each field's group axis.

The invariant map escnn's ``GroupPooling`` applies before a classifier head.  In a regular
field the channels are the group elements and the group permutes them, so any symmetric
function of a field's channels is invariant.  It keeps one number per field out of |G|,
so it is invariant but lossy: every ordering of the group axis with the same maximum (or
mean) collides.  Only regular fields have a group axis to pool over.

:func:`pool_regular` is the one implementation, used by the studies' :class:`GroupPool`
(``[B, C, N]`` C_N latents) and by ``eqlatent.invariant_projection(field_type, "group_pool_max")``
(or ``"group_pool_mean"``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups.actions import FieldAction
from eqlatent.groups.layouts import regular_action
from eqlatent.projections.base import Meta
from eqlatent.projections.image_latent import ImageLatentProjection


def pool_regular(action: FieldAction, z: Tensor, mode: str = "max") -> Tensor:
    """``[B, D] -> [B, fields]``: max / mean over each regular field's channels (every field must be regular)."""
    if any(not fk.regular for fk in action.kinds):
        raise ConfigError(f"group pooling needs regular fields only, but this {action.name} latent has "
                          f"{', '.join(sorted({fk.name for fk in action.kinds if not fk.regular}))} fields",
                          "use method='norm' or 'random_invariant' for a mix of field types")
    index = torch.cat([fk.index for fk in action.kinds])
    index = index[index[:, 0].argsort()].to(z.device)  # fields in channel order
    fields = z[:, index]
    return fields.amax(dim=-1) if mode == "max" else fields.mean(dim=-1)


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

    @classmethod
    def examples(cls) -> list["GroupPool"]:
        return [cls(mode) for mode in ("max", "mean")]

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return pool_regular(regular_action(z.shape[1], z.shape[2]), z.flatten(1), self.mode)
