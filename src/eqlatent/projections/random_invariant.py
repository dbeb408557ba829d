"""Random invariant projections: K random linear functionals made invariant by a max over the group.

The paper's claim 2: such projections keep a high degree of the latent's information.
For ``w_i`` drawn at random (fixed seed), ``f_i(z) = max_g <w_i, g . z>`` is invariant
because the max runs over the whole orbit.  With ``reduce="sort"`` the sorted vector of
``<w_i, g . z>`` over g is kept instead of its maximum (|G| numbers per functional, still
invariant).  Outputs are scaled by ``sqrt(D / K)`` (D = latent size) so that their
distances stay on the latent's scale for every K.  Over a finite group (C_N, D_N, ...) the
max is exact (every element); over SO(2) / O(2) it runs over ``n_angles`` equally spaced
rotations per coset, which makes the projection invariant under that subgroup exactly and
under SO(2) up to the grid error of :mod:`eqlatent.groups.trig` (the studies), or to
float precision after Newton refinement (``refine=True``, the toolkit's default).

Why the scores are computed the way they are (cost, issue 7's "< 2% of the encoder"):
``<w, g . z> = <rho(g)^T w, z>``, so the group acts on the fixed functionals once, not on
every latent.  Over a finite group all ``K * |G|`` moved functionals form one matrix and
the scores are one matrix product.  Over SO(2) ``theta -> <w, R(theta) z>`` is a
trigonometric polynomial of degree L, fixed by its values at ``2L + 1`` equally spaced
angles; the latent meets only those ``2L + 1`` moved copies of each functional and the
grid follows by exact trigonometric interpolation.  Scores are computed in the latent's
own dtype (float32 latents: invariance to ~1e-6, see ``tests/test_projections_group.py``).

:class:`OrbitFunctionals` is that computation for any :class:`FieldAction`; the studies'
:class:`RandomInvariant` (their ``[B, C, N]`` / ``[B, C, 1+2L]`` layouts) and the toolkit's
``eqlatent.invariant_projection(field_type, "random_invariant")`` both call it.  It is a
``torch.nn.Module`` whose functionals are a buffer (saved, loaded and moved with its owner);
they are drawn in float64 from the seed exactly as before, so the studies' numbers do not move.
With Newton refinement (the toolkit's SO(2) / O(2) default) latents go through in chunks,
keeping the cost linear in ``B * K``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups.actions import FieldAction
from eqlatent.groups.layouts import irreps_action, regular_action
from eqlatent.groups.trig import ROWS_PER_CHUNK
from eqlatent.projections.base import Meta
from eqlatent.projections.image_latent import ImageLatentProjection, check_irreps_size


def unit_functionals(k: int, dim: int, seed: int) -> Tensor:
    """``[K, D]`` float64 random unit vectors, the same for the same seed."""
    gen = torch.Generator().manual_seed(int(seed))
    w = torch.randn(k, dim, generator=gen, dtype=torch.float64)
    return w / w.norm(dim=1, keepdim=True)


class OrbitFunctionals(torch.nn.Module):
    """``z [B, D] -> [B, K]`` (max) or ``[B, K * |grid|]`` (sort): K random functionals over a group orbit.

    A module so that the functionals are a registered buffer (``weights``, float64 as drawn):
    they are in ``state_dict()``, load from another projection's, and follow ``.to(device)`` /
    ``.to(dtype)``.  Scores are computed in the latent's dtype whatever the buffer's.

    Parameters
    ----------
    action:
        How the group acts on the flat latent.
    n_functionals, seed:
        K and the seed of the unit random functionals.
    reduce:
        ``"max"`` or ``"sort"`` over the orbit.
    refine:
        Circle groups only: Newton-refine the grid maximum (see :mod:`eqlatent.groups.trig`).
    """

    def __init__(self, action: FieldAction, n_functionals: int, seed: int = 0, reduce: str = "max",
                 refine: bool = False) -> None:
        super().__init__()
        self.action, self.k, self.reduce, self.refine = action, int(n_functionals), reduce, bool(refine)
        self.register_buffer("weights", unit_functionals(self.k, action.dim, seed))  # float64 [K, D]
        self._score_maps: dict[tuple, Tensor] = {}

    @property
    def out_features(self) -> int:
        """K (max), or K times the orbit values kept per functional (sort: every element / grid angle)."""
        if self.reduce == "max":
            return self.k
        per = self.action.n_elements if self.action.kind == "finite" else self.action.cosets * self.action.grid.n_angles
        return self.k * per

    def extra_repr(self) -> str:
        return f"n_functionals={self.k}, dim={self.action.dim}, reduce={self.reduce!r}, refine={self.refine}"

    def score_map(self, like: Tensor) -> Tensor:
        """``A [D, elements * K]`` with ``z @ A`` = ``<w_k, g . z>``, group-major columns; cached per dtype/device.

        Group-major columns (g outer, k inner) make the max over g a reduction over
        contiguous rows of K values, about a third faster than a max along the last axis.
        The cache is keyed by the buffer too, so ``load_state_dict`` / ``.to()`` rebuild it.
        Under ``torch.compile`` the map is built inside the graph instead (a buffer's address
        is not known while tracing): a ``[K, E, D]`` product, small next to the scores.
        """
        if torch.compiler.is_compiling():
            return self._build_score_map(like)
        w = self.weights
        key = (like.dtype, like.device, w.dtype, w.device, w.data_ptr(), w._version)
        if key not in self._score_maps:
            self._score_maps.clear()  # only the current functionals' maps are kept
            self._score_maps[key] = self._build_score_map(like)
        return self._score_maps[key]

    def _build_score_map(self, like: Tensor) -> Tensor:
        return self.action.score_map(self.weights.double()).to(like).contiguous()

    def forward(self, z: Tensor) -> Tensor:
        if self.refine and self.action.kind == "circle" and z.shape[0] > 1:
            # latents in chunks of ~8 * ROWS_PER_CHUNK polynomials, so that the scores and the
            # Newton refinement's intermediates stay small: cost linear in B * K
            rows = max(1, 8 * ROWS_PER_CHUNK // (self.k * self.action.cosets))
            return torch.cat([self._project(z[s:s + rows]) for s in range(0, z.shape[0], rows)])
        return self._project(z)

    def _project(self, z: Tensor) -> Tensor:
        scores = (z @ self.score_map(z)).view(z.shape[0], self.action.n_elements, self.k)  # [B, E, K]
        if self.reduce == "max":
            out = self.action.max_over_orbit(scores, refine=self.refine)
        else:
            out = self.action.values_over_orbit(scores).sort(1).values.transpose(1, 2).flatten(1)
        # Johnson-Lindenstrauss scale: with unit random w_i, E sum_i <w_i, x>^2 = (K / D) ||x||^2, so
        # sqrt(D / K) keeps distances on the latent's own scale whatever K is (rel_error is comparable)
        return out * (self.action.dim / self.k) ** 0.5


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
        self._kernels: dict[tuple, OrbitFunctionals] = {}

    @classmethod
    def examples(cls) -> list["RandomInvariant"]:
        """K = 8, both reduces, both layouts."""
        return [cls(8, reduce=reduce, layout=layout) for layout in cls.layouts for reduce in ("max", "sort")]

    def invariance_atol(self, z: Tensor) -> float:
        """Exact (base tolerance) over C_N; over SO(2) the grid error of the ``n_angles`` rotations.

        For ``<w, rho(theta) z>`` a trigonometric polynomial p of degree L with ``|p| <= ||z||``
        (unit w, orthogonal irreps) and grid spacing ``h = 2 pi / n_angles``: the grid max lies
        within ``pi^2 L^2 / (2 n_angles^2) ||z||`` below the true max (:mod:`~eqlatent.groups.trig`),
        so two grid maxima differ by at most that; the sorted grid values move by at most
        ``(h / 2) L ||z||`` (Bernstein, |p'| <= L ||z||, and sorting is 1-Lipschitz in max-norm).
        Times the ``sqrt(D / K)`` output scale, plus the base tolerance for float error.
        """
        base = super().invariance_atol(z)
        if self.latent_layout != "irreps":
            return base
        L, h = (z.shape[-1] - 1) // 2, 2 * math.pi / self.n_angles
        bound = (math.pi * L / self.n_angles) ** 2 / 2 if self.reduce == "max" else h / 2 * L
        scale = (z[0].numel() / self.n_functionals) ** 0.5
        return base + scale * bound * float(z.flatten(1).norm(dim=1).max())

    def with_k(self, k: int) -> "RandomInvariant":
        """A copy of this projection with ``K = k`` functionals (same seed, layout, reduce)."""
        return RandomInvariant(k, self.seed, self.reduce, self.n_angles, self.latent_layout)

    def kernel(self, field_shape: tuple[int, int]) -> OrbitFunctionals:
        """The shared :class:`OrbitFunctionals` for latents ``[B, *field_shape]`` (built once per shape)."""
        if self.n_functionals is None:
            raise ConfigError("random_invariant has no K", "set n_functionals or call with_k(K)")
        if field_shape not in self._kernels:
            fields, size = field_shape
            action = (irreps_action(fields, size, self.n_angles) if self.latent_layout == "irreps"
                      else regular_action(fields, size))
            self._kernels[field_shape] = OrbitFunctionals(action, self.n_functionals, self.seed, self.reduce)
        return self._kernels[field_shape]

    def weights(self, field_shape: tuple[int, int]) -> Tensor:
        """The ``[K, C, D]`` functionals, drawn once per field shape from ``seed`` (unit norm)."""
        return self.kernel(tuple(field_shape)).weights.view(-1, *field_shape)

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        if self.latent_layout == "irreps":
            check_irreps_size(self.name, z)
        return self.kernel(tuple(z.shape[1:]))(z.flatten(1))
