"""A message-passing graph encoder: pair tensor -> per-node posterior, permutation-equivariant.

Why it replaced the Maron 2->2 encoder in the profiles: every 2->2 layer mixes 15 basis
operations on all ``n^2`` pairs, so most of its compute goes into pairs that are not
bonds.  Messages along the bonds themselves (one weight matrix per bond type) plus a
graph-mean context reach the same per-node codes at node cost and, measured on QM9 at
latent_dim 1, reconstruct 21 % of test molecules exactly after 3 epochs where the Maron
encoder/decoder pair reached 6 % after 4 (README, Profiles).  Sums over bonds and means
over nodes treat every slot alike, so ``encoder(P x) = P encoder(x)`` for any node
permutation ``P``; the per-node latent keeps the ambiguity claim 1 is about.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eqlatent.models.permutation_layers import node_diagonal


class MessagePassingEncoder(nn.Module):
    """One-hot pair tensor ``[B, n, n, K + A + 1]`` -> ``(mu, logvar)``, each ``[B, n, latent_dim]``.

    The pair tensor is :func:`eqlatent.models.graph_vae.pair_input`'s: bond one-hots off the
    diagonal (first ``K`` channels), node classes (empty = 0) on it.  Each round adds to a
    node ``sum_k sum_j A^k_ij W_k h_j`` (its bonded neighbours, per bond type) and a linear
    map of the graph mean, then a pre-norm MLP update with a residual connection.
    """

    def __init__(self, n_bond_types: int, n_node_classes: int, width: int, n_layers: int, latent_dim: int) -> None:
        super().__init__()
        self.n_bond_types = n_bond_types
        self.embed = nn.Linear(n_node_classes, width)
        self.messages = nn.ModuleList([nn.Linear(width, width * n_bond_types) for _ in range(n_layers)])
        self.context = nn.ModuleList([nn.Linear(width, width) for _ in range(n_layers)])
        self.updates = nn.ModuleList([
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
            for _ in range(n_layers)])
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(),
                                  nn.Linear(width, 2 * latent_dim))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k = self.n_bond_types
        bonds = x[..., :k]                                                     # [B, n, n, K]
        classes = node_diagonal(x[..., k:])   # [B, n, A + 1] one-hot
        h = self.embed(classes)
        for message, context, update in zip(self.messages, self.context, self.updates):
            per_type = message(h).unflatten(-1, (k, -1))                       # [B, n, K, W]
            incoming = torch.einsum("bijk,bjkw->biw", bonds, per_type)
            h = h + update(h + incoming + context(h.mean(dim=1, keepdim=True)))
        mu, logvar = self.head(h).chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 6.0)
