"""The contract every invariant projection follows.

An equivariant encoder returns a latent ``z`` that is only defined up to a group action
``g . z`` (node order, rotation).  An invariant projection ``pi`` maps every point of an
orbit to the same value, ``pi(g . z) == pi(z)``, so downstream tools (probes, PCA,
interpolation) stop confusing "the same" latents.  A projection is *lossless* when it is
injective on orbits (two latents in different orbits never collide); it is an *isometric
cross-section* when, additionally, ``||pi(z1) - pi(z2)||`` equals the quotient distance
``min_g ||z1 - g . z2||``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Mapping

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError

Meta = Mapping[str, Tensor]


class InvariantProjection(ABC):
    """Map a batch of equivariant latents to group-invariant vectors.

    Subclasses set the class attributes below and implement :meth:`project`.

    Attributes
    ----------
    name:
        Short identifier used in configs, tables and plots.
    group:
        Which group action the projection removes, in words (e.g. ``"S_n: node
        permutations"`` or ``"C_N: cyclic shifts of the regular representation"``).
    lossless:
        True when the projection is injective on orbits for the latent layout it
        documents.  Tests check this claim.
    latent_ndim:
        Number of dimensions the batched latent must have (batch axis included).
    """

    name: str = "base"
    group: str = "unspecified"
    lossless: bool = False
    latent_ndim: int = 3

    def __call__(self, z: Tensor, meta: Meta | None = None) -> Tensor:
        """Check the latent's layout, then project it; returns ``[batch, features]``."""
        self.check_latent(z)
        return self.project(z, meta or {})

    def check_latent(self, z: Tensor) -> None:
        """Raise :class:`LatentShapeError` (one line) if ``z`` has the wrong layout."""
        if not isinstance(z, Tensor):
            raise LatentShapeError(
                f"projection '{self.name}' got a {type(z).__name__}, not a torch.Tensor",
                "pass the latent as a tensor (torch.as_tensor(z))",
            )
        if z.ndim != self.latent_ndim:
            raise LatentShapeError(
                f"projection '{self.name}' needs a latent with {self.latent_ndim} dims "
                f"{self.layout()}, got shape {tuple(z.shape)}",
                "reshape the latent to that layout or pick a projection made for it",
            )
        if not torch.is_floating_point(z):
            raise LatentShapeError(
                f"projection '{self.name}' needs a floating-point latent, got {z.dtype}",
                "cast with z.float()",
            )

    def layout(self) -> str:
        """Human-readable latent layout, used in error messages."""
        return "[batch, ...]"

    @abstractmethod
    def project(self, z: Tensor, meta: Meta) -> Tensor:
        """Return the invariant ``[batch, features]`` tensor for a checked latent."""

    def __repr__(self) -> str:
        kind = "lossless" if self.lossless else "lossy"
        return f"{type(self).__name__}(name={self.name!r}, group={self.group!r}, {kind})"
