"""The naive baseline: the equivariant latent itself, flattened.

Not invariant: permuting the nodes (or acting with any group element) changes it.  It
is in the tables so every invariant projection is compared with what a user would get
by feeding the raw latent to PCA or a probe.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError
from eqlatent.projections.base import InvariantProjection, Meta


class Identity(InvariantProjection):
    """Flatten ``z [batch, ...]`` to ``[batch, features]``.  Group: none removed (NOT invariant); lossless.

    It keeps everything, including the arbitrary choice of orbit representative that the
    invariant projections remove.
    """

    name = "identity"
    group = "none (baseline: not invariant)"
    lossless = True
    invariant = False  # the contract check requires it to move under node permutations

    def layout(self) -> str:
        return "[batch, ...] (at least 2 dims)"

    def check_latent(self, z: Tensor) -> None:
        if not isinstance(z, Tensor) or z.ndim < 2 or not torch.is_floating_point(z):
            got = f"shape {tuple(z.shape)}, {z.dtype}" if isinstance(z, Tensor) else type(z).__name__
            raise LatentShapeError(f"projection 'identity' needs a floating-point [batch, ...] tensor, got {got}",
                                   "pass the latent as a float tensor with a batch axis")

    def applies_to(self, latent_dim: int) -> bool:
        return True

    def example_latent(self, generator: torch.Generator) -> Tensor:
        """A node latent ``[8, 9, 3]`` (float64), the molecules study's use of this baseline."""
        return torch.randn(8, 9, 3, generator=generator, dtype=torch.float64)

    def group_sampler(self, z: Tensor):
        """Node permutations: the action this baseline does NOT remove."""
        from eqlatent.groups.samplers import node_permutation_sampler

        return node_permutation_sampler()

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return z.reshape(z.shape[0], -1)
