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
own dtype (float32 latents: invariance to ~1e-6, see ``tests/projections/test_field_projections.py``).

:class:`OrbitFunctionals` is that computation for any :class:`FieldAction`; :class:`RandomInvariant`
runs it on every layout it is built from: an escnn field type (``eqlatent.invariant_projection(field_type,
"random_invariant")``, one kernel registered as ``orbit_functionals``) or the studies' ``[B, C, N]`` /
``[B, C, 1+2L]`` layouts (one kernel per latent shape).  It is a ``torch.nn.Module`` whose functionals
are a buffer (saved, loaded and moved with its owner); they are drawn in float64 from the seed exactly
as before, so the studies' numbers do not move.  With Newton refinement (the toolkit's SO(2) / O(2)
default) latents go through in chunks, keeping the cost linear in ``B * K``.

On an e3nn latent (the ``e3nn`` layout: SO(3) / O(3)) the max runs over the rotation group itself
(and both cosets under O(3)), found by :mod:`eqlatent.groups.so3_max`'s search (closed form for
``l <= 1``; grid and Newton refinement otherwise, always refined unless ``refine=False`` is passed):
:class:`~eqlatent.projections.e3nn_functionals.IrrepsFunctionals` is that kernel, registered as
``orbit_functionals`` like a field type's.  Only ``reduce="max"`` (an SO(3) orbit has no finite list of
values to sort).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups.actions import FieldAction
from eqlatent.groups.trig import ROWS_PER_CHUNK
from eqlatent.projections.base import Meta
from eqlatent.projections.e3nn_functionals import IrrepsFunctionals
from eqlatent.projections.field_projection import FieldProjection


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


class RandomInvariant(FieldProjection):
    """``[B, D]`` or ``[B, C, N or 1+2L] -> [B, K]`` (max) or ``[B, K * orbit values]`` (sort).  Lossy for small K.

    Group: that of its layout (C_N, D_N, any finite group, SO(2), O(2); SO(3), O(3) on e3nn irreps).

    Parameters
    ----------
    layout:
        An escnn FieldType (or spec string), e3nn irreps (an ``Irreps``, or ``"O3: ..."``), ``"regular"`` or
        ``"irreps"``: see :class:`FieldProjection`.
    n_functionals:
        K, the number of random functionals.  None: the latent size D for a field type; for the
        studies' layouts set later with :meth:`with_k` (the study uses the latent dimension).
    seed:
        Seed of the functionals; the same seed gives the same projection.
    reduce:
        ``"max"`` or ``"sort"`` over the group orbit (e3nn irreps: ``"max"`` only).
    n_angles:
        SO(2) / O(2): the rotations the max runs over (the studies' ``irreps`` layout: 64); unused for e3nn.
    refine:
        SO(2) / O(2) / SO(3): Newton-refine the grid maximum to float precision (``invariant_projection``'s
        default) instead of the grid's own (the studies', whose numbers rest on it).  None: True for e3nn
        irreps, False otherwise.
    check_finite:
        Refuse NaN / inf latents (a host sync per call).
    """

    name = "random_invariant"
    group = ("C_N shifts of regular fields / SO(2) rotations of irreps fields (sampled) / a field type's group / "
             "SO(3) or O(3) on e3nn irreps")
    lossless = False
    layouts = ("regular", "irreps", "field_type", "e3nn")

    def __init__(self, n_functionals: int | None = None, seed: int = 0, reduce: str = "max", n_angles: int | None = None,
                 layout: Any = None, refine: bool | None = None, *, check_finite: bool = False) -> None:
        if reduce not in ("max", "sort"):
            raise ConfigError(f"unknown reduce '{reduce}' for random_invariant", "use reduce: max or reduce: sort")
        if n_functionals is not None and int(n_functionals) < 1:
            raise ConfigError(f"random_invariant needs n_functionals >= 1, got {n_functionals}", "set a positive K")
        super().__init__(layout, check_finite=check_finite, n_angles=n_angles)
        e3nn = self.latent_layout == "e3nn"
        if e3nn and reduce != "max":
            raise ConfigError("random_invariant on e3nn latents takes reduce='max' only (an SO(3) orbit has no finite "
                              "list of values to sort)", "use reduce='max'")
        self.seed, self.reduce, self.refine = int(seed), reduce, bool(e3nn if refine is None else refine)
        self.n_functionals = None if n_functionals is None else int(n_functionals)
        self._kernels: dict[tuple, OrbitFunctionals] = {}
        self.orbit_functionals: OrbitFunctionals | IrrepsFunctionals | None = None
        if self.in_layout.fixed:  # a field type / e3nn irreps: one kernel, a registered module (functionals in state_dict)
            action = self.in_layout.action()
            self.n_functionals = self.n_functionals or action.dim
            if e3nn:
                weights = unit_functionals(self.n_functionals, action.dim, self.seed)
                self.orbit_functionals = IrrepsFunctionals(action, weights, self.refine)
            else:
                self.orbit_functionals = OrbitFunctionals(action, self.n_functionals, self.seed, reduce, self.refine)

    @classmethod
    def examples(cls) -> list["RandomInvariant"]:
        """K = 8, both reduces, every layout (a field type refined, as ``invariant_projection`` builds it; e3nn
        irreps refined, reduce max)."""
        out = [cls(8, reduce=reduce, layout=layout) for layout in ("regular", "irreps") for reduce in ("max", "sort")]
        out += [cls(8, reduce=reduce, layout=spec, refine=True) for spec in cls.example_field_types()
                for reduce in ("max", "sort")]
        out += [cls(8, layout=spec) for spec in cls.example_irreps()]
        return out

    def invariance_atol(self, z: Tensor) -> float:
        """Exact (base tolerance) over a finite group or refined; over SO(2) the grid error of ``n_angles`` rotations.

        For ``<w, rho(theta) z>`` a trigonometric polynomial p of degree L with ``|p| <= ||z||``
        (unit w, orthogonal irreps) and grid spacing ``h = 2 pi / n_angles``: the grid max lies
        within ``pi^2 L^2 / (2 n_angles^2) ||z||`` below the true max (:mod:`~eqlatent.groups.trig`),
        so two grid maxima differ by at most that; the sorted grid values move by at most
        ``(h / 2) L ||z||`` (Bernstein, |p'| <= L ||z||, and sorting is 1-Lipschitz in max-norm).
        Times the ``sqrt(D / K)`` output scale, plus the base tolerance for float error.
        """
        base = super().invariance_atol(z)
        if self.latent_layout == "e3nn":  # refined: the search's float64 precision; else the SO(3) grid's bound
            scale = (z[0].numel() / self.k_for(z)) ** 0.5
            return base + scale * self.kernel().grid_bound() * float(z.flatten(1).norm(dim=1).max())
        action = self.action_for(z)
        if action.kind == "finite" or (self.refine and self.reduce == "max"):
            return base
        L, n_angles = action.grid.band_limit, action.grid.n_angles
        bound = (math.pi * L / n_angles) ** 2 / 2 if self.reduce == "max" else math.pi / n_angles * L
        scale = (z[0].numel() / self.k_for(z)) ** 0.5
        return base + scale * bound * float(z.flatten(1).norm(dim=1).max())

    def with_k(self, k: int) -> "RandomInvariant":
        """A copy of this projection with ``K = k`` functionals (same seed, layout, reduce, grid, refinement)."""
        return RandomInvariant(k, self.seed, self.reduce, self.n_angles, self.in_layout, self.refine,
                               check_finite=self.check_finite)

    def k_for(self, z: Tensor) -> int:
        """K for latents like ``z``."""
        if self.n_functionals is None:
            raise ConfigError("random_invariant has no K", "set n_functionals or call with_k(K)")
        return self.n_functionals

    def kernel(self, field_shape: tuple[int, ...] | None = None) -> OrbitFunctionals:
        """The :class:`OrbitFunctionals` for latents ``[B, *field_shape]`` (a field type's one kernel, or one per shape)."""
        if self.orbit_functionals is not None:
            return self.orbit_functionals
        if self.n_functionals is None:
            raise ConfigError("random_invariant has no K", "set n_functionals or call with_k(K)")
        field_shape = tuple(int(s) for s in field_shape)
        if field_shape not in self._kernels:
            action = self.in_layout.action(field_shape)
            self._kernels[field_shape] = OrbitFunctionals(action, self.n_functionals, self.seed, self.reduce,
                                                          self.refine)
        return self._kernels[field_shape]

    def weights(self, field_shape: tuple[int, ...]) -> Tensor:
        """The ``[K, *field_shape]`` functionals (unit norm, drawn once from ``seed``)."""
        return self.kernel(tuple(field_shape)).weights.view(-1, *field_shape)

    def width(self, action: FieldAction) -> int:
        return self.kernel().out_features

    def extra_repr(self) -> str:
        k = f"n_functionals={self.n_functionals}, " if self.n_functionals is not None else ""
        return f"{k}reduce={self.reduce!r}, {super().extra_repr()}"

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return self.kernel(tuple(z.shape[1:]))(z.flatten(1))
