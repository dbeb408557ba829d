"""Maximum over nodes: invariant, always lossy (as :mod:`~eqlatent.projections.sum_pool`, with the maximum)."""

from __future__ import annotations

from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.node_projection import NodeProjection, node_mask


class MaxPool(NodeProjection):
    """Maximum over (real) nodes, ``[batch, nodes, d] -> [batch, d]``.  Group: S_n.  Lossy."""

    name = "max_pool"
    lossless = False
    keeps_nodes = False

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        mask = node_mask(z, meta)
        if mask is None:
            return z.amax(1)
        out = z.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        return out.masked_fill(~mask.any(1, keepdim=True), 0.0)  # no real node: 0; NaN / inf of a latent stay

    def pool_rows(self, x: Tensor, batch: Tensor, counts: Tensor) -> Tensor:
        index = batch.unsqueeze(1).expand_as(x)
        return x.new_zeros(len(counts), x.shape[1]).scatter_reduce_(0, index, x, "amax", include_self=False)
