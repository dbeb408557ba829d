"""Reusable equivariance / invariance checks: the contract's own, and the test-suite's.

A *group sampler* (:mod:`eqlatent.groups.samplers`) is a callable ``sampler(generator) ->
GroupAction`` that draws one random group element and says how it acts on the function's input
and output.  The checks compare ``f(g . x)`` with ``f(x)`` (invariance) or with ``g . f(x)``
(equivariance) over several sampled elements and report the worst error, so a failing check says
by how much it failed, not just that it did.  They live in the package (as e3nn's
``assert_equivariant``) because every projection's :meth:`~eqlatent.projections.base.InvariantProjection.check_invariance`
runs them, and a researcher can run them on their own encoder.

Examples
--------
>>> import torch
>>> from eqlatent.groups.equivariance import assert_invariant
>>> from eqlatent.groups.samplers import node_permutation_sampler
>>> x = torch.randn(4, 6, 1)
>>> assert_invariant(lambda z: z.sum(1), x, node_permutation_sampler(), atol=1e-5)
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from eqlatent.groups.samplers import GroupSampler

__all__ = ["assert_equivariant", "assert_invariant", "equivariance_error", "invariance_error"]


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
