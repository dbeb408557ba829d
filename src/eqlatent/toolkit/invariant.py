"""``eqlatent.invariant_projection``: an invariant ``torch.nn.Module`` for any escnn field type or e3nn irreps.

Why a module: a researcher puts it after their escnn encoder (``nn.Sequential``, a probe, a
Lightning module) and it moves with ``.to(device)``.  It is the projection of that name from the
registry (:mod:`eqlatent.projections.registry`), built from the field type
(:class:`~eqlatent.projections.layouts.FieldTypeLayout`): the studies' own classes and kernels, and
the invariance contract checks it like every projection.  An e3nn latent needs nothing but its
``Irreps`` (or a spec ``"O3: 8x0e + 4x1o"``): the same function builds the projection from its
:class:`~eqlatent.projections.layouts.E3nnLayout`.
"""

from __future__ import annotations

from typing import Any

from eqlatent.errors import ConfigError
from eqlatent.groups.o3 import is_irreps
from eqlatent.groups.specs import as_field_type
from eqlatent.projections.field_projection import FieldProjection
from eqlatent.projections.layouts import E3nnLayout, FieldTypeLayout, Layout
from eqlatent.projections.registry import projection_argument, projection_class


def invariant_projection(field_type: Any, projection: str = "random_invariant", n_functionals: int | None = None,
                         seed: int = 0, reduce: str = "max", n_angles: int | None = None, refine: bool = True, *,
                         check_finite: bool = False, k: Any = None, method: str | None = None) -> FieldProjection:
    """An invariant projection for latents of an escnn ``field_type`` (finite group, SO(2) or O(2)) or of e3nn irreps
    (SO(3) or O(3)).

    Parameters
    ----------
    field_type:
        The escnn ``FieldType`` of the latent (any mix of regular, irreps, trivial fields),
        e.g. ``encoder.out_type`` -- not the GSpace -- or a field-type spec string such as
        ``"C8: 2 regular + irrep1 + trivial"`` (:func:`eqlatent.groups.specs.parse_field_type`).
        Or an e3nn model's irreps: an ``e3nn.o3.Irreps`` (acted on by O(3)) or a spec
        ``"SO3: 8x0e + 4x1o"`` / ``"O3: ..."`` (:func:`eqlatent.groups.o3.parse_irreps_spec`), for flat
        latents ``[B, irreps.dim]``; then the projections are those of ``projection_names("e3nn")``:
        ``random_invariant`` (the max over SO(3) / O(3), always refined), ``norm`` (e3nn's ``o3.Norm``),
        ``scalars`` (the ``0e`` slice, MACE's invariant descriptors), ``gram`` (inner products within each
        irrep type) and ``canonicalize`` (a frame of the l = 1 vectors).  Checked before ``projection``.
    projection:
        The projection's name, as in ``configs/projection/`` (and the retention CLI and report;
        :func:`eqlatent.projections.registry.projection_names` ``("field_type")`` lists them):
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
        SO(2) / O(2): the rotation grid per coset (not for e3nn irreps: their SO(3) grid is sized by lmax).  At least ``4(2L+1)`` for band limit L
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
        The registry's class of that name (``Norm``, ``RandomInvariant``, ...: a
        :class:`~eqlatent.projections.field_projection.FieldProjection`, a ``torch.nn.Module``,
        checked by the invariance contract like every projection); call it on a ``GeometricTensor``
        or a tensor with ``field_type.size`` channels, ``[B, C]`` or ``[B, C, 1, 1]``.
        ``proj.out_features`` is the output width.  Its ``forward`` has no host-device sync: it
        runs under ``torch.compile(fullgraph=True)`` and on the ``meta`` device.
        ``method=`` (the earlier name of ``projection``) still works, with a DeprecationWarning.

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
    the earlier data-dependent one.  ``make bench`` section (f) times K = 512 and 2,048 on your machine.  The other projections are ``O(B * D)`` (``canonicalize`` over SO(2): ``O(B * D * L)``).

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
    e3nn = is_irreps(field_type)
    if e3nn and n_angles is not None:
        raise ConfigError("n_angles is the SO(2) / O(2) rotation grid; e3nn latents are maxed over SO(3) on a grid "
                          "sized by their highest degree", "drop n_angles")
    field_type = field_type if e3nn else as_field_type(field_type, "invariant_projection")
    name = projection_argument(None if method is not None and projection == "random_invariant" else projection, method)
    cls = projection_class(name, "e3nn" if e3nn else "field_type")
    if reduce not in ("max", "sort"):
        raise ConfigError(f"unknown reduce '{reduce}'", "use reduce='max' or reduce='sort'")
    if n_functionals is not None and int(n_functionals) < 1:
        raise ConfigError(f"n_functionals must be >= 1, got {n_functionals}",
                          "pass a positive number of random functionals")
    layout: Layout = E3nnLayout(field_type) if e3nn else FieldTypeLayout(field_type, n_angles)
    if name == "random_invariant":
        return cls(n_functionals, seed, reduce, layout=layout, refine=refine, check_finite=check_finite)
    return cls(layout=layout, check_finite=check_finite)
