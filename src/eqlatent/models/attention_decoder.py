"""A set-attention graph decoder: per-node latents -> node classes and bonds, permutation-equivariant.

Why it replaced the Maron decoder in the profiles: to rebuild a graph from one number
per node, each node has to find its partners among the other nodes' numbers.  Self-attention
without positions compares every node with every other directly, at node cost, whereas the
Maron 1->2 / 2->2 stack has to carry that comparison through narrow pair tensors.  Bonds
are then read from symmetric pair features ``[h_i + h_j, h_i * h_j]``, so the decoded bond
matrix is symmetric by construction.  No positional encoding and a per-pair head that
treats every pair alike keep ``decoder(P z) = P decoder(z) P^T``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class AttentionBlock(nn.Module):
    """Pre-norm transformer block over the node set (no positions, so permutation-equivariant)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm_attention = nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, h: Tensor) -> Tensor:
        x = self.norm_attention(h)
        h = h + self.attention(x, x, x, need_weights=False)[0]
        return h + self.mlp(self.norm_mlp(h))


class AttentionDecoder(nn.Module):
    """Node features ``[B, n, F]`` -> node-class logits ``[B, n, A + 1]`` and bond logits ``[B, n, n, K + 1]``.

    ``features`` maps each latent to the decoder's input (e.g.
    :class:`eqlatent.models.graph_vae.RadialFeatures`); ``n_in`` is its output size.
    """

    def __init__(self, features: nn.Module, n_in: int, width: int, n_layers: int, n_node_classes: int,
                 n_bond_classes: int, heads: int = 4) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"attention width {width} is not a multiple of {heads} heads; "
                             f"pick a width divisible by {heads}")
        self.features = features
        self.embed = nn.Linear(n_in, width)
        self.blocks = nn.ModuleList([AttentionBlock(width, heads) for _ in range(n_layers)])
        self.norm = nn.LayerNorm(width)
        self.node_head = nn.Linear(width, n_node_classes)
        self.bond_head = nn.Sequential(nn.Linear(2 * width, width), nn.GELU(), nn.Linear(width, n_bond_classes))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        h = self.embed(self.features(z))
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        hi, hj = h.unsqueeze(2), h.unsqueeze(1)
        return self.node_head(h), self.bond_head(torch.cat([hi + hj, hi * hj], dim=-1))
