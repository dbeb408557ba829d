"""Sum, mean and max pooling over nodes: invariant, always lossy.

The usual way to get a graph-level vector.  They keep ``d`` numbers of an ``n x d``
latent, so different molecules collide; they are here to show how much that costs
next to the lossless sorting projections.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.node_latent import NodeLatentProjection, node_mask


class SumPool(NodeLatentProjection):
    """Sum over (real) nodes, ``[batch, nodes, d] -> [batch, d]``.  Group: S_n.  Lossy."""

    name = "sum_pool"
    lossless = False

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        mask = node_mask(z, meta)
        return z.sum(1) if mask is None else (z * mask.unsqueeze(-1).to(z.dtype)).sum(1)


class MeanPool(NodeLatentProjection):
    """Mean over (real) nodes, ``[batch, nodes, d] -> [batch, d]``.  Group: S_n.  Lossy."""

    name = "mean_pool"
    lossless = False

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        mask = node_mask(z, meta)
        if mask is None:
            return z.mean(1)
        w = mask.unsqueeze(-1).to(z.dtype)
        return (z * w).sum(1) / w.sum(1).clamp(min=1.0)


class MaxPool(NodeLatentProjection):
    """Maximum over (real) nodes, ``[batch, nodes, d] -> [batch, d]``.  Group: S_n.  Lossy."""

    name = "max_pool"
    lossless = False

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        mask = node_mask(z, meta)
        if mask is None:
            return z.amax(1)
        out = z.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        return out.masked_fill(~mask.any(1, keepdim=True), 0.0)  # no real node: 0; NaN / inf of a latent stay
