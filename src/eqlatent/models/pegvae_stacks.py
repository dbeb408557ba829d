"""The first author's PEGVAE stacks: each Maron layer followed by two 1x1 convolutions with instance norm.

Why a variant of its own: the paper's graph VAE is the first author's PEGVAE (public in
abildtrup/latent-graph-counterfactuals, ``models/encoders.py`` and ``decoders.py``; its
QM9 setting ``config/model/QM9PEGVAE.yaml`` uses ``filter_channels: 20``).  The ``paper``
profile follows it, so that profile's numbers are about the author's model and not about
our wider stacks (:class:`eqlatent.models.graph_vae.GraphEncoder`).

What is the author's here:

* every equivariant linear layer is followed by LeakyReLU and twice (1x1 convolution,
  LeakyReLU, InstanceNorm): a 1x1 convolution on a channels-last tensor is a ``Linear``,
  and the instance norm normalises each channel of each graph over all its node slots
  (or pairs), without learned scale, as ``nn.InstanceNorm1d/2d`` do by default;
* the encoder: node classes -> 1->2 block; its pairs with the bond one-hots appended ->
  2->2 block -> 2->2 block; mean and log-variance each from their own 2->1 layer +
  LeakyReLU + 1x1 convolution;
* the decoder's pair path starts from the outer product of the node latents
  (``z_i . z_j``) and runs two 2->2 blocks.

What stays ours, and why: the decoder ends in one softmax over node classes (empty
included) and one over bond classes (no bond included), where the author's has four
heads (node present, node class given presence, bond present, bond class given a bond),
trained with the true presence masks as inputs.  The study's reconstruction scores,
valence-aware decoding and decodability all read the joint class logits of
:meth:`eqlatent.models.graph_vae.GraphVAE.decode`, which needs no mask at decoding time.

Every piece acts on all node slots alike, so both stacks are S_n-equivariant (tests).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eqlatent.models.permutation_layers import (Equivariant1to1, Equivariant1to2, Equivariant2to1, Equivariant2to2,
                                               node_diagonal)


def instance_norm(x: Tensor, node_axes: tuple[int, ...], eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each graph over its node slots (``node_axes``), as ``nn.InstanceNorm`` does."""
    var, mean = torch.var_mean(x, dim=node_axes, keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + eps)


class PegvaeBlock(nn.Module):
    """``layer`` -> LeakyReLU -> twice (1x1 convolution, LeakyReLU, InstanceNorm over the node axes)."""

    def __init__(self, layer: nn.Module, channels: int, pair: bool) -> None:
        super().__init__()
        self.layer = layer
        self.convs = nn.ModuleList([nn.Linear(channels, channels) for _ in range(2)])
        self.node_axes = (1, 2) if pair else (1,)

    def forward(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(self.layer(x))
        for conv in self.convs:
            x = instance_norm(F.leaky_relu(conv(x)), self.node_axes)
        return x


class PegvaeEncoder(nn.Module):
    """One-hot pair tensor ``[B, n, n, K + A + 1]`` -> ``(mu, logvar)``, each ``[B, n, latent_dim]``.

    The input is :func:`eqlatent.models.graph_vae.pair_input`'s (bond one-hots in the first
    ``K`` channels, node classes with empty = 0 on the diagonal), so this encoder is a
    drop-in for the others.  The author's node input is a presence bit beside the atom
    one-hot; the class one-hot with an "empty" class carries the same information.
    """

    def __init__(self, n_bond_types: int, n_node_classes: int, channels: int, latent_dim: int) -> None:
        super().__init__()
        self.n_bond_types = n_bond_types
        self.nodes_to_pairs = PegvaeBlock(Equivariant1to2(n_node_classes, channels), channels, pair=True)
        self.pair_blocks = nn.ModuleList([
            PegvaeBlock(Equivariant2to2(channels + n_bond_types, channels), channels, pair=True),
            PegvaeBlock(Equivariant2to2(channels, channels), channels, pair=True)])
        self.to_mu = Equivariant2to1(channels, channels)
        self.to_logvar = Equivariant2to1(channels, channels)
        self.mu_head = nn.Linear(channels, latent_dim)
        self.logvar_head = nn.Linear(channels, latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k = self.n_bond_types
        classes = node_diagonal(x[..., k:])      # [B, n, A + 1]
        h = torch.cat([self.nodes_to_pairs(classes), x[..., :k]], dim=-1)
        for block in self.pair_blocks:
            h = block(h)
        mu = self.mu_head(F.leaky_relu(self.to_mu(h)))
        logvar = self.logvar_head(F.leaky_relu(self.to_logvar(h)))
        return mu, logvar.clamp(-10.0, 6.0)


class PegvaeDecoder(nn.Module):
    """Per-node features ``[B, n, F]`` of the latent -> node-class logits ``[B, n, A+1]``, bond logits ``[B, n, n, K+1]``.

    ``features``: the decoder's input map of each latent number
    (:func:`eqlatent.models.graph_vae.latent_features`); the pair path reads the outer
    product of the raw latents, as the author's adjacency decoder does.
    """

    def __init__(self, features: nn.Module, n_features: int, channels: int, n_node_classes: int,
                 n_bond_classes: int) -> None:
        super().__init__()
        self.features = features
        self.node_block = PegvaeBlock(Equivariant1to1(n_features, channels), channels, pair=False)
        self.node_head = nn.Linear(channels, n_node_classes)
        self.pair_blocks = nn.ModuleList([
            PegvaeBlock(Equivariant2to2(1, channels), channels, pair=True),
            PegvaeBlock(Equivariant2to2(channels, channels), channels, pair=True)])
        self.bond_head = nn.Linear(channels, n_bond_classes)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        node_logits = self.node_head(self.node_block(self.features(z)))
        h = (z @ z.transpose(1, 2)).unsqueeze(-1)                                  # [B, n, n, 1]: z_i . z_j
        for block in self.pair_blocks:
            h = block(h)
        bond_logits = self.bond_head(h)
        return node_logits, 0.5 * (bond_logits + bond_logits.transpose(1, 2))     # undirected bonds
