"""Group pooling of regular fields by their maximum: escnn's ``GroupPooling``.

The invariant map escnn's ``GroupPooling`` applies before a classifier head.  In a regular
field the channels are the group elements and the group permutes them, so any symmetric
function of a field's channels is invariant.  It keeps one number per field out of |G|,
so it is invariant but lossy: every ordering of the group axis with the same maximum
collides.  Only regular fields have a group axis to pool over (a field type with other
fields is a one-line error at construction).  :mod:`~eqlatent.projections.group_pool_mean`
is the same with the mean.
"""

from __future__ import annotations

from torch import Tensor

from eqlatent.groups.actions import FieldAction
from eqlatent.projections.base import Meta
from eqlatent.projections.field_projection import FieldProjection


class GroupPoolMax(FieldProjection):
    """``[batch, D]`` / ``[batch, fields, N] -> [batch, fields]``: max over each regular field.  Group: C_N / finite.  Lossy."""

    name = "group_pool_max"
    group = "C_N (any finite group): its action on regular fields"
    lossless = False
    layouts = ("regular", "field_type")
    regular_only = True

    @classmethod
    def example_field_types(cls) -> tuple[str, ...]:
        """Regular fields only: of a cyclic and of a dihedral group."""
        return ("C8: 3 regular", "D4: 2 regular")

    def width(self, action: FieldAction) -> int:
        """One number per regular field."""
        return sum(fk.index.shape[0] for fk in action.kinds)

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return self.action_for(z).regular_fields(z.flatten(1)).amax(dim=-1)
