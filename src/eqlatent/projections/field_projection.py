"""The family of projections of field latents: an escnn FieldType's, an e3nn model's, or the studies' image latents.

A :class:`FieldProjection` is built from one layout (:mod:`eqlatent.projections.layouts`): an escnn
``FieldType`` (what :func:`eqlatent.invariant_projection` builds it from; any finite group, SO(2),
O(2), any mix of fields), an e3nn ``Irreps`` (SO(3) / O(3), the ``e3nn`` layout), or one of the
studies' image layouts (``regular`` C_N fields, ``irreps`` SO(2) fields, a plain CNN's ``vector`` and
``orbit`` latents).  A projection lists the layouts it
can serve in ``layouts``, so a config that pairs it with an encoder it cannot serve fails with a
one-line error instead of returning numbers that mean nothing.

What the base does for every member, so that each projection is only its mathematics:

* ``forward`` takes what a model returns (a ``GeometricTensor``, ``[B, D]``, ``[B, D, 1, 1]`` for a
  field type; ``[B, C, N]`` ... for the studies' layouts), refuses anything else in one line, and reads
  no value (no host sync: it runs under ``torch.compile(fullgraph=True)`` and on the ``meta`` device)
  unless built with ``check_finite=True``;
* float16 / bfloat16 latents are computed in float32 and returned in their dtype;
* an empty batch of a field type gives an empty ``[0, out_features]`` output;
* ``out_features`` (the output width, to size the next ``nn.Linear``) is known at construction for a
  field type or e3nn irreps, from :meth:`FieldProjection.width` of its action.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups.actions import FieldAction
from eqlatent.groups.inputs import LOW_PRECISION
from eqlatent.projections.base import InvariantProjection, Meta
from eqlatent.projections.layouts import Layout, as_layout


class FieldProjection(InvariantProjection):
    """Base of the field-latent projections; ``layouts`` lists what a subclass supports (the first is its default).

    A subclass that pools regular fields sets ``regular_only``: a field type with other fields is
    then refused at construction.

    Parameters
    ----------
    layout:
        What to build it from: an escnn ``FieldType`` (or a field-type spec string), an e3nn ``Irreps`` (or a
        spec ``"O3: 8x0e + 4x1o"``), a layout name (``"regular"``, ``"irreps"``, ``"vector"``, ``"orbit"``) or a
        :class:`~eqlatent.projections.layouts.Layout`.
        None: the first of ``layouts``.
    check_finite:
        Refuse latents holding NaN / inf with a one-line error (a host sync per call); off by default:
        NaN in gives NaN out, as in any torch module.
    n_angles:
        SO(2) / O(2): the rotation grid of the group's action (for an ``irreps`` layout, or a field type:
        None is ``max(64, 4(2L+1))``).

    Attributes: ``in_layout`` (the :class:`~eqlatent.projections.layouts.Layout`), ``latent_layout`` (its
    name), and for a field type ``field_type``, ``action``, ``n_angles`` and ``out_features``.
    """

    #: True for a projection defined on regular fields only (group pooling)
    regular_only: bool = False

    def __init__(self, layout: Any = None, *, check_finite: bool = False, n_angles: int | None = None) -> None:
        super().__init__()
        if not self.layouts:
            raise ConfigError(f"{type(self).__name__} lists no layouts", "set the class attribute layouts")
        built = as_layout(self.layouts[0] if layout is None else layout, n_angles)
        if not self.supports(built.name):
            raise ConfigError(f"projection '{self.name}' cannot handle '{built.name}' latents",
                              f"use it with {' or '.join(self.layouts)} latents only")
        if self.regular_only and built.fixed:
            other = sorted({fk.name for fk in built.action().kinds if not fk.regular})
            if other:
                raise ConfigError(f"{self.name} needs regular fields only, but this {built.action().name} latent has "
                                  f"{', '.join(other)} fields",
                                  "use projection='norm' or 'random_invariant' for a mix of field types")
        self.in_layout: Layout = built
        self.latent_ndim = built.ndim
        self.check_finite = bool(check_finite)

    # -- what the layout says --------------------------------------------------------------------------

    @property
    def latent_layout(self) -> str:
        """The layout's name: ``"regular"``, ``"irreps"``, ``"vector"``, ``"orbit"`` or ``"field_type"``."""
        return self.in_layout.name

    @property
    def field_type(self) -> Any:
        """The escnn FieldType it was built from (None for the studies' layouts)."""
        return getattr(self.in_layout, "field_type", None)

    @property
    def n_angles(self) -> int | None:
        """The SO(2) / O(2) grid of its action (None where no circle group acts)."""
        return getattr(self.in_layout, "n_angles", None)

    @property
    def action(self) -> FieldAction:
        """The group action it removes (a field type's; the studies' layouts build theirs per latent shape)."""
        return self.in_layout.action()

    def layout(self) -> str:
        return self.in_layout.describe()

    def check_latent(self, z: Tensor) -> None:
        self.in_layout.tensor(z, self.name)

    def action_for(self, z: Tensor) -> FieldAction:
        """The action on latents like ``z`` (built once per shape for the studies' layouts)."""
        return self.in_layout.action(tuple(z.shape[1:]))

    @classmethod
    def examples(cls) -> list["FieldProjection"]:
        """One instance per supported layout (a field type: the mixed ones of :meth:`example_field_types`;
        e3nn latents: those of :meth:`example_irreps`)."""
        out: list[FieldProjection] = []
        for layout in cls.layouts:
            specs = {"field_type": cls.example_field_types, "e3nn": cls.example_irreps}.get(layout)
            out += [cls(layout=layout)] if specs is None else [cls(layout=spec) for spec in specs()]
        return out

    @classmethod
    def example_irreps(cls) -> tuple[str, ...]:
        """e3nn specs the contract checks an ``e3nn`` projection on: O(3) with every kind of copy (0e, 0o, 1o, 1e,
        2e, 2o; several of a type, one type split over two entries) and SO(3)."""
        return ("O3: 2x0e + 0o + 2x1o + 1x1e + 2x2e + 1x1o + 1x2o", "SO3: 0e + 2x1o + 1x1e + 1x2e")

    @classmethod
    def example_field_types(cls) -> tuple[str, ...]:
        """Field-type specs the contract checks a ``field_type`` projection on: a finite group and SO(2), mixed fields."""
        return ("C8: 2 regular + irrep1 + irrep2 + trivial", "SO2: irrep0 + 2*irrep1 + irrep2 + irrep3")

    def example_latent(self, generator: torch.Generator) -> Tensor:
        return self.in_layout.example_latent(generator)

    def group_sampler(self, z: Tensor):
        return self.in_layout.group_sampler(z)

    # -- the width ---------------------------------------------------------------------------------

    def width(self, action: FieldAction) -> int:
        """The output width for latents of ``action`` (a subclass that knows it overrides this)."""
        raise ConfigError(f"projection '{self.name}' does not know its output width before a call",
                          "call it once and read the output's shape[1]")

    @property
    def out_features(self) -> int:
        """F, the output width: known at construction for a field type (to size a downstream ``nn.Linear``)."""
        if not self.in_layout.fixed:
            raise ConfigError(f"projection '{self.name}' on '{self.latent_layout}' latents sizes itself on each latent "
                              f"{self.in_layout.shape}, so out_features is not fixed",
                              "build it from the latent's escnn FieldType (eqlatent.invariant_projection) to fix the width")
        return self.width(self.in_layout.action())

    def extra_repr(self) -> str:
        if not self.in_layout.fixed:
            return f"layout={self.latent_layout!r}"
        action = self.in_layout.action()
        group = getattr(action, "name", None) or action.spec  # an escnn / studies' FieldAction, or an IrrepsAction
        return f"group={group}, in={action.dim}, out_features={self.out_features}"

    # -- the call ----------------------------------------------------------------------------------

    def forward(self, z: Any, meta: Meta | None = None) -> Tensor:
        """Project ``z`` (see the module docstring for what it takes); output in the latent's dtype."""
        z = self.in_layout.tensor(z, self.name, check_finite=self.check_finite)
        dtype = z.dtype
        if dtype in LOW_PRECISION:  # float16 / bfloat16: computed in float32, returned in the latent's dtype
            z = z.float()
        if z.shape[0] == 0 and self.in_layout.fixed:
            return z.new_zeros(0, self.out_features).to(dtype)
        return self.project(z, meta or {}).to(dtype)
