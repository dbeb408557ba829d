"""What a projection is built from: the layout of its latent and the group acting on it (the layout hook).

Every projection is built from one :class:`Layout` (``projection.in_layout``, as an escnn module from its
``in_type``).  The layout says what a latent looks like (its shape, for one-line errors), turns what a
model returns into the tensor the projection computes on, builds the group's action on it (a
:class:`~eqlatent.groups.actions.FieldAction`), and, for the invariance contract, draws a random latent
and a random group element.  The families today:

* a node latent, :class:`NodeLayout` (``"nodes"``: ``[graphs, nodes, d]`` under S_n);
* an escnn ``FieldType``, :class:`FieldTypeLayout` (``"field_type"``: any finite group, SO(2), O(2), any
  mix of fields; flat ``[B, D]``, ``[B, D, 1, 1]`` or a ``GeometricTensor``);
* the studies' image latents, which need no escnn: :class:`RegularLayout` (``"regular"``, C_N),
  :class:`IrrepsLayout` (``"irreps"``, SO(2)), :class:`VectorLayout` (``"vector"``, a plain CNN's
  features: no action on the latent) and :class:`OrbitLayout` (``"orbit"``, its latents of M rotated
  copies of the input);
* an e3nn model's latent, :class:`E3nnLayout` (``"e3nn"``: flat ``[B, irreps.dim]`` under O(3), or SO(3)
  with a ``"SO3: ..."`` spec), built from an ``e3nn.o3.Irreps``, an
  :class:`~eqlatent.groups.o3.IrrepsAction` or a spec ``"O3: 8x0e + 4x1o"``.  (Not ``"irreps"``: that
  name is the studies' SO(2) image layout.)

A new family slots in as one more :class:`Layout` subclass whose :meth:`Layout.action` returns its
group's action, plus one branch in :func:`as_layout` naming the object it is built from; a projection
that can serve it lists its :attr:`Layout.name` in its ``layouts``.  Nothing else (the registry, the
toolkit, the contract) changes: the e3nn family came in that way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.actions import FieldAction

if TYPE_CHECKING:
    from eqlatent.groups.samplers import GroupSampler

#: layout names a projection can list in its ``layouts`` (a config names the studies' four)
LAYOUTS = ("nodes", "regular", "irreps", "vector", "orbit", "field_type", "e3nn")


class Layout:
    """A latent layout: its shape, how the group acts on it, and how to draw one for the contract.

    Attributes
    ----------
    name:
        One of :data:`LAYOUTS`; what a projection's ``layouts`` lists and ``latent_layout`` returns.
    ndim:
        Dimensions of the batched latent the projection computes on.
    shape:
        The latent's shape in words, for error messages.
    fixed:
        True when the latent's size is known at construction (an escnn FieldType), so that a
        projection's output width (``out_features``) is known before its first call.
    """

    name: str = ""
    ndim: int = 2
    shape: str = "[batch, ...]"
    fixed: bool = False
    #: shape of :meth:`example_latent`
    example_shape: tuple[int, ...] = (6, 10)

    def tensor(self, x: Any, who: str, check_finite: bool = False) -> Tensor:
        """``x`` as the tensor a projection named ``who`` computes on; a one-line LatentShapeError otherwise.

        Reads shapes and dtypes only (``check_finite`` reads values: a host sync).
        """
        if not isinstance(x, Tensor):
            raise LatentShapeError(f"projection '{who}' got a {type(x).__name__}, not a torch.Tensor",
                                   "pass the latent as a tensor (torch.as_tensor(z))")
        if x.ndim != self.ndim:
            raise LatentShapeError(f"projection '{who}' needs a latent with {self.ndim} dims {self.shape}, got shape "
                                   f"{tuple(x.shape)}", "reshape the latent to that layout or pick a projection made for it")
        if not torch.is_floating_point(x):
            raise LatentShapeError(f"projection '{who}' needs a floating-point latent, got {x.dtype}", "cast with z.float()")
        if check_finite:
            from eqlatent.groups.inputs import check_finite as refuse_nan

            refuse_nan(x)
        return x

    def action(self, shape: tuple[int, ...] | None = None) -> FieldAction:
        """The group's action on flat latents of per-sample ``shape`` (``z.shape[1:]``; None for a fixed layout)."""
        raise ConfigError(f"a '{self.name}' latent has no group action on it (the group acts on the input only)",
                          "use a projection made for this layout")

    def example_latent(self, generator: torch.Generator) -> Tensor:
        """A random float64 latent of this layout, drawn from ``generator``."""
        return torch.randn(*self.example_shape, generator=generator, dtype=torch.float64)

    def group_sampler(self, z: Tensor) -> "GroupSampler":
        """Random elements of the group acting on latents like ``z`` (:mod:`eqlatent.groups.samplers`)."""
        raise NotImplementedError(f"a '{self.name}' latent has no group action on it (the group acts on the input "
                                  f"only); leave that layout out of the projection's examples()")

    def describe(self) -> str:
        """The layout in words (errors, ``repr``)."""
        return self.shape

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


class NodeLayout(Layout):
    """``[graphs, nodes, d]`` node latents under node permutations (S_n); ``channels`` fixes d (None: any)."""

    name, ndim = "nodes", 3

    def __init__(self, channels: int | None = None) -> None:
        self.channels = channels
        self.example_shape = (8, 9, channels or 3)

    @property
    def shape(self) -> str:  # type: ignore[override]
        return f"[batch, nodes, {'channels' if self.channels is None else f'{self.channels} channel'}]"

    def group_sampler(self, z: Tensor) -> "GroupSampler":
        from eqlatent.groups.samplers import node_permutation_sampler

        return node_permutation_sampler()


class _PerShape(Layout):
    """A studies' field layout: the action depends on the latent's shape, built once per shape and kept.

    Kept on the instance, not only in the builders' ``lru_cache``: ``torch.compile`` reads a dict but
    traces through an ``lru_cache`` and would rebuild the action in every compiled call.
    """

    ndim = 3

    def __init__(self) -> None:
        self._actions: dict[tuple[int, int], FieldAction] = {}

    def action(self, shape: tuple[int, ...] | None = None) -> FieldAction:
        if shape is None:
            raise ConfigError(f"a '{self.name}' projection sizes itself on each latent (any {self.shape})",
                              "build it from the latent's escnn FieldType for a fixed size")
        fields, size = (int(s) for s in shape)
        if (fields, size) not in self._actions:
            self._actions[fields, size] = self._build(fields, size)
        return self._actions[fields, size]

    def _build(self, fields: int, size: int) -> FieldAction:
        raise NotImplementedError


class RegularLayout(_PerShape):
    """``[batch, fields, N]``: regular fields of C_N (the studies' C_N encoders); C_N rolls the last axis."""

    name, shape, example_shape = "regular", "[batch, fields, N] (regular representation of C_N)", (6, 3, 8)

    def _build(self, fields: int, size: int) -> FieldAction:
        from eqlatent.groups.layouts import regular_action

        return regular_action(fields, size)

    def group_sampler(self, z: Tensor) -> "GroupSampler":
        from eqlatent.groups.samplers import cyclic_shift_sampler

        return cyclic_shift_sampler(z.shape[-1], axis=-1)


class IrrepsLayout(_PerShape):
    """``[batch, fields, 1 + 2L]``: SO(2) irreps 0..L per field in escnn's basis (the studies' SO(2) encoder).

    ``n_angles``: the rotation grid of the action (a maximum over SO(2) runs over it).
    """

    name, shape, example_shape = "irreps", "[batch, fields, 1 + 2L] (SO(2) irreps 0..L)", (6, 3, 7)

    def __init__(self, n_angles: int = 64) -> None:
        super().__init__()
        self.n_angles = int(n_angles)

    def tensor(self, x: Any, who: str, check_finite: bool = False) -> Tensor:
        z = super().tensor(x, who, check_finite)
        if (z.shape[-1] - 1) % 2:
            raise LatentShapeError(f"projection '{who}' needs irreps fields of size 1 + 2L, got {z.shape[-1]}",
                                   "pass the SO(2) latent [batch, fields, 1 + 2L] unchanged")
        return z

    def _build(self, fields: int, size: int) -> FieldAction:
        from eqlatent.groups.layouts import irreps_action

        return irreps_action(fields, size, self.n_angles)

    def group_sampler(self, z: Tensor) -> "GroupSampler":
        from eqlatent.groups.samplers import so2_irreps_sampler

        return so2_irreps_sampler()


class VectorLayout(Layout):
    """``[batch, features]`` of a plain CNN: the rotation acts on the input image only, not on this latent."""

    name, ndim, shape, example_shape = "vector", 2, "[batch, features] (plain CNN)", (6, 10)


class OrbitLayout(Layout):
    """``[batch, M, features]``: a plain CNN's latents of M rotated copies of the input; C_M rolls axis 1."""

    name, ndim, shape, example_shape = "orbit", 3, "[batch, M, features] (plain CNN on M rotated copies)", (6, 4, 10)

    def group_sampler(self, z: Tensor) -> "GroupSampler":
        from eqlatent.groups.samplers import cyclic_shift_sampler

        return cyclic_shift_sampler(z.shape[1], axis=1)


class FieldTypeLayout(Layout):
    """Latents of an escnn ``FieldType``: flat ``[B, D]``, a 1x1 map ``[B, D, 1, 1]`` or a ``GeometricTensor``.

    The action is built once, at construction (escnn's matrices at the group's elements, or over
    SO(2) / O(2) at the ``n_angles`` grid's interpolation nodes), so a projection's width is known
    before its first call.  ``n_angles``: None for ``max(64, 4(2L+1))``; fewer than ``4(2L+1)`` is a
    one-line error (:func:`eqlatent.groups.specs.grid_angles`).
    """

    name, ndim, fixed = "field_type", 2, True

    def __init__(self, field_type: Any, n_angles: int | None = None) -> None:
        from eqlatent.groups.field_types import action_from_field_type, band_limit
        from eqlatent.groups.specs import as_field_type, grid_angles

        self.field_type = as_field_type(field_type, "invariant_projection")
        self.n_angles = grid_angles(band_limit(self.field_type), n_angles)
        self._action = action_from_field_type(self.field_type, self.n_angles)
        self.example_shape = (6, self.field_type.size)

    @property
    def shape(self) -> str:  # type: ignore[override]
        return f"[batch, {self.field_type.size}] ({self._action.name} field type)"

    def tensor(self, x: Any, who: str, check_finite: bool = False) -> Tensor:
        from eqlatent.groups.inputs import flat_latent

        return flat_latent(x, self.field_type, check_finite=check_finite)

    def action(self, shape: tuple[int, ...] | None = None) -> FieldAction:
        return self._action

    def group_sampler(self, z: Tensor) -> "GroupSampler":
        from eqlatent.groups.samplers import field_type_sampler

        return field_type_sampler(self.field_type)


class E3nnLayout(Layout):
    """Flat ``[B, irreps.dim]`` latents of an e3nn model (MACE, NequIP, your own ``o3.Linear`` stack).

    Built from an ``e3nn.o3.Irreps`` (acted on by O(3): its parities are part of the representation),
    an :class:`~eqlatent.groups.o3.IrrepsAction`, or a spec ``"SO3: 8x0e + 4x1o"`` / ``"O3: ..."``
    (:func:`eqlatent.groups.o3.parse_irreps_spec`); the action is e3nn's own (``D_from_matrix``, mul-major
    blocks of ``2l+1``), built once, so a projection's width is known at construction.  e3nn is imported
    when the first such layout is built, not with eqlatent.  Its sampler draws uniform random rotations
    (and, under O(3), the inversion with probability 1/2) and acts with e3nn's own matrices
    (``D_from_angles``), independently of the Wigner matrices the projections compute with.
    """

    name, ndim, fixed = "e3nn", 2, True

    def __init__(self, irreps: Any) -> None:
        from eqlatent.groups.o3 import irreps_action

        self._action = irreps_action(irreps)
        #: the width as a plain int: ``torch.compile`` guards on what ``forward`` reads, and cannot guard an Irreps
        self.dim = int(self._action.dim)
        self.example_shape = (6, self.dim)

    @property
    def irreps(self) -> Any:
        """The ``e3nn.o3.Irreps`` of the latent."""
        return self._action.irreps

    @property
    def shape(self) -> str:  # type: ignore[override]
        return f"[batch, {self._action.dim}] (e3nn {self._action.spec})"

    def tensor(self, x: Any, who: str, check_finite: bool = False) -> Tensor:
        dim = self.dim
        if isinstance(x, Tensor) and (x.ndim != 2 or x.shape[1] != dim):
            raise LatentShapeError(f"projection '{who}' needs e3nn latents [batch, irreps.dim] = [batch, {dim}] for "
                                   f"irreps {self._action.irreps}, got shape {tuple(x.shape)}",
                                   "pass the model's flat output [N, irreps.dim] (one row per sample) with the irreps "
                                   "it was built with")
        return super().tensor(x, who, check_finite)

    def action(self, shape: tuple[int, ...] | None = None) -> Any:  # an IrrepsAction, not a FieldAction
        return self._action

    def group_sampler(self, z: Tensor) -> "GroupSampler":
        """Uniform rotations, times the inversion with probability 1/2 under O(3), as e3nn's ``D_from_angles``.

        Euler angles drawn directly (``alpha``, ``gamma`` uniform, ``cos beta`` uniform: the Haar measure),
        so no ``matrix_to_angles`` runs: it loses half the digits near its pole (~1e-11 errors seen).
        """
        import math

        from eqlatent.groups.o3 import e3nn_float64
        from eqlatent.groups.samplers import GroupAction

        action = self._action

        def sample(gen: torch.Generator) -> GroupAction:
            u = torch.rand(3, generator=gen, dtype=torch.float64)
            alpha, beta, gamma = 2 * math.pi * u[0], torch.arccos(2 * u[1] - 1), 2 * math.pi * u[2]
            inverted = action.group == "O3" and bool(torch.randint(2, (), generator=gen))
            with e3nn_float64():
                D = action.irreps.D_from_angles(alpha, beta, gamma, torch.tensor(float(inverted)))
            return GroupAction(on_input=lambda x: x @ D.to(x).T,
                               description=f"{action.group} element {'with' if inverted else 'without'} inversion")

        return sample


#: the studies' layouts by name (what a config's ``layout=`` names)
NAMED = {"nodes": NodeLayout, "regular": RegularLayout, "irreps": IrrepsLayout, "vector": VectorLayout,
         "orbit": OrbitLayout}


def as_layout(obj: Any, n_angles: int | None = None) -> Layout:
    """The :class:`Layout` ``obj`` names: a Layout, a name of :data:`NAMED`, an escnn FieldType or a spec string.

    ``n_angles``: the SO(2) / O(2) rotation grid of an ``irreps`` or field-type layout (unused for e3nn
    latents, whose SO(3) grid is sized by their highest degree).  The hook for a new family: one more
    branch here, for the object its layout is built from.
    """
    if isinstance(obj, Layout):
        return obj
    if isinstance(obj, str) and obj in NAMED:
        if obj == "irreps":
            return IrrepsLayout(64 if n_angles is None else n_angles)
        return NAMED[obj]()
    from eqlatent.groups.o3 import is_irreps
    from eqlatent.groups.specs import is_field_type, is_field_type_spec

    if is_irreps(obj):  # before the field-type specs: "O3: 8x0e + 4x1o" has a ':' too
        return E3nnLayout(obj)

    if is_field_type(obj) or is_field_type_spec(obj):
        return FieldTypeLayout(obj, n_angles)
    if isinstance(obj, str):
        raise ConfigError(f"unknown latent layout '{obj}'", f"use one of {', '.join(NAMED)}, an escnn FieldType, a "
                          "field-type spec such as 'C8: 2 regular + trivial' or an e3nn spec such as 'O3: 8x0e + 4x1o'")
    raise ConfigError(f"cannot build a projection from a {type(obj).__name__}",
                      "pass a layout name (regular, irreps, vector, orbit, nodes), an escnn FieldType, an e3nn Irreps "
                      "or a spec string")
