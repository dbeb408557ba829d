"""Group pooling of regular fields by their mean: invariant, lossy.

As :mod:`~eqlatent.projections.group_pool_max`, with the mean over each regular field's channels
(the field's component along the trivial representation, scaled).
"""

from __future__ import annotations

from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.group_pool_max import GroupPoolMax


class GroupPoolMean(GroupPoolMax):
    """``[batch, D]`` / ``[batch, fields, N] -> [batch, fields]``: mean over each regular field.  Group: C_N / finite.  Lossy."""

    name = "group_pool_mean"

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return self.action_for(z).regular_fields(z.flatten(1)).mean(dim=-1)
