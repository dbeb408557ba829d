"""eqlatent.project_nodes on PyG-style node latents: per-graph dense results, invariance, bad input.

Synthetic node latents (random graph sizes); the PyG Batch test builds real torch_geometric
``Data`` objects around them.
"""

from __future__ import annotations

import pytest
import torch

import eqlatent
from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.projections.registry import projection_class, projection_names

NODE_METHODS = projection_names("nodes")


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
    proj = projection_class(method)()
    slots = int(sizes.max())
    for g, xg in enumerate(torch.split(x, sizes.tolist())):
        if proj.keeps_nodes:  # the sorts: padding = zero-latent nodes, sorted in with the others
            expected = proj(torch.cat([xg, xg.new_zeros(slots - len(xg), d)]).unsqueeze(0))[0]
        else:
            expected = proj(xg.unsqueeze(0))[0]
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
    assert eqlatent.project_nodes(torch.randn(4, 5, 1), projection="sort").shape == (4, 5)  # dense, no padding


def test_bad_input_is_a_one_line_error_naming_the_fix():
    x, batch, _ = graphs(2)
    cases = [
        (lambda: eqlatent.project_nodes(x, batch[:-1], "lex_sort"), LatentShapeError, "one graph index per node"),
        (lambda: eqlatent.project_nodes(x, batch.flip(0), "lex_sort"), LatentShapeError, "argsort"),
        (lambda: eqlatent.project_nodes(x, batch, "sort"), LatentShapeError, "lex_sort or channel_sort"),
        (lambda: eqlatent.project_nodes(x, batch, "median"), ConfigError, "sort, lex_sort"),
        (lambda: eqlatent.NodeProjection("median"), ConfigError, "sort, lex_sort"),
        (lambda: eqlatent.project_nodes(x.masked_fill(x > 1.5, float("nan")), batch), LatentShapeError, "NaN"),
        (lambda: eqlatent.project_nodes(x, projection="sum_pool"), LatentShapeError, "batch [num_nodes]"),
        (lambda: eqlatent.project_nodes(x, batch, "sum"), ConfigError, "now called 'sum_pool'"),
        (lambda: eqlatent.NodeProjection("max"), ConfigError, "now called 'max_pool'"),
    ]
    for fn, exc, word in cases:
        with pytest.raises(exc) as err:
            fn()
        assert "\n" not in str(err.value) and "fix:" in str(err.value) and word in str(err.value), str(err.value)


def one_line(err, *words):
    """The error is a single "problem -- fix: ..." line containing every word."""
    text = str(err.value)
    assert "\n" not in text and "fix:" in text and all(w in text for w in words), text


def test_max_num_nodes_below_the_largest_graph_is_an_error_not_a_silent_truncation():
    """Truncating nodes before projecting breaks invariance (relabelling changes which nodes are dropped)."""
    x, batch, _ = graphs(2, n_graphs=5)
    x, batch = torch.cat([x, torch.randn(11, 2)]), torch.cat([batch, torch.full((11,), 5)])
    for method in ("lex_sort", "channel_sort"):
        with pytest.raises(LatentShapeError) as err:
            eqlatent.project_nodes(x, batch, method, max_num_nodes=8)
        one_line(err, "11 nodes", "max_num_nodes=11")
    for method in ("sum_pool", "mean_pool", "max_pool"):  # pooling is d wide whatever the graph sizes: no limit
        expected = eqlatent.project_nodes(x, batch, method)
        assert torch.equal(eqlatent.project_nodes(x, batch, method, max_num_nodes=8), expected)
        module = eqlatent.NodeProjection(method, max_num_nodes=8, in_features=2)
        assert torch.allclose(module(x, batch), expected) and torch.allclose(module(x, batch, num_graphs=6), expected)
        assert eqlatent.project_nodes(torch.randn(3, 11, 2), projection=method, max_num_nodes=8).shape == (3, 2)
    with pytest.raises(LatentShapeError) as err:
        eqlatent.toolkit.nodes.dense_nodes(x, batch, max_num_nodes=8)
    one_line(err, "11 nodes")
    with pytest.raises(LatentShapeError) as err:  # dense input: more node slots than max_num_nodes
        eqlatent.project_nodes(torch.randn(4, 11, 2), projection="lex_sort", max_num_nodes=8)
    one_line(err, "11", "max_num_nodes")
    # max_num_nodes equal to the largest graph is fine and invariant
    out = eqlatent.project_nodes(x, batch, "lex_sort", max_num_nodes=11)
    assert out.shape == (6, 22)
    first = len(x) - 11  # relabel the nodes of the largest graph
    perm = torch.cat([torch.arange(first), first + torch.randperm(11, generator=torch.Generator().manual_seed(0))])
    assert torch.equal(eqlatent.project_nodes(x[perm], batch, "lex_sort", max_num_nodes=11), out)


def test_fixed_width_is_an_explicit_request_and_feeds_a_linear_layer_across_batches():
    module = eqlatent.NodeProjection("lex_sort", max_num_nodes=12, in_features=3)
    linear = torch.nn.Linear(module.out_features, 4)
    widths = set()
    for seed, n_graphs, extra in ((0, 5, 0), (1, 49, 12)):  # the second batch adds a graph of 12 nodes
        x, batch, _ = graphs(3, n_graphs - (extra > 0), seed)
        x, batch = torch.cat([x, torch.randn(extra, 3)]), torch.cat([batch, torch.full((extra,), n_graphs - 1)])
        out = module(x, batch)
        assert out.shape == (n_graphs, 36) and linear(out).shape == (n_graphs, 4)
        widths.add(eqlatent.project_nodes(x, batch, "lex_sort").shape[1])  # without max_num_nodes: per batch
    assert len(widths) == 2  # the width follows each batch's largest graph unless max_num_nodes is given
    # dense input is padded to the requested number of slots too (zero nodes, sorted in with the real ones)
    z = torch.randn(4, 5, 1)
    fixed = eqlatent.project_nodes(z, projection="sort", max_num_nodes=7)
    padded = torch.cat([z, z.new_zeros(4, 2, 1)], 1)
    assert fixed.shape == (4, 7) and torch.equal(fixed, eqlatent.project_nodes(padded, projection="sort"))


def test_return_counts_tells_zero_padding_from_zero_latent_nodes():
    x = torch.zeros(7, 2)
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    out = eqlatent.project_nodes(x, batch, "lex_sort")
    assert isinstance(out, torch.Tensor) and torch.equal(out[0], out[1])  # the ambiguity: same row
    res = eqlatent.project_nodes(x, batch, "lex_sort", return_counts=True)
    out2, counts = res
    assert torch.equal(out2, out) and torch.equal(res.counts, torch.tensor([3, 4])) and res.out is out2
    with_counts = torch.cat([out, counts.unsqueeze(1).to(out.dtype)], 1)  # the documented way to append them
    assert not torch.equal(with_counts[0], with_counts[1])
    # counts of random graphs, of a PyG Batch, of dense input and through the module; mask agrees
    xr, br, sizes = graphs(3)
    assert torch.equal(eqlatent.project_nodes(xr, br, "sum_pool", return_counts=True).counts, sizes)
    z, mask = eqlatent.toolkit.nodes.dense_nodes(xr, br)
    assert torch.equal(mask.sum(1), sizes)
    assert torch.equal(eqlatent.project_nodes(torch.randn(4, 5, 2), return_counts=True).counts, torch.full((4,), 5))
    assert torch.equal(eqlatent.NodeProjection("mean_pool", return_counts=True)(xr, br).counts, sizes)


@pytest.mark.parametrize("ids", ["gaps", "no_zero", "past_num_graphs"])
def test_non_contiguous_graph_ids_are_refused(ids):
    x, batch, _ = graphs(2, n_graphs=50)
    kwargs = {}
    if ids == "gaps":
        batch = batch * 2
    elif ids == "no_zero":
        batch = batch + 1
    else:
        kwargs["num_graphs"] = 40
    with pytest.raises(LatentShapeError) as err:
        eqlatent.project_nodes(x, batch, "lex_sort", **kwargs)
    one_line(err, "torch.unique(batch, return_inverse=True)" if ids != "past_num_graphs" else "num_graphs")
    with pytest.raises(LatentShapeError):
        eqlatent.toolkit.nodes.dense_nodes(x, batch, **kwargs)


def test_default_method_works_for_any_d_and_lex_sort_equals_sort_for_one_channel():
    x, batch, sizes = graphs(5)
    assert torch.equal(eqlatent.project_nodes(x, batch), eqlatent.project_nodes(x, batch, "lex_sort"))
    assert eqlatent.NodeProjection().method == "lex_sort"
    assert torch.equal(eqlatent.NodeProjection()(x, batch), eqlatent.project_nodes(x, batch, "lex_sort"))
    x1, batch1, _ = graphs(1, n_graphs=20)
    x1 = x1.round()  # ties
    assert torch.equal(eqlatent.project_nodes(x1, batch1, "lex_sort"), eqlatent.project_nodes(x1, batch1, "sort"))
    z = torch.randn(6, 9, 1).round()
    assert torch.equal(eqlatent.project_nodes(z, projection="lex_sort"), eqlatent.project_nodes(z, projection="sort"))


@pytest.mark.parametrize("method", list(NODE_METHODS))
def test_empty_graphs_are_errors_and_empty_batches_give_empty_rows_where_the_width_is_known(method):
    """As invariant_projection's [0, F]: no graphs give [0, width] when the width is known, else one line saying so."""
    from torch_geometric.data import Batch, Data

    d = 1 if method == "sort" else 2
    x, batch, _ = graphs(d, n_graphs=4)
    with pytest.raises(LatentShapeError) as err:  # num_graphs larger than the ids present: graphs 4 and 5 empty
        eqlatent.project_nodes(x, batch, method, num_graphs=6)
    one_line(err, "4, 5", "no nodes")
    data = Batch.from_data_list([Data(x=torch.randn(2, d)), Data(x=torch.zeros(0, d)), Data(x=torch.randn(3, d))])
    with pytest.raises(LatentShapeError) as err:
        eqlatent.project_nodes(data, projection=method)
    one_line(err, "graph 1 ", "no nodes")
    with pytest.raises(LatentShapeError) as err:
        eqlatent.project_nodes(torch.zeros(3, 0, d), projection=method)
    one_line(err, "no nodes")
    with pytest.raises(LatentShapeError) as err:
        eqlatent.toolkit.nodes.dense_nodes(x, batch, num_graphs=6)
    one_line(err, "no nodes")
    sort = projection_class(method).keeps_nodes
    width = lambda slots: eqlatent.NodeProjection(method, max_num_nodes=slots, in_features=d).out_features  # noqa: E731
    no_rows, no_ids = torch.zeros(0, d), torch.zeros(0, dtype=torch.long)
    assert eqlatent.project_nodes(torch.zeros(0, 4, d), projection=method).shape == (0, width(4))
    assert eqlatent.project_nodes(no_rows, no_ids, method, max_num_nodes=5).shape == (0, width(5))
    module = eqlatent.NodeProjection(method, max_num_nodes=5)
    assert module(no_rows, no_ids, num_graphs=None).shape == (0, width(5))
    assert width(5) == {"mixing_sort": 5 * (5 * (d - 1) + 1)}.get(method, 5 * d if sort else d)  # n(d-1)+1 columns
    if sort:  # the width of a sort's rows is the largest graph: undefined without graphs or max_num_nodes
        with pytest.raises(LatentShapeError) as err:
            eqlatent.project_nodes(no_rows, no_ids, method)
        one_line(err, "no graphs", "max_num_nodes")
    else:
        assert eqlatent.project_nodes(no_rows, no_ids, method).shape == (0, d)
    with pytest.raises(LatentShapeError):  # an empty batch that claims graphs: those graphs have no nodes
        eqlatent.project_nodes(no_rows, no_ids, method, max_num_nodes=5, num_graphs=2)


def test_node_projection_out_features_sizes_a_linear_layer_or_says_what_to_pass():
    cases = [(("sum_pool",), {"in_features": 5}, 5), (("max_pool",), {"in_features": 5, "max_num_nodes": 9}, 5),
             (("lex_sort",), {"max_num_nodes": 10, "in_features": 3}, 30), (("channel_sort", 9, 2), {}, 18),
             (("sort",), {"max_num_nodes": 10}, 10)]  # sort: one channel per node, so in_features is known
    for args, kwargs, expected in cases:
        module = eqlatent.NodeProjection(*args, **kwargs)
        assert module.out_features == expected, (args, kwargs)
        x, batch, _ = graphs(module.in_features or 1)
        assert module(x, batch).shape[1] == expected
    for kwargs, word in (({"method": "lex_sort", "in_features": 3}, "max_num_nodes"),
                         ({"method": "sum_pool"}, "in_features"), ({"method": "lex_sort"}, "max_num_nodes=")):
        with pytest.raises(ConfigError) as err:
            eqlatent.NodeProjection(**kwargs).out_features
        one_line(err, word)
    with pytest.raises(ConfigError) as err:
        eqlatent.NodeProjection("sort", in_features=3)
    one_line(err, "lex_sort")
    for bad in ({"max_num_nodes": 0}, {"in_features": -1}, {"max_num_nodes": 2.5}):
        with pytest.raises(ConfigError) as err:
            eqlatent.NodeProjection("lex_sort", **bad)
        one_line(err, "positive")
    module = eqlatent.NodeProjection("lex_sort", max_num_nodes=9, in_features=3)
    with pytest.raises(LatentShapeError) as err:  # a latent of another width than promised
        module(*graphs(2)[:2])
    one_line(err, "in_features=3")
    assert "in_features=3" in repr(module) and "max_num_nodes=9" in repr(module)


# -- issue 26: bad input named in one line, low precision, the module inside a model ---------------------------

def test_a_batch_vector_that_is_not_1d_says_so():
    x, batch, _ = graphs(3)
    for bad in (batch[:, None], batch[None, :]):
        with pytest.raises(LatentShapeError) as err:
            eqlatent.project_nodes(x, bad)
        one_line(err, "1-D", f"got shape {tuple(bad.shape)}")
        with pytest.raises(LatentShapeError) as err:
            eqlatent.retention(x, "sum_pool", "S_n", batch=bad)
        one_line(err, "1-D")


@pytest.mark.parametrize("method", list(NODE_METHODS))
def test_the_sync_free_module_path_equals_project_nodes(method):
    """With num_graphs (and max_num_nodes for a sort) the module asserts on the device instead of the host:
    the rows are those of project_nodes, for node rows, a PyG Batch and a dense latent with its mask."""
    from torch_geometric.data import Batch, Data
    from torch_geometric.utils import to_dense_batch

    d = 1 if method == "sort" else 3
    x, batch, sizes = graphs(d, n_graphs=9)
    expected = eqlatent.project_nodes(x, batch, method, max_num_nodes=10, return_counts=True)
    module = eqlatent.NodeProjection(method, max_num_nodes=10, return_counts=True)
    out, counts = module(x, batch, num_graphs=9)
    assert torch.allclose(out, expected.out, atol=1e-6) and torch.equal(counts, sizes)
    data = Batch.from_data_list([Data(x=xg) for xg in torch.split(x, sizes.tolist())])
    assert torch.allclose(module(data).out, expected.out, atol=1e-6)
    dense, mask = to_dense_batch(x, batch)
    from_dense = module(dense, mask=mask)
    assert torch.allclose(from_dense.out, expected.out, atol=1e-6) and torch.equal(from_dense.counts, sizes)
    assert torch.allclose(eqlatent.project_nodes(dense, projection=method, max_num_nodes=10, mask=mask), expected.out,
                          atol=1e-6)


def test_the_module_asserts_its_input_conditions_on_the_device_in_one_line():
    x, batch, _ = graphs(2, n_graphs=5)
    sort = eqlatent.NodeProjection("lex_sort", max_num_nodes=8)
    cases = [(lambda: sort(x, batch, num_graphs=4), "outside 0..3"),           # an id past num_graphs
             (lambda: sort(x, batch.flip(0), num_graphs=5), "not sorted"),
             (lambda: sort(x, batch, num_graphs=6), "no nodes"),                # graph 5 is empty
             (lambda: eqlatent.NodeProjection("lex_sort", max_num_nodes=2)(x, batch, num_graphs=5), "max_num_nodes=2"),
             (lambda: sort(torch.randn(3, 4, 2), mask=torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]])),
              "no nodes")]
    for fn, word in cases:
        with pytest.raises(RuntimeError) as err:
            fn()
        assert "\n" not in str(err.value) and "fix:" in str(err.value) and word in str(err.value), str(err.value)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", ["lex_sort", "sum_pool", "mean_pool", "max_pool"])
def test_low_precision_is_computed_in_float32_and_returned_in_its_dtype(dtype, method):
    """Half-precision node latents: the float32 result of the same (rounded) latent, rounded once."""
    x, batch, _ = graphs(3, n_graphs=20)
    x = x.to(dtype)
    out = eqlatent.project_nodes(x, batch, method)
    assert out.dtype == dtype
    assert torch.equal(out, eqlatent.project_nodes(x.float(), batch, method).to(dtype))
    module = eqlatent.NodeProjection(method, max_num_nodes=8)
    assert torch.equal(module(x, batch, num_graphs=20), eqlatent.NodeProjection(method, max_num_nodes=8)(
        x.float(), batch, num_graphs=20).to(dtype))


def test_nan_passes_through_the_module_and_is_refused_at_the_api_or_on_request():
    x, batch, _ = graphs(2, n_graphs=5)
    x[0, 0] = float("nan")
    for method in NODE_METHODS:
        if method == "sort":
            continue
        out = eqlatent.NodeProjection(method, max_num_nodes=8)(x, batch, num_graphs=5)
        assert torch.isnan(out[0]).any() and not torch.isnan(out[1:]).any(), method  # NaN in, NaN out (graph 0 only)
    with pytest.raises(LatentShapeError) as err:
        eqlatent.NodeProjection("sum_pool", check_finite=True)(x, batch, num_graphs=5)
    one_line(err, "NaN")
    with pytest.raises(LatentShapeError) as err:
        eqlatent.project_nodes(x, batch, "sum_pool")
    one_line(err, "NaN")


def test_method_is_the_deprecated_name_of_projection():
    x, batch, _ = graphs(3)
    expected = eqlatent.project_nodes(x, batch, projection="sum_pool")
    with pytest.warns(DeprecationWarning, match="projection="):
        assert torch.equal(eqlatent.project_nodes(x, batch, method="sum_pool"), expected)
    with pytest.warns(DeprecationWarning, match="projection="):
        module = eqlatent.NodeProjection(method="sum_pool")
    assert module.name == "sum_pool" and torch.equal(module(x, batch), expected)
    with pytest.raises(ConfigError) as err:  # a subclass is its own projection
        from eqlatent.projections.sort import Sort

        Sort("lex_sort")
    one_line(err, "NodeProjection('lex_sort'")
