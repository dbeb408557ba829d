"""Group samplers: random group elements and how they act, for the equivariance checks.

A *group sampler* is a callable ``sampler(generator) -> GroupAction`` that draws one random
group element and says how it acts on a function's input and output.  The checks in
:mod:`eqlatent.groups.equivariance` compare ``f(g . x)``
with ``f(x)`` or with ``g . f(x)`` over several sampled elements.

Examples
--------
>>> import torch
>>> g = cyclic_shift_sampler(8)(torch.Generator().manual_seed(0))
>>> g.on_input(torch.arange(8.0)).sort().values.tolist() == list(range(8))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

Action = Callable[[Any], Any]


@dataclass
class GroupAction:
    """One group element: how it transforms an input, and how it transforms an output."""

    on_input: Action
    on_output: Action | None = None
    description: str = ""

    def out(self, y: Any) -> Any:
        return (self.on_output or self.on_input)(y)


GroupSampler = Callable[[torch.Generator], GroupAction]


def node_permutation_sampler(adjacency_args: tuple[int, ...] = ()) -> GroupSampler:
    """Random permutation of the node axis (axis 1) of every tensor argument.

    ``adjacency_args`` lists the positions (in a tuple input) of tensors whose axes 1
    *and* 2 are node axes, e.g. a dense adjacency ``[B, n, n, ...]``.
    """

    def sample(gen: torch.Generator) -> GroupAction:
        def act(x: Any) -> Any:
            if isinstance(x, tuple):
                n = x[0].shape[1]
                perm = _perm_for(n)
                return tuple(
                    (t.index_select(1, perm).index_select(2, perm) if i in adjacency_args else t.index_select(1, perm))
                    if isinstance(t, Tensor) else t
                    for i, t in enumerate(x)
                )
            return x.index_select(1, _perm_for(x.shape[1]))

        cache: dict[int, Tensor] = {}

        def _perm_for(n: int) -> Tensor:
            if n not in cache:
                cache[n] = torch.randperm(n, generator=gen)
            return cache[n]

        return GroupAction(on_input=act, description="node permutation")

    return sample


def cyclic_shift_sampler(order: int, axis: int = -1) -> GroupSampler:
    """Random element of C_N acting on the regular representation: a roll of ``axis``."""

    def sample(gen: torch.Generator) -> GroupAction:
        k = int(torch.randint(order, (1,), generator=gen))
        return GroupAction(on_input=lambda x: torch.roll(x, shifts=k, dims=axis), description=f"shift by {k}")

    return sample


def rot90_sampler(image_dims: tuple[int, int] = (-2, -1), output_action: Callable[[Tensor, int], Tensor] | None = None) -> GroupSampler:
    """Random exact rotation by k*90 degrees of images; ``output_action(y, k)`` maps outputs."""

    def sample(gen: torch.Generator) -> GroupAction:
        k = int(torch.randint(4, (1,), generator=gen))
        out = (lambda y: output_action(y, k)) if output_action is not None else None
        return GroupAction(
            on_input=lambda x: torch.rot90(x, k, dims=image_dims), on_output=out, description=f"rot90 x{k}"
        )

    return sample


def so2_irreps_sampler() -> GroupSampler:
    """Random SO(2) rotations (uniform angle) of irreps latents ``[..., 1 + 2L]`` (the studies' SO(2) layout)."""
    import math

    from eqlatent.groups.layouts import rotate_irreps

    def sample(gen: torch.Generator) -> GroupAction:
        theta = float(torch.rand((), generator=gen, dtype=torch.float64)) * 2 * math.pi
        return GroupAction(on_input=lambda x: rotate_irreps(x, theta), description=f"SO(2) rotation by {theta:.3f}")

    return sample


def field_type_sampler(field_type: Any) -> GroupSampler:
    """Random elements of an escnn FieldType's group acting on flat latents ``[B, D]``: ``z -> z rho(g)^T``.

    Finite groups: a uniform element; SO(2): a uniform angle; O(2): a uniform angle and reflection.
    The matrices are escnn's own (``field_type.representation``), independent of the projections' actions.
    """
    import math

    import numpy as np

    from eqlatent.groups.field_types import circle_kind

    group = field_type.fibergroup
    circle = circle_kind(group)

    def sample(gen: torch.Generator) -> GroupAction:
        if circle is not None:
            theta = float(torch.rand((), generator=gen, dtype=torch.float64)) * 2 * math.pi
            flip = int(torch.randint(2, (), generator=gen))
            element = group.element(theta) if circle == "SO(2)" else group.element((flip, theta))
        else:
            elements = list(group.elements)
            element = elements[int(torch.randint(len(elements), (), generator=gen))]
        rho = torch.from_numpy(np.asarray(field_type.representation(element), dtype=np.float64))
        return GroupAction(on_input=lambda x: x @ rho.to(x).T, description=f"{group.name} element {element}")

    return sample
