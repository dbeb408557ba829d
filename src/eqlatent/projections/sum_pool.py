"""Sum over nodes: invariant, always lossy.

The usual way to get a graph-level vector (:mod:`~eqlatent.projections.mean_pool` and
:mod:`~eqlatent.projections.max_pool` are its siblings).  It keeps ``d`` numbers of an ``n x d``
latent, so different molecules collide; the pools are here to show how much that costs next to the
lossless sorting projections.  From node rows with a batch vector it needs no dense layout: a
scatter-sum over ``batch``, ``d`` wide whatever the graph sizes.
"""

from __future__ import annotations

from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.node_projection import NodeProjection, node_mask


class SumPool(NodeProjection):
    """Sum over (real) nodes, ``[batch, nodes, d] -> [batch, d]``.  Group: S_n.  Lossy."""

    name = "sum_pool"
    lossless = False
    keeps_nodes = False

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        mask = node_mask(z, meta)
        return z.sum(1) if mask is None else (z * mask.unsqueeze(-1).to(z.dtype)).sum(1)

    def pool_rows(self, x: Tensor, batch: Tensor, counts: Tensor) -> Tensor:
        return x.new_zeros(len(counts), x.shape[1]).index_add_(0, batch, x)
