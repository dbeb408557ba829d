"""Sort every latent channel independently along the node axis.

Invariant for any number of channels, and equal to :mod:`sort` for one channel.  With
d > 1 channels it forgets which values belonged to the same node: ``[[0, 0], [1, 1]]``
and ``[[0, 1], [1, 0]]`` lie in different orbits but project to the same point, so it
is lossy (it is a contraction of the quotient metric, never expanding distances).
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.node_projection import NodeProjection, node_mask, zero_padding


class ChannelSort(NodeProjection):
    """Per-channel ascending sort of ``z [batch, nodes, channels]``.  Group: S_n.  Lossy for channels > 1.

    With ``meta["mask"]`` a padding slot is a node of latent 0, sorted in with the real ones in
    every channel (as in :class:`~eqlatent.projections.sort.Sort`).
    """

    name = "channel_sort"
    lossless = False          # lossless only in the special case of one channel
    isometric = False
    cross_section = False

    def lossless_for(self, latent_dim: int) -> bool:
        """Lossless (and then equal to ``sort``) only with one channel per node."""
        return latent_dim == 1

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        z = zero_padding(z, node_mask(z, meta))
        return torch.sort(z, dim=1).values.reshape(z.shape[0], -1)
