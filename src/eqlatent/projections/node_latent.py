"""Shared layout handling for projections of per-node latents ``z [batch, nodes, channels]``.

Why a shared helper: every node-axis projection must treat padding the same way.  A
molecule with fewer atoms than slots has padding slots, and after a node permutation
they can sit anywhere; when ``meta["mask"]`` (``[batch, nodes]``, True = real node) is
given, padding slots are ignored by pooling and are nodes of latent 0 to the sorting
projections (sorted in with the real nodes: the zero-padded quotient's convention), so
the result does not depend on where the padding was.  Without
a mask every slot counts as a node (the graph VAE's case: its padding slots are an
"empty" node class with latents of their own).
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError
from eqlatent.projections.base import InvariantProjection, Meta


class NodeLatentProjection(InvariantProjection):
    """Base for projections of ``[batch, nodes, channels]`` latents under node permutations (S_n)."""

    group = "S_n: permutations of the node axis"
    latent_ndim = 3
    #: number of channels the projection is defined for (None = any)
    latent_channels: int | None = None

    def layout(self) -> str:
        ch = "channels" if self.latent_channels is None else f"{self.latent_channels} channel"
        return f"[batch, nodes, {ch}]"

    def check_latent(self, z: Tensor) -> None:
        super().check_latent(z)
        if self.latent_channels is not None and z.shape[-1] != self.latent_channels:
            raise LatentShapeError(
                f"projection '{self.name}' is defined for latents with {self.latent_channels} channel(s) per node, "
                f"got shape {tuple(z.shape)}",
                "use lex_sort or channel_sort for latents with several channels per node",
            )

    def applies_to(self, latent_dim: int) -> bool:
        """Whether this projection is defined for ``latent_dim`` channels per node."""
        return self.latent_channels is None or self.latent_channels == latent_dim

    def example_latent(self, generator: torch.Generator) -> Tensor:
        """``[8, 9, channels]`` float64 (3 channels unless the projection needs a fixed number)."""
        return torch.randn(8, 9, self.latent_channels or 3, generator=generator, dtype=torch.float64)

    def group_sampler(self, z: Tensor):
        """Random permutations of the node axis (axis 1)."""
        from eqlatent.groups.samplers import node_permutation_sampler

        return node_permutation_sampler()


def node_mask(z: Tensor, meta: Meta) -> Tensor | None:
    """The ``[batch, nodes]`` boolean mask from ``meta`` (None when absent), checked against ``z``."""
    mask = meta.get("mask") if meta else None
    if mask is None:
        return None
    mask = torch.as_tensor(mask, device=z.device)
    if mask.shape != z.shape[:2]:
        raise LatentShapeError(f"meta['mask'] has shape {tuple(mask.shape)} but the latent is {tuple(z.shape)}",
                               "pass a [batch, nodes] boolean mask matching the latent")
    return mask.bool()


def gather_nodes(z: Tensor, perm: Tensor) -> Tensor:
    """Reorder the node axis of ``z [B, n, d]`` by a per-molecule permutation ``perm [B, n]``."""
    return torch.gather(z, 1, perm.unsqueeze(-1).expand_as(z))


def zero_padding(z: Tensor, mask: Tensor | None) -> Tensor:
    """``z`` with padding slots set to 0 (unchanged without a mask)."""
    return z if mask is None else z * mask.unsqueeze(-1).to(z.dtype)
