"""Lexicographic sort of the node rows: lossless for any number of channels, but not isometric.

Rows ``z_i`` (one per node) are ordered by channel 0, ties broken by channel 1, and so
on.  The output is a permutation of the input's rows, i.e. a member of the same orbit,
so two latents project to the same point only if they are in the same orbit (lossless,
a cross-section).  But the chosen representatives need not be optimally aligned: two
latents whose rows differ slightly in channel 0 can be sorted into different orders, so
``||lex(z1) - lex(z2)||`` can be far larger than ``min_P ||z1 - P z2||``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.node_projection import NodeProjection, gather_nodes, node_mask, zero_padding


class LexSort(NodeProjection):
    """Lexicographic row sort of ``z [batch, nodes, channels]``.  Group: S_n.  Lossless cross-section, not isometric.

    With ``meta["mask"]`` a padding row is a node of latent 0, sorted in with the real ones (as in
    :class:`~eqlatent.projections.sort.Sort`: the zero-padded quotient's convention).
    """

    name = "lex_sort"
    lossless = True
    isometric = False
    cross_section = True

    def sorting_permutation(self, z: Tensor, meta: Meta | None = None) -> Tensor:
        """``perm [B, n]`` with ``project(z)[b] == z[b, perm[b]].flatten()``."""
        self.check_latent(z)
        z = zero_padding(z, node_mask(z, meta or {}))
        d = z.shape[-1]
        keys = [z[..., k] for k in range(d)]
        # stable sorts from the least to the most significant key give the lexicographic order
        perm = torch.sort(keys[d - 1], dim=1, stable=True).indices
        for k in reversed(range(d - 1)):
            perm = torch.gather(perm, 1, torch.sort(torch.gather(keys[k], 1, perm), dim=1, stable=True).indices)
        return perm

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        z = zero_padding(z, node_mask(z, meta))   # padding zeroed once; the permutation then needs no mask
        return gather_nodes(z, self.sorting_permutation(z)).reshape(z.shape[0], -1)
