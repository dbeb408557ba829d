"""Shared layout handling for projections of image latents (C_N / SO(2) fields, plain CNN).

An image encoder's latent comes in one of the layouts of
:mod:`eqlatent.groups.layouts`; a projection declares which layouts it can
handle (``layouts``) and is built for one of them (``layout=...``), so a config that
pairs a projection with an encoder it cannot serve fails with a one-line error instead
of returning numbers that mean nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups.layouts import LAYOUTS
from eqlatent.projections.base import InvariantProjection

_SHAPES = {
    "regular": "[batch, fields, N] (regular representation of C_N)",
    "irreps": "[batch, fields, 1 + 2L] (SO(2) irreps 0..L)",
    "vector": "[batch, features] (plain CNN)",
    "orbit": "[batch, M, features] (plain CNN on M rotated copies of the input)",
}
_NDIM = {"regular": 3, "irreps": 3, "vector": 2, "orbit": 3}
#: shape of :meth:`ImageLatentProjection.example_latent` per layout (C_8 regular, L = 3 irreps, M = 4 copies)
_EXAMPLE_SHAPES = {"regular": (6, 3, 8), "irreps": (6, 3, 7), "vector": (6, 10), "orbit": (6, 4, 10)}


class ImageLatentProjection(InvariantProjection):
    """Base for image-latent projections; ``layouts`` lists what a subclass supports."""

    layouts: tuple[str, ...] = ()

    def __init__(self, layout: str | None = None) -> None:
        layout = layout or self.layouts[0]
        if layout not in LAYOUTS:
            raise ConfigError(f"unknown latent layout '{layout}'", f"use one of {', '.join(LAYOUTS)}")
        if layout not in self.layouts:
            raise ConfigError(f"projection '{self.name}' cannot handle '{layout}' latents",
                              f"use it with {' or '.join(self.layouts)} latents only")
        self.latent_layout = layout
        self.latent_ndim = _NDIM[layout]

    @classmethod
    def supports(cls, layout: str) -> bool:
        """Whether this projection can be built for latents of ``layout``."""
        return layout in cls.layouts

    def layout(self) -> str:
        return _SHAPES[self.latent_layout]

    @classmethod
    def examples(cls) -> list["ImageLatentProjection"]:
        """One instance per supported layout."""
        return [cls(layout=layout) for layout in cls.layouts]

    def example_latent(self, generator: torch.Generator) -> Tensor:
        """A float64 latent of this layout (``_EXAMPLE_SHAPES``)."""
        return torch.randn(*_EXAMPLE_SHAPES[self.latent_layout], generator=generator, dtype=torch.float64)

    def group_sampler(self, z: Tensor):
        """regular: C_N rolls of the last axis; irreps: random SO(2) angles; orbit: C_M rolls of axis 1."""
        from eqlatent.groups.samplers import cyclic_shift_sampler, so2_irreps_sampler

        if self.latent_layout == "regular":
            return cyclic_shift_sampler(z.shape[-1], axis=-1)
        if self.latent_layout == "orbit":
            return cyclic_shift_sampler(z.shape[1], axis=1)
        if self.latent_layout == "irreps":
            return so2_irreps_sampler()
        raise NotImplementedError(f"a '{self.latent_layout}' latent has no group action on it (the group acts on "
                                  f"the input only); leave that layout out of {type(self).__name__}.examples()")


def check_irreps_size(name: str, z: Tensor) -> int:
    """Band limit ``L`` of an irreps latent, or a one-line :class:`LatentShapeError`."""
    from eqlatent.errors import LatentShapeError

    d = z.shape[-1]
    if (d - 1) % 2:
        raise LatentShapeError(f"projection '{name}' needs irreps fields of size 1 + 2L, got {d}",
                               "pass the SO(2) latent [batch, fields, 1 + 2L] unchanged")
    return (d - 1) // 2
