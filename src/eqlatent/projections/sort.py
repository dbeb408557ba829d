"""Sort along the node axis: the lossless, isometric cross-section for one number per node.

For ``z [B, n, 1]`` the sorted vector is a canonical member of the orbit ``{P z}``, and
``||sort(z1) - sort(z2)|| = min_P ||z1 - P z2||`` (the rearrangement inequality: pairing
sorted with sorted maximises the inner product).  So distances after sorting *are* the
quotient distances -- claim 1 of the paper.  The sorting permutation is returned by
:meth:`Sort.sorting_permutation`, so a decoder can be run on the sorted latent and its
output put back in the original node order.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.node_projection import NodeProjection, gather_nodes, node_mask, zero_padding


class Sort(NodeProjection):
    """Ascending sort of ``z [batch, nodes, 1]`` over nodes.  Group: S_n.  Lossless isometric cross-section.

    With ``meta["mask"]`` a padding slot is a node of latent 0, sorted in with the real ones: the
    result is then the isometric cross-section of the zero-padded quotient, the distance
    :func:`eqlatent.quotient_distance` and :func:`eqlatent.retention` compute between graphs of
    different sizes (padding placed last would not be isometric to it).
    """

    name = "sort"
    lossless = True
    isometric = True
    cross_section = True
    latent_channels = 1

    def sorting_permutation(self, z: Tensor, meta: Meta | None = None) -> Tensor:
        """``perm [B, n]`` with ``project(z)[b] == z[b, perm[b]].flatten()``; its argsort undoes the sort."""
        self.check_latent(z)
        key = zero_padding(z, node_mask(z, meta or {}))[..., 0]
        return torch.sort(key, dim=1, stable=True).indices

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        z = zero_padding(z, node_mask(z, meta))   # padding zeroed once; the permutation then needs no mask
        return gather_nodes(z, self.sorting_permutation(z)).reshape(z.shape[0], -1)
