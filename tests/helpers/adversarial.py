"""Adversarial latents: what real encoders produce and Gaussian test latents never do.

Why: every projection was checked for invariance on random Gaussian latents, where ties,
zero fields and cancelling irreps have probability zero.  ReLU encoders produce them all
the time (issue 26): a tied argmax broke ``canonicalize`` and float32 Newton steps gave NaN
gradients.  This module is the one place that builds those latents and the matrix of
*subjects* (every projection the library exposes) they are driven through, so that
``tests/projections/test_properties.py`` and ``benchmarks/property_matrix.py`` check the
same things.  Test-only code: it lives in ``tests/`` and the package never imports it.

Cases (:data:`CASES`), each built from a generic Gaussian latent and the latent's *fields*
(the blocks the group acts on as a whole: a regular or irreps field, a node latent's channel
across the nodes, an orbit layout's feature across the copies):

* ``generic``: the Gaussian latent itself;
* ``relu_sparse``: ``relu(z - 1)``, ~84 % exact zeros (tied maxima, zero fields);
* ``tied``: ``round(z)``, a few integer values: exact ties everywhere;
* ``zero_fields``: each field zero with probability 1/2, every field of the first row zero;
* ``constant_fields``: each field one repeated value (a regular field the group fixes);
* ``cancelling``: fields of one kind in pairs, the second the negative of the first (their
  sum, e.g. the summed frequency-1 vector, is exactly zero); an unpaired field is kept;
* ``cancelling_all``: as ``cancelling``, with unpaired fields zeroed too (every sum vanishes);
* ``huge`` / ``tiny``: the generic latent times 1e6 / 1e-6.

A :class:`Trial` is one latent with its projection, a random group action and the slack its
invariance is allowed beyond float error (a sampled grid's bound); :func:`run` measures the
worst relative invariance error over random group elements and whether the gradient of a
random linear functional of the output is finite.  Tolerances (:data:`RTOL`) are relative
to the latent's scale ``s = max_row ||z_row||``: ``|pi(g.z) - pi(z)| <= RTOL[dtype] * s + slack``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

#: the adversarial latent cases, in the order the property matrix shows them
CASES = ("generic", "relu_sparse", "tied", "zero_fields", "constant_fields", "cancelling", "cancelling_all",
         "huge", "tiny")
DTYPES = (torch.float32, torch.float64)
#: invariance tolerance relative to the latent's scale (max row norm), beyond a projection's stated slack
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}
#: field types of the toolkit matrix (mixed fields; regular-only ones for group pooling)
FIELD_TYPES = {
    "C8 mixed": "C8: 2 regular + 2*irrep1 + irrep2 + irrep4 + trivial",
    "C8 regular": "C8: 3 regular",
    "D4 mixed": "D4: 2 regular + 2*irrep(1,1) + irrep(1,0) + trivial",
    "D4 regular": "D4: 3 regular",
    "SO2 mixed": "SO2: irrep0 + 2*irrep1 + 2*irrep2 + irrep3 + trivial",
    "O2 mixed": "O2: irrep(0,0) + irrep(1,0) + 2*irrep(1,1) + 2*irrep(1,2) + irrep(1,3)",
}
#: e3nn irreps of the toolkit matrix (``eqlatent.invariant_projection(spec, name)`` for every ``projection_names("e3nn")``):
#: a MACE-like layer block (0e + 1o + 2e); the classes' own examples (every kind of copy, SO(3)) are rows too
IRREPS = {"O3 MACE-like": "O3: 4x0e + 2x1o + 1x2e"}
#: rows of every generated latent (small: the matrix runs in seconds on one core)
ROWS = 6


# -- the cases ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fields:
    """Where the fields of a flat ``[B, D]`` latent are: ``index[i]`` the channels of field i, ``kind[i]`` its type."""

    index: tuple[Tensor, ...]
    kind: tuple[str, ...]

    @staticmethod
    def along(shape: tuple[int, ...], axis: int) -> "Fields":
        """Fields of a ``[B, A, C]`` latent: the ``A`` slices of axis 1 (``axis=1``) or the ``C`` of axis 2 (``axis=2``)."""
        a, c = shape[1], shape[2]
        grid = torch.arange(a * c).view(a, c)
        index = tuple(grid) if axis == 1 else tuple(grid.T)
        return Fields(index, ("field",) * len(index))

    @staticmethod
    def of_irreps(action: Any) -> "Fields":
        """The copies of an e3nn latent (mul-major blocks of 2l+1), in channel order, with their irrep (``"1o"``) as kind."""
        index, kind = [], []
        for b in action.blocks:
            d = 2 * b.l + 1
            for u in range(b.mul):
                index.append(torch.arange(b.start + u * d, b.start + (u + 1) * d))
                kind.append(f"{b.l}{'e' if b.p == 1 else 'o'}")
        return Fields(tuple(index), tuple(kind))

    @staticmethod
    def of_field_type(field_type: Any) -> "Fields":
        """The fields of an escnn ``FieldType``, in channel order, with their representation's name as kind."""
        index, kind, start = [], [], 0
        for rep in field_type.representations:
            index.append(torch.arange(start, start + rep.size))
            kind.append(rep.name)
            start += rep.size
        return Fields(tuple(index), tuple(kind))


def adversarial_latent(z: Tensor, case: str, fields: Fields, generator: torch.Generator) -> Tensor:
    """``z`` (a generic Gaussian latent, any shape ``[B, ...]``) turned into the latent of ``case``.

    Same shape and dtype; the fields address ``z.reshape(B, -1)``.
    """
    if case not in CASES:
        raise ValueError(f"unknown adversarial case '{case}'; use one of {', '.join(CASES)}")
    flat = z.reshape(z.shape[0], -1).clone()
    if case == "relu_sparse":
        flat = torch.relu(flat - 1.0)
    elif case == "tied":
        flat = torch.round(flat)
    elif case == "huge":
        flat = flat * 1e6
    elif case == "tiny":
        flat = flat * 1e-6
    elif case == "zero_fields":
        drop = torch.rand(flat.shape[0], len(fields.index), generator=generator) < 0.5
        drop[0] = True
        for i, idx in enumerate(fields.index):
            flat[:, idx] = flat[:, idx] * (~drop[:, i:i + 1]).to(flat.dtype)
    elif case == "constant_fields":
        values = torch.randn(flat.shape[0], len(fields.index), generator=generator, dtype=flat.dtype)
        for i, idx in enumerate(fields.index):
            flat[:, idx] = values[:, i:i + 1].expand(-1, len(idx))
    elif case in ("cancelling", "cancelling_all"):
        for kind in dict.fromkeys(fields.kind):
            same = [idx for idx, k in zip(fields.index, fields.kind) if k == kind]
            for first, second in zip(same[0::2], same[1::2]):
                flat[:, second] = -flat[:, first]
            if case == "cancelling_all" and len(same) % 2:
                flat[:, same[-1]] = 0.0
    return flat.view_as(z)


# -- trials and subjects --------------------------------------------------------------------------------

@dataclass
class Trial:
    """One latent ``z`` of one case, with how to project it and act on it."""

    z: Tensor
    project: Callable[[Tensor], Tensor]
    #: a random group element (drawn from the generator) applied to a latent like ``z``
    act: Callable[[Tensor, torch.Generator], Tensor]
    #: allowed ``|pi(g.z) - pi(z)|`` beyond float error (absolute): a sampled grid's bound, else 0
    slack: float = 0.0
    invariant: bool = True
    #: ``z -> [B]`` bool, the rows the invariance claim covers (None: all); a projection that reports where it is
    #: ill-defined (``canonicalize``'s e3nn frames: ``ill_defined``) is held to invariance on the other rows
    rows: Callable[[Tensor], Tensor] | None = None


@dataclass(frozen=True)
class Subject:
    """A row of the property matrix: one projection (method and group), and how to make its trials."""

    name: str
    trial: Callable[[str, torch.dtype, int], Trial]


@dataclass(frozen=True)
class Outcome:
    """The worst relative invariance error of a trial, its tolerance, and whether the gradient was finite."""

    error: float
    tolerance: float
    finite: bool
    invariant: bool = True

    @property
    def ok(self) -> bool:
        return self.finite and (not self.invariant or self.error <= self.tolerance)

    def cell(self) -> str:
        """``"3e-07 ✓"``: the error (``—`` for a non-invariant baseline), ✓ / ✗ for the whole cell."""
        err = f"{self.error:.0e}" if self.invariant else "—"
        flags = "" if self.finite else " NaN-grad"
        flags += "" if not self.invariant or self.error <= self.tolerance else " > tol"
        return f"{err} {'✓' if self.ok else '✗'}{flags}"


def scale_of(z: Tensor) -> float:
    """The latent's scale: its largest row norm (1 for an all-zero latent, so tolerances stay defined)."""
    s = float(z.detach().reshape(z.shape[0], -1).double().norm(dim=1).max()) if z.numel() else 0.0
    return s if s > 0 else 1.0


def _max_abs(a: Tensor, b: Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max()) if a.numel() else 0.0


def run(trial: Trial, n_elements: int = 4, seed: int = 0) -> Outcome:
    """Worst ``|pi(g.z) - pi(z)| / s`` over ``n_elements`` random elements, and a finite-gradient check."""
    gen = torch.Generator().manual_seed(seed)
    z, s = trial.z.detach(), scale_of(trial.z)
    base = trial.project(z)
    error = 0.0
    for _ in range(n_elements):
        moved = trial.act(z, gen)
        out = trial.project(moved)
        if trial.rows is not None:  # rows claimed for the latent and for its image alike
            keep = trial.rows(z) & trial.rows(moved)
            out, ref = out[keep], base[keep]
        else:
            ref = base
        error = max(error, _max_abs(out, ref))
    error /= s
    tolerance = RTOL[z.dtype] + trial.slack / s
    return Outcome(error, tolerance, gradient_is_finite(trial, seed), trial.invariant)


def gradient_is_finite(trial: Trial, seed: int = 0) -> bool:
    """Whether backward of a random linear functional of the output gives a finite gradient for every entry."""
    z = trial.z.detach().clone().requires_grad_(True)
    out = trial.project(z)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    (out * weights.to(out)).sum().backward()
    return z.grad is not None and bool(torch.isfinite(z.grad).all())


def _base_atol(proj: Any, z: Tensor) -> float:
    from eqlatent.projections.base import InvariantProjection

    return InvariantProjection.invariance_atol(proj, z)


def class_subjects() -> list[Subject]:
    """Every discovered projection class (:func:`~eqlatent.projections.base.concrete_projections`), each example."""
    from eqlatent.projections.base import concrete_projections

    out = []
    for cls in concrete_projections():
        for proj in cls.examples():
            layout = getattr(proj, "latent_layout", None) or "nodes"
            if layout == "field_type":
                layout = f"field type {proj.action.name}"
            elif layout == "e3nn":
                layout = f"e3nn {proj.action.spec}"
            variant = "(sort)" if getattr(proj, "reduce", "max") == "sort" else ""
            name = f"{proj.name}{variant} ({layout}) [{cls.__name__}]"
            out.append(Subject(name, _class_trial(proj)))
    return out


def _class_trial(proj: Any) -> Callable[[str, torch.dtype, int], Trial]:
    def trial(case: str, dtype: torch.dtype, seed: int) -> Trial:
        gen = torch.Generator().manual_seed(seed)
        z = proj.example_latent(gen)
        # the group acts on the last axis of regular / irreps fields, on axis 1 of node and orbit latents,
        # on a field type's fields (blocks of the flat latent)
        layout = getattr(proj, "latent_layout", None)
        if layout == "field_type":
            fields = Fields.of_field_type(proj.field_type)
        elif layout == "e3nn":
            fields = Fields.of_irreps(proj.action)
        else:
            fields = Fields.along(tuple(z.shape), 1 if layout in ("regular", "irreps") else 2)
        z = adversarial_latent(z, case, fields, gen).to(dtype)
        sampler = proj.group_sampler(z)
        slack = max(0.0, proj.invariance_atol(z) - _base_atol(proj, z)) if proj.invariant else 0.0
        # canonicalize's e3nn frames: the l >= 2 part is not claimed where the frame is ill-defined (l <= 1: all rows)
        reports = layout == "e3nn" and hasattr(proj, "ill_defined") and proj.action.lmax >= 2
        rows = (lambda t: ~proj.ill_defined(t)) if reports else None
        return Trial(z, lambda t: proj(t), lambda t, g: sampler(g).on_input(t), slack, proj.invariant, rows)

    return trial


def _field_element_matrix(field_type: Any, generator: torch.Generator) -> Tensor:
    """``rho(g)`` (float64) of a random element g of the field type's group."""
    import numpy as np

    group = field_type.fibergroup
    if group.continuous:
        theta = float(torch.rand((), generator=generator, dtype=torch.float64)) * 2 * math.pi
        flip = int(torch.randint(2, (), generator=generator))
        element = group.element(theta) if group.name.startswith("SO") else group.element((flip, theta))
    else:
        elements = list(group.elements)
        element = elements[int(torch.randint(len(elements), (), generator=generator))]
    return torch.from_numpy(np.asarray(field_type.representation(element), dtype=np.float64))


def field_type_subjects(n_functionals: int = 8) -> list[Subject]:
    """``eqlatent.invariant_projection(field_type, method)`` for every field type of :data:`FIELD_TYPES` and every
    projection of ``projection_names("field_type")`` it allows (``random_invariant`` also with ``reduce="sort"`` over finite groups)."""
    from eqlatent.errors import ConfigError
    from eqlatent.groups.specs import parse_field_type
    from eqlatent.projections.registry import projection_names
    from eqlatent.toolkit.invariant import invariant_projection

    out = []
    for label, spec in FIELD_TYPES.items():
        ft = parse_field_type(spec)
        variants = [(m, "max") for m in projection_names("field_type")]
        if not ft.fibergroup.continuous:
            variants.append(("random_invariant", "sort"))
        for method, reduce in variants:
            try:
                proj = invariant_projection(ft, method, n_functionals=n_functionals, reduce=reduce)
            except ConfigError:
                continue  # the group (or its fields) does not allow this method
            name = f"{method}{'(sort)' if reduce == 'sort' else ''} · {label}"
            out.append(Subject(name, _field_trial(ft, proj)))
    return out


def _field_trial(field_type: Any, proj: torch.nn.Module) -> Callable[[str, torch.dtype, int], Trial]:
    fields = Fields.of_field_type(field_type)

    def trial(case: str, dtype: torch.dtype, seed: int) -> Trial:
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(ROWS, field_type.size, generator=gen, dtype=torch.float64)
        z = adversarial_latent(z, case, fields, gen).to(dtype)

        def act(t: Tensor, g: torch.Generator) -> Tensor:
            return t @ _field_element_matrix(field_type, g).to(t).T

        return Trial(z, proj, act)

    return trial


def irreps_subjects(n_functionals: int = 6) -> list[Subject]:
    """``eqlatent.invariant_projection(spec, name)`` for every spec of :data:`IRREPS` and every projection of
    ``projection_names("e3nn")``, acted on by e3nn's own matrices (the layout's sampler)."""
    from eqlatent.projections.registry import projection_names
    from eqlatent.toolkit.invariant import invariant_projection

    out = []
    for label, spec in IRREPS.items():
        for name in projection_names("e3nn"):
            proj = invariant_projection(spec, name, n_functionals=n_functionals if name == "random_invariant" else None)
            out.append(Subject(f"{name} · {label}", _class_trial(proj)))
    return out


def node_subjects() -> list[Subject]:
    """``eqlatent.project_nodes(x, batch, method)`` for every projection of ``projection_names("nodes")`` (graphs of 3 to 6 nodes)."""
    from eqlatent.projections.registry import projection_names

    return [Subject(f"{method} · project_nodes", _node_trial(method)) for method in projection_names("nodes")]


def _node_trial(method: str) -> Callable[[str, torch.dtype, int], Trial]:
    from eqlatent.projections.registry import projection_class
    from eqlatent.toolkit.nodes import project_nodes

    channels = projection_class(method).latent_channels or 3

    def trial(case: str, dtype: torch.dtype, seed: int) -> Trial:
        gen = torch.Generator().manual_seed(seed)
        counts = torch.randint(3, 7, (ROWS,), generator=gen)
        dense = torch.randn(ROWS, int(counts.max()), channels, generator=gen, dtype=torch.float64)
        dense = adversarial_latent(dense, case, Fields.along(tuple(dense.shape), 2), gen).to(dtype)
        mask = torch.arange(dense.shape[1])[None, :] < counts[:, None]
        x, batch = dense[mask], torch.arange(ROWS).repeat_interleave(counts)
        start = torch.cumsum(counts, 0) - counts

        def act(t: Tensor, g: torch.Generator) -> Tensor:  # a random permutation of every graph's nodes
            perm = torch.cat([s + torch.randperm(int(n), generator=g) for s, n in zip(start.tolist(), counts.tolist())])
            return t[perm]

        return Trial(x, lambda t: project_nodes(t, batch, method), act)

    return trial


def all_subjects() -> list[Subject]:
    """The whole matrix: discovered classes, then the toolkit's field-type and e3nn projections, then ``project_nodes``."""
    return class_subjects() + field_type_subjects() + irreps_subjects() + node_subjects()
