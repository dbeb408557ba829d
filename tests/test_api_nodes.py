"""eqlatent.project_nodes on PyG-style node latents: per-graph dense results, invariance, bad input.

Synthetic node latents (random graph sizes); the PyG Batch test builds real torch_geometric
``Data`` objects around them.
"""

from __future__ import annotations

import pytest
import torch

import eqlatent
from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.toolkit.nodes import NODE_METHODS


def graphs(d=3, n_graphs=7, seed=0):
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, 9, (n_graphs,), generator=gen)
    batch = torch.repeat_interleave(torch.arange(n_graphs), sizes)
    return torch.randn(len(batch), d, generator=gen), batch, sizes


@pytest.mark.parametrize("method", list(NODE_METHODS))
def test_equals_the_dense_projection_of_each_graph_and_is_permutation_invariant(method):
    d = 1 if method == "sort" else 3
    x, batch, sizes = graphs(d)
    out = eqlatent.project_nodes(x, batch, method)
    proj = NODE_METHODS[method]()
    width = int(sizes.max()) * d
    for g, xg in enumerate(torch.split(x, sizes.tolist())):
        dense = proj(xg.unsqueeze(0))[0]
        expected = torch.cat([dense, dense.new_zeros(width - len(dense))]) if method in ("sort", "lex_sort", "channel_sort") else dense
        assert torch.allclose(out[g], expected), (method, g)
    # a permutation of the nodes inside every graph (batch stays sorted)
    perm = torch.cat([torch.randperm(int(n), generator=torch.Generator().manual_seed(i)) + int(sizes[:i].sum())
                      for i, n in enumerate(sizes)])
    assert (eqlatent.project_nodes(x[perm], batch, method) - out).abs().max() <= 1e-6


def test_pyg_batch_module_and_fixed_width():
    from torch_geometric.data import Batch, Data

    x, batch, sizes = graphs(2)
    data = Batch.from_data_list([Data(x=xg) for xg in torch.split(x, sizes.tolist())])
    module = eqlatent.NodeProjection("lex_sort", max_num_nodes=10)
    assert torch.equal(module(data), eqlatent.project_nodes(x, batch, "lex_sort", max_num_nodes=10))
    assert module(data).shape == (len(sizes), 20)
    assert eqlatent.project_nodes(torch.randn(4, 5, 1), method="sort").shape == (4, 5)  # dense, no padding


def test_bad_input_is_a_one_line_error_naming_the_fix():
    x, batch, _ = graphs(2)
    cases = [
        (lambda: eqlatent.project_nodes(x, batch[:-1], "lex_sort"), LatentShapeError, "one graph index per node"),
        (lambda: eqlatent.project_nodes(x, batch.flip(0), "lex_sort"), LatentShapeError, "argsort"),
        (lambda: eqlatent.project_nodes(x, batch, "sort"), LatentShapeError, "lex_sort or channel_sort"),
        (lambda: eqlatent.project_nodes(x, batch, "median"), ConfigError, "sort, lex_sort"),
        (lambda: eqlatent.NodeProjection("median"), ConfigError, "sort, lex_sort"),
        (lambda: eqlatent.project_nodes(x.masked_fill(x > 1.5, float("nan")), batch), LatentShapeError, "NaN"),
        (lambda: eqlatent.project_nodes(x, method="sum_pool"), LatentShapeError, "batch [num_nodes]"),
        (lambda: eqlatent.project_nodes(x, batch, "sum"), ConfigError, "now called 'sum_pool'"),
        (lambda: eqlatent.NodeProjection("max"), ConfigError, "now called 'max_pool'"),
    ]
    for fn, exc, word in cases:
        with pytest.raises(exc) as err:
            fn()
        assert "\n" not in str(err.value) and "fix:" in str(err.value) and word in str(err.value), str(err.value)
