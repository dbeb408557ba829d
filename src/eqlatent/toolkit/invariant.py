"""``eqlatent.invariant_projection``: an invariant ``torch.nn.Module`` for any escnn field type.

Why a module: a researcher puts it after their escnn encoder (``nn.Sequential``, a probe, a
Lightning module) and it moves with ``.to(device)``.  The computation is the studies' own:
the module only builds a :class:`~eqlatent.groups.actions.FieldAction` from the
field type and calls the shared kernels (:class:`~eqlatent.projections.random_invariant.OrbitFunctionals`,
:func:`~eqlatent.projections.field_norm.irrep_norms`, :func:`~eqlatent.projections.group_pool.pool_regular`,
:func:`~eqlatent.projections.canonicalize.canonical_representative`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import ConfigError, check_choice
from eqlatent.groups.field_types import action_from_field_type, band_limit
from eqlatent.groups.inputs import LOW_PRECISION, flat_latent
from eqlatent.groups.specs import as_field_type, grid_angles
from eqlatent.projections.canonicalize import canonical_representative, canonicalization_error
from eqlatent.projections.field_norm import irrep_norms
from eqlatent.projections.group_pool import pool_regular
from eqlatent.projections.random_invariant import OrbitFunctionals

#: the projection names, the same as the configs' (``configs/projection/``), the retention CLI's and the report's
FIELD_METHODS = ("random_invariant", "norm", "group_pool_max", "group_pool_mean", "canonicalize")
#: names of earlier releases -> the one name now (refused with a one-line error naming it)
RENAMED = {"random": "random_invariant", "pool": "group_pool_max' or 'group_pool_mean"}


class FieldProjection(torch.nn.Module):
    """Invariant projection of latents of one escnn field type: ``[B, C] or [B, C, 1, 1] -> [B, F]``.

    Build it with :func:`invariant_projection`.  Attributes: ``field_type``, ``method``,
    ``action`` (the group action it removes), ``out_features`` (F, known at construction, to
    size a downstream ``nn.Linear``), ``n_angles`` (the SO(2) / O(2) grid), ``check_finite``,
    and for ``random_invariant`` ``orbit_functionals``, whose functionals are a buffer (in
    ``state_dict()``, moved by ``.to(...)``).  Outputs have the latent's dtype and device; an
    empty batch gives an empty ``[0, F]`` output.

    ``forward`` is usable inside a model: it reads only shapes (no host-device sync unless
    ``check_finite=True``), so it runs under ``torch.compile(fullgraph=True)`` and on the
    ``meta`` device.  NaN / inf in the latent come out as NaN / inf, as in any torch module;
    ``check_finite=True`` refuses them with a one-line error instead (a host sync per call).
    """

    def __init__(self, field_type: Any, method: str, n_functionals: int | None, seed: int, reduce: str,
                 n_angles: int | None, refine: bool, check_finite: bool = False) -> None:
        super().__init__()
        self.field_type, self.method, self.check_finite = field_type, method, bool(check_finite)
        self.n_angles = grid_angles(band_limit(field_type), n_angles)
        self.action = action_from_field_type(field_type, self.n_angles)
        self.pool_mode = method.removeprefix("group_pool_") if method.startswith("group_pool_") else None
        self.orbit_functionals = None
        if method == "random_invariant":
            self.orbit_functionals = OrbitFunctionals(self.action, n_functionals or field_type.size, seed, reduce,
                                                      refine)
        elif self.pool_mode is not None:
            pool_regular(self.action, torch.zeros(1, self.action.dim), self.pool_mode)  # refuse non-regular fields now
        elif method == "canonicalize" and canonicalization_error(self.action):
            canonical_representative(self.action, torch.zeros(1, self.action.dim))  # raises the one-line error
        self.out_features = self._out_features()

    def _out_features(self) -> int:
        """F from the action alone: K (x orbit values for sort), irreps, regular fields, or D."""
        if self.orbit_functionals is not None:
            return self.orbit_functionals.out_features
        if self.method == "norm":  # one number per irrep of every field, after the change of basis
            return sum(fk.index.shape[0] * len(fk.irreps) for fk in self.action.kinds)
        if self.pool_mode is not None:  # one number per regular field
            return sum(fk.index.shape[0] for fk in self.action.kinds)
        return self.action.dim  # canonicalize: the orbit representative itself

    def forward(self, x: Any) -> Tensor:
        z = flat_latent(x, self.field_type, check_finite=self.check_finite)
        dtype = z.dtype
        if dtype in LOW_PRECISION:  # float16 / bfloat16: computed in float32, returned in the latent's dtype
            z = z.float()
        return self._project(z).to(dtype)

    def _project(self, z: Tensor) -> Tensor:
        if z.shape[0] == 0:
            return z.new_zeros(0, self.out_features)
        if self.method == "random_invariant":
            return self.orbit_functionals(z)
        if self.method == "norm":
            return irrep_norms(self.action, z)
        if self.pool_mode is not None:
            return pool_regular(self.action, z, self.pool_mode)
        return canonical_representative(self.action, z)

    def extra_repr(self) -> str:
        k = f", n_functionals={self.orbit_functionals.k}" if self.orbit_functionals is not None else ""
        return (f"group={self.action.name}, method={self.method!r}{k}, in={self.action.dim}, "
                f"out_features={self.out_features}")


def invariant_projection(field_type: Any, method: str = "random_invariant", n_functionals: int | None = None,
                         seed: int = 0, reduce: str = "max", n_angles: int | None = None, refine: bool = True, *,
                         check_finite: bool = False, k: Any = None) -> FieldProjection:
    """An invariant projection for latents of an escnn ``field_type`` (finite group, SO(2) or O(2)).

    Parameters
    ----------
    field_type:
        The escnn ``FieldType`` of the latent (any mix of regular, irreps, trivial fields),
        e.g. ``encoder.out_type`` -- not the GSpace -- or a field-type spec string such as
        ``"C8: 2 regular + irrep1 + trivial"`` (:func:`eqlatent.groups.specs.parse_field_type`).
        Checked before ``method``.
    method:
        The projection's name, as in ``configs/projection/`` (and the retention CLI and report):
        ``"random_invariant"``: K random unit functionals, each maxed over the orbit,
        ``f_k(z) = sqrt(D/K) max_g <w_k, rho(g) z>`` -- exact over every element of a finite
        group; over SO(2) / O(2) on ``n_angles`` rotations per coset, filled by exact
        trigonometric interpolation from ``2L+1`` nodes and (``refine``) Newton-refined to the
        true maximum (without refinement the error is at most
        ``pi^2 L^2 / (2 n_angles^2) * sqrt(D/K) * ||z||``, see :mod:`eqlatent.groups.trig`).
        ``"norm"``: per-irrep norms after the field type's change of basis (trivial irreps kept
        signed).  ``"group_pool_max"`` / ``"group_pool_mean"``: max / mean over each regular field.
        ``"canonicalize"``: the orbit representative, ties broken invariantly (finite groups and
        SO(2); not O(2)): see :mod:`eqlatent.projections.canonicalize` for its cost and where it jumps.
    n_functionals:
        K, the number of random functionals (default: the latent size D).  (``k=`` of earlier
        releases is refused with a one-line error naming this one.)
    seed:
        Seed of the random functionals.
    reduce:
        ``"max"`` over the orbit, or ``"sort"`` (all sorted orbit values: ``K * |G|`` outputs
        for a finite group, ``K * cosets * n_angles`` over SO(2) / O(2)).
    n_angles:
        SO(2) / O(2): the rotation grid per coset.  At least ``4(2L+1)`` for band limit L
        (a coarser grid can miss the highest peak of ``<w, rho(theta) z>``: ``n_angles=8`` at
        L = 3 gave invariance errors of 0.3; measured threshold in
        :func:`eqlatent.groups.specs.grid_angles`); fewer is a one-line error.  Default
        ``max(64, 4(2L+1))``.  Ignored for finite groups.
    refine:
        SO(2) / O(2): Newton-refine the grid maximum (float precision) instead of the grid's own.
    check_finite:
        Refuse latents holding NaN / inf with a one-line error.  Off by default: the check is a
        host-device sync per call, and NaN in gives NaN out, as in any torch module.
        ``eqlatent.retention`` / ``quotient_distance`` check their latents themselves.

    Returns
    -------
    FieldProjection
        A ``torch.nn.Module``; call it on a ``GeometricTensor`` or a tensor with ``field_type.size``
        channels, ``[B, C]`` or ``[B, C, 1, 1]``.  ``proj.out_features`` is the output width.
        Its ``forward`` has no host-device sync: it runs under ``torch.compile(fullgraph=True)``
        and on the ``meta`` device.

    Precision: float32 / float64 latents are computed in their own dtype.  float16 / bfloat16
    latents are computed in float32 and returned in their dtype: the output is the float32
    projection of the half-precision numbers, rounded once (relative ``2^-11`` for float16,
    ``2^-8`` for bfloat16).  Invariance is then one such rounding where the group moves
    half-precision numbers exactly (finite groups on regular fields); over SO(2) the rotated
    latent is itself rounded, which adds that input rounding (measured on 64 Gaussian latents,
    outputs up to ~4: ``random_invariant`` / ``norm`` <= 2e-3 in float16 and 1.6e-2 in bfloat16,
    ``canonicalize`` 7e-3 / 8e-2).  Computed in half precision, as earlier releases did,
    ``random_invariant`` over SO(2) gave 6e-3 / 5e-2 and ``canonicalize`` up to 5 (ties of its argmax).

    Notes
    -----
    Cost: ``random_invariant`` is ``O(B * K * (D * E + n_angles))`` (E = the group's elements, or over
    SO(2) / O(2) ``2L+1`` interpolation nodes per coset): linear in the batch B and in K.  The
    Newton refinement adds a few passes over the ``n_angles`` grid per functional and latent.
    Measured over SO(2) (irreps 0..3, D = 112, float32, ``n_angles=64``) on 4,096 latents, on a
    2-core CPU (2 torch threads): K = 112 / 512 / 2,048 take 0.35 s / 1.3 s / 5.3 s
    (``refine=False``: 0.06 s / 0.26 s / 1.05 s); the fixed-shape refinement (Newton from the L
    highest grid peaks of every row, so that it compiles and has exact gradients) costs 1.3-1.6x
    the earlier data-dependent one.  ``make bench`` section (f) times K = 512 and 2,048 on your machine.  The other methods are ``O(B * D)`` (``canonicalize`` over SO(2): ``O(B * D * L)``).

    Examples
    --------
    >>> import torch, eqlatent
    >>> from escnn import gspaces, nn
    >>> r2 = gspaces.rot2dOnR2(8)
    >>> ft = nn.FieldType(r2, 2 * [r2.regular_repr] + [r2.irrep(1), r2.trivial_repr])
    >>> proj = eqlatent.invariant_projection(ft, "random_invariant", n_functionals=16)
    >>> proj.out_features
    16
    >>> x = nn.GeometricTensor(torch.randn(4, ft.size, 1, 1), ft)
    >>> proj(x).shape
    torch.Size([4, 16])
    >>> g = r2.fibergroup.element(3)
    >>> bool((proj(x.transform(g)) - proj(x)).abs().max() < 1e-5)
    True
    """
    if k is not None:
        raise ConfigError(f"invariant_projection's k is now called n_functionals (got k={k})",
                          f"pass n_functionals={k}")
    field_type = as_field_type(field_type, "invariant_projection")
    check_choice("invariant projection", method, FIELD_METHODS, RENAMED)
    if reduce not in ("max", "sort"):
        raise ConfigError(f"unknown reduce '{reduce}'", "use reduce='max' or reduce='sort'")
    if n_functionals is not None and int(n_functionals) < 1:
        raise ConfigError(f"n_functionals must be >= 1, got {n_functionals}",
                          "pass a positive number of random functionals")
    return FieldProjection(field_type, method, n_functionals, seed, reduce, n_angles, refine, check_finite)
