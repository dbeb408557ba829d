"""Random invariant projections: K random linear functionals made invariant by a max over the group.

The paper's claim 2: such projections keep a high degree of the latent's information.
For ``w_i`` drawn at random (fixed seed), ``f_i(z) = max_g <w_i, g . z>`` is invariant
because the max runs over the whole orbit.  With ``reduce="sort"`` the sorted vector of
``<w_i, g . z>`` over g is kept instead of its maximum (N numbers per functional, still
invariant).  Outputs are scaled by ``sqrt(D / K)`` (D = latent size) so that their
distances stay on the latent's scale for every K.  Over C_N the max is exact (all N shifts, batched as one matrix product);
over SO(2) it runs over ``n_angles`` equally spaced rotations, which makes the
projection invariant under that subgroup exactly and under SO(2) up to the grid error
(the max of a band-limited trigonometric polynomial of degree L sampled at spacing
``2pi/n_angles``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.models.field_actions import all_irreps_rotations, all_rolls
from eqlatent.projections.base import Meta
from eqlatent.projections.image_latent import ImageLatentProjection, check_irreps_size


class RandomInvariant(ImageLatentProjection):
    """``[B, C, N or 1+2L] -> [B, K]`` (max) or ``[B, K*|G|]`` (sort).  Group: C_N or SO(2).  Lossy for small K.

    Parameters
    ----------
    n_functionals:
        K, the number of random functionals (``None``: set later with :meth:`with_k`, the
        study uses the latent dimension).
    seed:
        Seed of the functionals; the same seed gives the same projection.
    reduce:
        ``"max"`` or ``"sort"`` over the group orbit.
    n_angles:
        Rotations sampled for SO(2) irreps latents.
    """

    group = "C_N shifts of regular fields / SO(2) rotations of irreps fields (sampled)"
    lossless = False
    layouts = ("regular", "irreps")

    def __init__(self, n_functionals: int | None = None, seed: int = 0, reduce: str = "max", n_angles: int = 64,
                 layout: str | None = None) -> None:
        if reduce not in ("max", "sort"):
            raise ConfigError(f"unknown reduce '{reduce}' for random_invariant", "use reduce: max or reduce: sort")
        if n_functionals is not None and int(n_functionals) < 1:
            raise ConfigError(f"random_invariant needs n_functionals >= 1, got {n_functionals}", "set a positive K")
        super().__init__(layout)
        self.n_functionals = None if n_functionals is None else int(n_functionals)
        self.seed, self.reduce, self.n_angles = int(seed), reduce, int(n_angles)
        self.name = "random_invariant" if reduce == "max" else "random_invariant_sort"
        self._weights: Tensor | None = None

    def with_k(self, k: int) -> "RandomInvariant":
        """A copy of this projection with ``K = k`` functionals (same seed, layout, reduce)."""
        return RandomInvariant(k, self.seed, self.reduce, self.n_angles, self.latent_layout)

    def weights(self, field_shape: tuple[int, int]) -> Tensor:
        """The ``[K, C, D]`` functionals, drawn once per field shape from ``seed`` (unit norm)."""
        if self.n_functionals is None:
            raise ConfigError("random_invariant has no K", "set n_functionals or call with_k(K)")
        if self._weights is None or tuple(self._weights.shape[1:]) != tuple(field_shape):
            gen = torch.Generator().manual_seed(self.seed)
            w = torch.randn(self.n_functionals, *field_shape, generator=gen, dtype=torch.float64)
            self._weights = w / w.flatten(1).norm(dim=1).view(-1, 1, 1)
        return self._weights

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        if self.latent_layout == "irreps":
            check_irreps_size(self.name, z)
            orbit = all_irreps_rotations(z.double(), self.n_angles)  # [B, G, C, D]
        else:
            orbit = all_rolls(z.double())  # [B, N, C, N]
        w = self.weights(tuple(z.shape[1:]))
        scores = torch.einsum("bgcd,kcd->bkg", orbit, w)  # <w_k, g.z>
        out = scores.amax(-1) if self.reduce == "max" else scores.sort(-1).values.flatten(1)
        # Johnson-Lindenstrauss scale: with unit random w_i, E sum_i <w_i, x>^2 = (K / D) ||x||^2, so
        # sqrt(D / K) keeps distances on the latent's own scale whatever K is (rel_error is comparable)
        return (out * (w[0].numel() / self.n_functionals) ** 0.5).to(z.dtype)
