"""Reusable equivariance / invariance checks, used by the test-suite and by users.

A *group sampler* is a callable ``sampler(generator) -> GroupAction`` that draws one
random group element and says how it acts on the function's input and output.  The
checks compare ``f(g . x)`` with ``f(x)`` (invariance) or with ``g . f(x)``
(equivariance) over several sampled elements and report the worst error, so a failing
test says by how much it failed, not just that it did.  The standard samplers live with
the group actions (:mod:`eqlatent.groups.samplers`) and are re-exported here.

Examples
--------
>>> import torch
>>> from eqlatent.testing import assert_invariant, node_permutation_sampler
>>> x = torch.randn(4, 6, 1)
>>> assert_invariant(lambda z: z.sum(1), x, node_permutation_sampler(), atol=1e-5)
"""

from __future__ import annotations

from typing import Any, Callable

import lightning as L
import torch
from torch import Tensor

from eqlatent.groups.samplers import (
    Action,
    GroupAction,
    GroupSampler,
    cyclic_shift_sampler,
    node_permutation_sampler,
    rot90_sampler,
    so2_irreps_sampler,
)

__all__ = ["Action", "CrashAfterEpochs", "GroupAction", "GroupSampler", "assert_equivariant", "assert_invariant",
           "cyclic_shift_sampler", "equivariance_error", "invariance_error", "node_permutation_sampler",
           "random_dense_graphs", "rot90_sampler", "so2_irreps_sampler"]


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
