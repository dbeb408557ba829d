"""Reusable equivariance / invariance checks, used by the test-suite and by users.

A *group sampler* is a callable ``sampler(generator) -> GroupAction`` that draws one
random group element and says how it acts on the function's input and output.  The
checks compare ``f(g . x)`` with ``f(x)`` (invariance) or with ``g . f(x)``
(equivariance) over several sampled elements and report the worst error, so a failing
test says by how much it failed, not just that it did.

Examples
--------
>>> import torch
>>> from eqlatent.testing import assert_invariant, node_permutation_sampler
>>> x = torch.randn(4, 6, 1)
>>> assert_invariant(lambda z: z.sum(1), x, node_permutation_sampler(), atol=1e-5)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import lightning as L
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


def _max_abs_diff(a: Any, b: Any) -> float:
    if isinstance(a, (tuple, list)):
        return max(_max_abs_diff(u, v) for u, v in zip(a, b))
    if isinstance(a, dict):
        return max(_max_abs_diff(a[k], b[k]) for k in a)
    a, b = torch.as_tensor(a).detach(), torch.as_tensor(b).detach()
    if a.shape != b.shape:
        raise AssertionError(f"shape changed under the group action: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.numel() == 0:
        return 0.0
    return float((a.double() - b.double()).abs().max())


def _call(fn: Callable, x: Any) -> Any:
    return fn(*x) if isinstance(x, tuple) else fn(x)


def invariance_error(fn: Callable, x: Any, group_sampler: GroupSampler, n_samples: int = 8, seed: int = 0) -> float:
    """Worst ``|f(g . x) - f(x)|`` over ``n_samples`` random group elements."""
    gen = torch.Generator().manual_seed(seed)
    base = _call(fn, x)
    return max(_max_abs_diff(_call(fn, group_sampler(gen).on_input(x)), base) for _ in range(n_samples))


def equivariance_error(fn: Callable, x: Any, group_sampler: GroupSampler, n_samples: int = 8, seed: int = 0) -> float:
    """Worst ``|f(g . x) - g . f(x)|`` over ``n_samples`` random group elements."""
    gen = torch.Generator().manual_seed(seed)
    base = _call(fn, x)
    worst = 0.0
    for _ in range(n_samples):
        g = group_sampler(gen)
        worst = max(worst, _max_abs_diff(_call(fn, g.on_input(x)), g.out(base)))
    return worst


def assert_invariant(fn: Callable, x: Any, group_sampler: GroupSampler, atol: float, n_samples: int = 8, seed: int = 0) -> None:
    """Fail with the measured error if ``fn`` is not invariant to within ``atol``.

    ``x`` may be a tensor or a tuple of arguments (then ``fn(*x)`` is called and the
    group action receives the whole tuple).
    """
    err = invariance_error(fn, x, group_sampler, n_samples, seed)
    if not err <= atol:
        raise AssertionError(f"not invariant: max |f(g.x) - f(x)| = {err:.3g} > atol {atol:.3g}")


def assert_equivariant(fn: Callable, x: Any, group_sampler: GroupSampler, atol: float, n_samples: int = 8, seed: int = 0) -> None:
    """Fail with the measured error if ``fn`` is not equivariant to within ``atol``."""
    err = equivariance_error(fn, x, group_sampler, n_samples, seed)
    if not err <= atol:
        raise AssertionError(f"not equivariant: max |f(g.x) - g.f(x)| = {err:.3g} > atol {atol:.3g}")


# ---------------------------------------------------------------------------------------
# Standard samplers
# ---------------------------------------------------------------------------------------

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



def random_dense_graphs(batch: int, n: int, n_types: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """SYNTHETIC dense graphs for tests: ``node_type [B, n]`` (-1 = empty slot, ~30 %) and symmetric ``bond_type``.

    Bonds (types 1-4, ~30 % of pairs) join only occupied slots, and empty slots sit at random
    places, so a test also sees padding in the middle of a graph.
    """
    node = torch.randint(n_types, (batch, n), generator=generator)
    node[torch.rand(batch, n, generator=generator) < 0.3] = -1
    bond = torch.randint(5, (batch, n, n), generator=generator) * (torch.rand(batch, n, n, generator=generator) < 0.3)
    bond = torch.triu(bond, 1)
    bond = bond + bond.transpose(1, 2)
    real = node >= 0
    return node, bond * (real.unsqueeze(1) & real.unsqueeze(2))


class CrashAfterEpochs(L.Callback):
    """Raise once ``epochs`` training epochs have finished (and been checkpointed).

    Tests use it to interrupt a real run at a known point: the crash happens at the start
    of epoch ``epochs``, after ModelCheckpoint saved the end of the previous epoch.
    """

    def __init__(self, epochs: int = 1) -> None:
        self.epochs = int(epochs)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch >= self.epochs:
            raise RuntimeError(f"simulated crash after {self.epochs} epoch(s)")
