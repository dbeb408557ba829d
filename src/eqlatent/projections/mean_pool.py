"""Mean over nodes: invariant, always lossy (as :mod:`~eqlatent.projections.sum_pool`, divided by the node count)."""

from __future__ import annotations

from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.node_projection import NodeProjection, node_mask


class MeanPool(NodeProjection):
    """Mean over (real) nodes, ``[batch, nodes, d] -> [batch, d]``.  Group: S_n.  Lossy."""

    name = "mean_pool"
    lossless = False
    keeps_nodes = False

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        mask = node_mask(z, meta)
        if mask is None:
            return z.mean(1)
        w = mask.unsqueeze(-1).to(z.dtype)
        return (z * w).sum(1) / w.sum(1).clamp(min=1.0)

    def pool_rows(self, x: Tensor, batch: Tensor, counts: Tensor) -> Tensor:
        total = x.new_zeros(len(counts), x.shape[1]).index_add_(0, batch, x)
        return total / counts.clamp(min=1).unsqueeze(1).to(x.dtype)
