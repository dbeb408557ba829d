"""Random invariant projections: K random linear functionals made invariant by a max over the group.

The paper's claim 2: such projections keep a high degree of the latent's information.
For ``w_i`` drawn at random (fixed seed), ``f_i(z) = max_g <w_i, g . z>`` is invariant
because the max runs over the whole orbit.  With ``reduce="sort"`` the sorted vector of
``<w_i, g . z>`` over g is kept instead of its maximum (N numbers per functional, still
invariant).  Outputs are scaled by ``sqrt(D / K)`` (D = latent size) so that their
distances stay on the latent's scale for every K.  Over C_N the max is exact (all N shifts);
over SO(2) it runs over ``n_angles`` equally spaced rotations, which makes the
projection invariant under that subgroup exactly and under SO(2) up to the grid error
(the max of a band-limited trigonometric polynomial of degree L sampled at spacing
``2pi/n_angles``).

Why the scores are computed the way they are (cost, issue 7's "< 2% of the encoder"):
``<w, g . z> = <g^-1 . w, z>``, so the group acts on the fixed functionals once, not on
every latent.  Over C_N all ``K * N`` shifted functionals form one matrix and the
scores are one matrix product.  Over SO(2) ``theta -> <w, R(theta) z>`` is a
trigonometric polynomial of degree L, fixed by its values at ``2L + 1`` equally spaced
angles; the latent meets only those ``2L + 1`` rotated copies of each functional and
the ``n_angles`` grid values follow by exact trigonometric interpolation (a
``[2L+1, n_angles]`` Dirichlet-kernel matrix).  Scores are computed in the latent's own
dtype (float32 latents: invariance to ~1e-6, see ``tests/test_projections_group.py``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.models.field_actions import irreps_max_frequency, rotate_irreps
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
        self._score_maps: dict[tuple, tuple[Tensor, Tensor | None]] = {}

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
            self._score_maps = {}
        return self._weights

    def _score_map(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(A [C*D, M*K], E [G, M] or None)``: ``<w_k, g . z>`` = ``E @ (z.flatten(1) @ A).view(B, M, K)``.

        Cached per field shape, dtype and device.  Regular fields: ``M = G = N`` shifts and
        no ``E``.  Irreps fields: ``M = 2L + 1`` interpolation nodes, ``G = n_angles``.
        Group-major columns (g outer, k inner) make the max over g a reduction over
        contiguous rows of K values, about a third faster than a max along the last axis.
        """
        key = (tuple(z.shape[1:]), z.dtype, z.device)
        if key not in self._score_maps:
            w = self.weights(tuple(z.shape[1:]))  # float64 [K, C, D]
            if self.latent_layout == "irreps":
                big_l = irreps_max_frequency(z.shape[-1])
                nodes = torch.arange(2 * big_l + 1, dtype=torch.float64) * (2 * math.pi / (2 * big_l + 1))
                moved = [rotate_irreps(w, -t) for t in nodes]  # <R(-t) w, z> = <w, R(t) z>
                grid = torch.arange(self.n_angles, dtype=torch.float64) * (2 * math.pi / self.n_angles)
                diff = grid[None, :] - nodes[:, None]  # [M, G]
                freqs = torch.arange(1, big_l + 1, dtype=torch.float64).view(-1, 1, 1)
                interp = ((1 + 2 * torch.cos(freqs * diff).sum(0)) / len(nodes)).T  # Dirichlet kernel [G, M]
            else:
                moved = [torch.roll(w, -g, dims=-1) for g in range(z.shape[-1])]  # <roll(w, -g), z> = <w, roll(z, g)>
                interp = None
            a = torch.stack(moved).reshape(len(moved) * w.shape[0], -1).T  # [(c,d), (m,k)]
            self._score_maps[key] = (a.to(z.dtype).to(z.device).contiguous(),
                                     None if interp is None else interp.to(z.dtype).to(z.device).contiguous())
        return self._score_maps[key]

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        if self.latent_layout == "irreps":
            check_irreps_size(self.name, z)
        w = self.weights(tuple(z.shape[1:]))
        a, interp = self._score_map(z)
        scores = (z.flatten(1) @ a).view(z.shape[0], -1, self.n_functionals)  # [B, M, K]: <w_k, g.z> (at the nodes)
        if interp is not None:
            scores = interp @ scores  # [B, G, K]
        out = scores.amax(1) if self.reduce == "max" else scores.sort(1).values.transpose(1, 2).flatten(1)
        # Johnson-Lindenstrauss scale: with unit random w_i, E sum_i <w_i, x>^2 = (K / D) ||x||^2, so
        # sqrt(D / K) keeps distances on the latent's own scale whatever K is (rel_error is comparable)
        return out * (w[0].numel() / self.n_functionals) ** 0.5
