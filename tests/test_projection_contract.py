"""The InvariantProjection contract and the eqlatent.testing helpers (which must be able to fail)."""

from __future__ import annotations

import pytest
import torch

from eqlatent.errors import LatentShapeError
from eqlatent.projections.base import InvariantProjection
from eqlatent.testing import (
    assert_equivariant,
    assert_invariant,
    cyclic_shift_sampler,
    equivariance_error,
    invariance_error,
    node_permutation_sampler,
    rot90_sampler,
)


class _SumNodes(InvariantProjection):
    name, group, lossless, latent_ndim = "sum_test", "S_n", False, 3

    def layout(self) -> str:
        return "[batch, nodes, channels]"

    def project(self, z, meta):
        return z.sum(1)


def test_projection_rejects_wrong_shapes_in_one_line():
    proj = _SumNodes()
    with pytest.raises(LatentShapeError, match=r"needs a latent with 3 dims \[batch, nodes, channels\], got shape \(4, 5\)") as err:
        proj(torch.zeros(4, 5))
    assert "\n" not in str(err.value) and "fix:" in str(err.value)
    with pytest.raises(LatentShapeError, match="floating-point"):
        proj(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(LatentShapeError, match="not a torch.Tensor"):
        proj([[1.0]])
    assert proj(torch.ones(2, 3, 4)).shape == (2, 4)
    assert "lossy" in repr(proj)


def test_invariance_helper_passes_and_fails():
    x = torch.randn(5, 7, 2)
    assert_invariant(_SumNodes(), x, node_permutation_sampler(), atol=1e-5)
    with pytest.raises(AssertionError, match="not invariant"):
        assert_invariant(lambda z: z[:, 0], x, node_permutation_sampler(), atol=1e-5)
    assert invariance_error(lambda z: z[:, 0], x, node_permutation_sampler()) > 0.1


def test_equivariance_helper_on_tuples_with_adjacency():
    x, adj = torch.randn(3, 6, 2), torch.randn(3, 6, 6)
    message = lambda h, a: a @ h  # noqa: E731  (node features aggregated along edges: equivariant)
    sampler = node_permutation_sampler(adjacency_args=(1,))

    def sample(gen):
        g = sampler(gen)
        g.on_output = lambda y, g=g: g.on_input((y, adj))[0]  # permute outputs like the node input
        return g

    # the output action must use the same permutation as the input action: cached per element
    assert_equivariant(message, (x, adj), sample, atol=1e-5)
    assert equivariance_error(lambda h, a: h.flip(1), (x, adj), sample) > 0.1


def test_cyclic_and_rot90_samplers_act_as_the_group():
    z = torch.randn(4, 3, 8)
    assert_invariant(lambda t: t.max(-1).values, z, cyclic_shift_sampler(8), atol=0)
    imgs = torch.randn(2, 1, 5, 5)
    assert_invariant(lambda t: t.flatten(1).sort(1).values, imgs, rot90_sampler(), atol=0)
    with pytest.raises(AssertionError):
        assert_invariant(lambda t: t.flatten(1), imgs, rot90_sampler(), atol=1e-6, n_samples=16)
