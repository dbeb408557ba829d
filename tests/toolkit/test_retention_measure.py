"""eqlatent.retention on a researcher's own latents: PyG node latents, comparison tables, parameter names,
small samples, field-type specs and the command line.

Synthetic latents throughout (random node latents of graphs of mixed sizes, random field latents).
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
import torch

import eqlatent
from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.toolkit.retention_measure import sample_pairs
from eqlatent.cli.retention import main
from eqlatent.toolkit.retention_measure import RetentionReport, RetentionResult, SmallSampleWarning

NODE_METHODS = ["lex_sort", "channel_sort", "sum_pool", "mean_pool", "max_pool"]


def mixed_graphs(n_graphs: int = 24, d: int = 2, seed: int = 0):
    """``x [num_nodes, d]``, ``batch [num_nodes]`` of graphs with 2..6 nodes (synthetic)."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(2, 7, (n_graphs,), generator=gen)
    x = torch.randn(int(sizes.sum()), d, generator=gen, dtype=torch.float64)
    return x, torch.arange(n_graphs).repeat_interleave(sizes)


def rows(report: RetentionReport) -> list[dict]:
    return [{k: v for k, v in row.items()} for row in report.as_dicts()]


# -- 1. PyG inputs --------------------------------------------------------------------------------

def test_x_batch_pyg_batch_and_dense_with_mask_give_the_same_table():
    from torch_geometric.data import Batch, Data
    from torch_geometric.utils import to_dense_batch

    x, batch = mixed_graphs()
    kw = dict(n_pairs=150, knn_k=3, n_knn=24)
    from_batch_vector = eqlatent.retention(x, NODE_METHODS, "S_n", batch=batch, **kw)
    graphs = [Data(x=x[batch == g]) for g in range(int(batch.max()) + 1)]
    from_pyg = eqlatent.retention(Batch.from_data_list(graphs), NODE_METHODS, "S_n", **kw)
    dense, mask = to_dense_batch(x, batch)
    from_dense = eqlatent.retention(dense, NODE_METHODS, "S_n", mask=mask, **kw)
    assert rows(from_batch_vector) == rows(from_pyg) == rows(from_dense)
    assert [r["projection"] for r in rows(from_pyg)] == NODE_METHODS + ["raw latent"]
    assert from_pyg.rows[0].n_points == 24


@pytest.mark.filterwarnings("ignore::eqlatent.toolkit.retention_measure.SmallSampleWarning")
def test_graphs_of_mixed_sizes_are_compared_zero_padded():
    """The reference distance is the S_n quotient distance of the graphs zero-padded to the largest one."""
    x, batch = mixed_graphs(n_graphs=6, d=1)
    from torch_geometric.utils import to_dense_batch

    dense, _ = to_dense_batch(x, batch)
    # the padded sort (zeros sorted in place) is an isometric cross-section of the zero-padded quotient distance:
    padded_sort = lambda z: torch.sort(z[..., 0], dim=1).values  # noqa: E731
    res = eqlatent.retention(x, padded_sort, "S_n", batch=batch, n_pairs=15, knn_k=2, n_knn=6)
    assert res.rel_error < 1e-12


def test_the_toolkit_sort_is_isometric_across_graph_sizes():
    """``sort`` (d = 1) sorts padding in as zero nodes, so it is the zero-padded quotient's isometric cross-section."""
    x, batch = mixed_graphs(n_graphs=60, d=1)
    res = eqlatent.retention(x, "sort", "S_n", batch=batch, n_pairs=500, knn_k=5, n_knn=60)
    assert res.rel_error < 1e-12 and res.spearman > 1 - 1e-12


def test_s_n_refuses_a_batch_vector_of_the_wrong_length():
    x, batch = mixed_graphs()
    with pytest.raises(LatentShapeError, match="batch") as e:
        eqlatent.retention(x, "sum_pool", "S_n", batch=batch[:-1])
    assert "\n" not in str(e.value)


# -- 2. comparison table with the raw latent ----------------------------------------------------------

def test_a_list_of_projections_gives_a_report_with_the_raw_latent_row():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(40, 5, 1, generator=gen, dtype=torch.float64)
    report = eqlatent.retention(z, ["sort", "sum_pool"], "S_n", n_pairs=300, knn_k=5, n_knn=40)
    assert isinstance(report, RetentionReport)
    sort, pool, raw = report.rows
    assert (sort.projection, pool.projection, raw.projection) == ("sort", "sum_pool", "raw latent")
    assert sort.spearman == pytest.approx(1.0) and sort.rel_error < 1e-12  # lossless isometric cross-section at d = 1
    assert raw.rel_error > 0.05 and raw.spearman < sort.spearman  # the raw latent is not invariant
    assert raw.n_features == 5 and sort.n_features == 5 and pool.n_features == 1
    md = report.to_markdown().splitlines()
    assert len(md) == 2 + 3 and md[0].startswith("| group") and "| raw latent |" in md[-1]
    assert [d["projection"] for d in report.as_dicts()] == ["sort", "sum_pool", "raw latent"]
    no_raw = eqlatent.retention(z, ["sort"], "S_n", n_pairs=300, knn_k=5, n_knn=40, baseline=False)
    assert [r.projection for r in no_raw.rows] == ["sort"]
    single = eqlatent.retention(z, "sort", "S_n", n_pairs=300, knn_k=5, n_knn=40)  # a single name: one row, as before
    assert isinstance(single, RetentionResult) and single.as_dict() == no_raw.as_dicts()[0]


def test_the_raw_row_of_field_latents_is_their_flattened_latent():
    z = torch.randn(30, 3, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    report = eqlatent.retention(z, ["random_invariant", "group_pool_max"], "C8", n_pairs=200, knn_k=5, n_knn=30)
    raw = report.rows[-1]
    assert raw.projection == "raw latent" and raw.n_features == 24
    assert raw.rel_error > 0  # Euclidean distances of the raw latents only bound the quotient distances from above


# -- 3. parameter names -------------------------------------------------------------------------------

def test_knn_k_and_n_functionals_are_named_apart():
    z = torch.randn(30, 2, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    res = eqlatent.retention(z, "random_invariant", "C8", n_pairs=100, knn_k=4, n_knn=30, n_functionals=7)
    assert res.knn_k == 4 and res.n_features == 7
    with pytest.raises(ConfigError, match="knn_k") as e:
        eqlatent.retention(z, "random_invariant", "C8", k=4)
    assert "\n" not in str(e.value)


# -- 4. small samples ---------------------------------------------------------------------------------

def test_sample_pairs_are_distinct_and_capped_at_all_pairs():
    pairs = sample_pairs(5, 2000, seed=0)
    assert len(pairs) == 10
    assert len({tuple(sorted(p)) for p in pairs.tolist()}) == 10
    some = sample_pairs(100, 300, seed=1)
    assert len(some) == 300 and len({tuple(sorted(p)) for p in some.tolist()}) == 300
    assert (some[:, 0] != some[:, 1]).all()
    assert torch.equal(some, sample_pairs(100, 300, seed=1))
    big = sample_pairs(200_000, 1000, seed=2)  # too many pairs to list: sampled without listing them
    assert len({tuple(sorted(p)) for p in big.tolist()}) == 1000 and (big[:, 0] != big[:, 1]).all()


def test_a_small_sample_is_reported_and_warned_about_once():
    z = torch.randn(5, 4, 1, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = eqlatent.retention(z, ["sort", "sum_pool"], "S_n", n_pairs=2000, knn_k=10)
    small = [w for w in caught if issubclass(w.category, SmallSampleWarning)]
    assert len(small) == 1 and "\n" not in str(small[0].message)
    assert "knn_k" in str(small[0].message) and "10 pairs" in str(small[0].message)
    for row in report.rows:
        assert row.n_pairs == 10 and row.note
    assert "note" in report.to_markdown().splitlines()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        fine = eqlatent.retention(torch.randn(40, 4, 1, dtype=torch.float64), "sort", "S_n", n_pairs=200,
                                  knn_k=5, n_knn=40)
    assert fine.note == "" and fine.n_pairs == 200


# -- 5. field-type specs --------------------------------------------------------------------------

def test_field_type_specs_build_escnn_field_types():
    from eqlatent.groups.specs import parse_field_type

    ft = parse_field_type("C4: 4 regular + 2 trivial")
    assert ft.size == 18 and ft.fibergroup.name == "C4"
    assert parse_field_type("SO2: irrep0 + 2*irrep1 + irrep2").size == 1 + 2 * 2 + 2
    assert parse_field_type("D4: regular + irrep(1,1)").size == 8 + 2
    assert parse_field_type("O2: irrep(0,0) + 3 irrep(1,2)").size == 1 + 6
    for bad, what in [("C4: 4 regulr", "regulr"), ("C4 4 regular", "':'"), ("E8: regular", "unknown group"),
                      ("SO2: regular", "regular"), ("C4: irrep7", "irrep7"), ("C4: 0 regular", "0"), ("C4:", "no fields")]:
        with pytest.raises(ConfigError, match=what) as e:
            parse_field_type(bad)
        assert "\n" not in str(e.value) and "fix:" in str(e.value), bad


def test_retention_takes_a_field_type_spec():
    z = torch.randn(30, 18, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    report = eqlatent.retention(z, ["random_invariant", "norm"], "C4: 4 regular + 2 trivial", n_pairs=100,
                                knn_k=4, n_knn=30)
    assert [r.group for r in report.rows] == ["C4: 4 regular + 2 trivial"] * 3
    assert all(np.isfinite(r.spearman) for r in report.rows)
    from eqlatent.groups.specs import parse_field_type

    spec = "SO2: irrep0 + 2*irrep1 + irrep2"  # the quotient distance takes the spec as it takes the FieldType
    w = torch.randn(6, 7, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    assert torch.allclose(eqlatent.quotient_distance(w[:3], w[3:], spec),
                          eqlatent.quotient_distance(w[:3], w[3:], parse_field_type(spec)), atol=1e-12)


# -- 5. the command line --------------------------------------------------------------------------

def test_cli_reads_npy_and_a_mixed_field_type(tmp_path, capsys):
    np.save(tmp_path / "z.npy", np.random.default_rng(0).standard_normal((30, 18)))
    code = main(["--latents", str(tmp_path / "z.npy"), "--field-type", "C4: 4 regular + 2 trivial",
                 "--projection", "random_invariant", "norm", "--n-pairs", "100", "--knn-k", "4", "--n-knn", "30",
                 "--n-functionals", "9"])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = out.out.strip().splitlines()
    assert len(lines) == 2 + 3 and "| random_invariant |" in lines[2] and "| raw latent |" in lines[-1]
    assert "| 9 |" in lines[2]  # the random_invariant row has 9 features


def test_cli_node_latents_with_a_batch_vector_and_json(tmp_path, capsys):
    x, batch = mixed_graphs()
    torch.save({"x": x, "batch": batch}, tmp_path / "nodes.pt")
    np.savez(tmp_path / "nodes.npz", x=x.numpy(), batch=batch.numpy())
    outs = []
    for name in ("nodes.pt", "nodes.npz"):
        code = main(["--latents", str(tmp_path / name), "--group", "S_n", "--projection", "lex_sort", "sum_pool",
                     "--n-pairs", "100", "--knn-k", "3", "--json"])
        out = capsys.readouterr()
        assert code == 0, out.err
        outs.append(json.loads(out.out))
    assert outs[0] == outs[1]
    assert [r["projection"] for r in outs[0]] == ["lex_sort", "sum_pool", "raw latent"]
    assert outs[0][0] == eqlatent.retention(x, ["lex_sort"], "S_n", batch=batch, n_pairs=100, knn_k=3).as_dicts()[0]


def test_cli_method_is_the_old_name_of_projection(tmp_path, capsys):
    """``--method`` (the option's name before one name was used everywhere) still works and says the new name."""
    x, batch = mixed_graphs()
    torch.save({"x": x, "batch": batch}, tmp_path / "nodes.pt")
    runs = {}
    for option in ("--projection", "--method"):
        code = main(["--latents", str(tmp_path / "nodes.pt"), "--group", "S_n", option, "lex_sort", "--n-pairs", "100",
                     "--knn-k", "3", "--json"])
        out = capsys.readouterr()
        assert code == 0, out.err
        runs[option] = (json.loads(out.out), out.err)
    assert runs["--method"][0] == runs["--projection"][0]
    assert "--method is now called --projection" in runs["--method"][1] and not runs["--projection"][1]


@pytest.mark.parametrize("argv, what", [
    (["--group", "S_n", "--k", "3"], "--knn-k"),
    (["--field-type", "C4: 4 regulr"], "regulr"),
    (["--field-type", "C4: 4 regular"], "has 16"),  # 18 numbers are not 4 regular C4 fields
    (["--group", "C4"], "--field-type"),  # 18 numbers: mixed fields, which only a spec describes
    (["--group", "S_n", "--projection", "nope"], "nope"),
    (["--group", "S_n", "--bogus"], "--bogus"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, what):
    np.save(tmp_path / "z.npy", np.random.default_rng(0).standard_normal((10, 18)))
    code = main(["--latents", str(tmp_path / "z.npy")] + argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and what in err and "fix:" in err, err


def test_cli_prog_name_and_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"], prog="eqlatent retention")
    text = capsys.readouterr().out
    assert text.startswith("usage: eqlatent retention")
    for option in ("--knn-k", "--n-functionals", "--field-type", "--n-pairs", "--seed", "--batch"):
        assert re.search(rf"{option} [A-Z_]+\s+[^-\s]", text), option  # present, with help text


# -- 6. what retention measures ---------------------------------------------------------------------

def test_the_docstring_says_distance_preserving_not_lossless():
    doc = eqlatent.retention.__doc__
    assert "lossless" in doc and "distance-preserving" in doc and "not" in doc.lower()


def test_cli_warns_about_a_small_sample_in_one_line(tmp_path, capsys):
    np.save(tmp_path / "z.npy", np.random.default_rng(1).standard_normal((5, 4, 1)))
    code = main(["--latents", str(tmp_path / "z.npy"), "--group", "S_n", "--projection", "sort", "sum_pool"])
    out = capsys.readouterr()
    assert code == 0
    assert out.err.count("\n") == 1 and out.err.startswith("warning:") and "trivially 1" in out.err
    assert "| 10 |" in out.out and "only 10 pairs" in out.out  # 10 distinct pairs of 5 latents, not 2000


def test_retention_prints_nothing_off_a_terminal(capfd):
    """The quotient distances' progress bar is for terminals: in a pipe or a log it used to leave a blank line."""
    x, batch = mixed_graphs(n_graphs=60, d=2)
    eqlatent.retention(x, ["lex_sort"], "S_n", batch=batch, n_knn=60, knn_k=5)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_callable_for_s_n_gets_the_padding_mask_by_its_convention():
    """meta={"mask": ...} for the studies' projections, mask= for NodeProjection, nothing for f(z)."""
    from eqlatent.projections.mean_pool import MeanPool

    x, batch = mixed_graphs(n_graphs=30, d=2)
    kw = dict(n_pairs=200, knn_k=3, n_knn=30)
    named = eqlatent.retention(x, ["mean_pool", "max_pool"], "S_n", batch=batch, baseline=False, **kw)
    seen = {}

    def by_meta(z, meta=None):
        seen["meta"] = meta
        return MeanPool()(z, meta)

    assert eqlatent.retention(x, by_meta, "S_n", batch=batch, **kw).as_dict() | {"projection": "mean_pool"} \
        == named["mean_pool"].as_dict()
    assert torch.equal(seen["meta"]["mask"].sum(1), torch.bincount(batch))
    module = eqlatent.NodeProjection("max_pool")
    row = eqlatent.retention(x, module, "S_n", batch=batch, **kw)
    assert row.projection == "max_pool" and row.spearman == named["max_pool"].spearman
    plain = eqlatent.retention(x, lambda z: z.mean(1), "S_n", batch=batch, **kw)  # f(z): padding counts as nodes
    assert plain.spearman != named["mean_pool"].spearman


def test_a_geometric_tensor_and_a_gspace_are_checked_before_any_work():
    from eqlatent.groups.field_types import import_escnn

    escnn = import_escnn()
    gs = escnn.gspaces.rot2dOnR2(4)
    x = escnn.nn.GeometricTensor(torch.randn(20, 12, 1, 1), escnn.nn.FieldType(gs, 3 * [gs.regular_repr]))
    other = escnn.nn.FieldType(gs, 2 * [gs.regular_repr] + 2 * [gs.irrep(1)])
    with pytest.raises(LatentShapeError) as e:
        eqlatent.retention(x, ["norm"], other)
    assert "\n" not in str(e.value) and "pass their .type" in str(e.value)
    with pytest.raises(ConfigError) as e:
        eqlatent.retention(x.tensor, ["norm"], gs)
    assert "\n" not in str(e.value) and "GSpace" in str(e.value) and "nn.FieldType(gspace" in str(e.value)


# -- the one measuring engine: all pairs and sampled pairs ----------------------------------------------------

def test_the_all_pairs_mode_compares_every_pair_and_neighbourhood():
    """``measure_retention`` without pairs: Spearman over every distinct pair of the matrices, kNN over every
    latent, the largest deviation; ``retention(..., n_pairs="all")`` is that mode on its own quotient distances."""
    from scipy import stats

    from eqlatent.toolkit.retention_measure import measure_retention

    gen = torch.Generator().manual_seed(0)
    z = torch.randn(30, 5, 2, generator=gen, dtype=torch.float64)
    d_quot = eqlatent.quotient_distance(z, None, "S_n", pairwise=True)
    feats = eqlatent.project_nodes(z, projection="channel_sort")
    got = measure_retention(d_quot, feats, knn_k=4)
    i, j = torch.triu_indices(30, 30, offset=1)
    d_proj = torch.cdist(feats, feats)
    assert list(got) == ["spearman", "pearson", "rel_error", "max_abs_dev", "knn", "n_pairs", "distortion", "ratio_min",
                         "ratio_max"]
    assert got["n_pairs"] == 435
    assert got["spearman"] == pytest.approx(stats.spearmanr(d_quot[i, j], d_proj[i, j]).statistic, abs=1e-12)
    assert got["max_abs_dev"] == pytest.approx(float((d_proj - d_quot).abs().max()), abs=1e-12)
    # channel_sort never expands quotient distances: the projected distances lie below
    assert float((d_proj[i, j] - d_quot[i, j]).max()) <= 1e-9
    row = eqlatent.retention(z, "channel_sort", "S_n", n_pairs="all", knn_k=4)
    assert (row.n_pairs, row.n_knn) == (435, 30)
    assert row.spearman == got["spearman"] and row.knn == got["knn"] and row.rel_error == got["rel_error"]
    sampled = eqlatent.retention(z, "channel_sort", "S_n", n_pairs=10_000, knn_k=4, n_knn=30)  # every pair, sampled way
    assert sampled.n_pairs == 435 and sampled.spearman == pytest.approx(row.spearman, abs=1e-12)
    with pytest.raises(ConfigError, match="'all'"):
        eqlatent.retention(z, "sort", "S_n", n_pairs="every")


def test_an_isometric_projection_measures_as_one_in_both_modes():
    from eqlatent.toolkit.retention_measure import measure_retention, sample_pairs

    z = torch.randn(25, 6, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    d_quot = eqlatent.quotient_distance(z, None, "S_n", pairwise=True)
    feats = eqlatent.project_nodes(z, projection="sort")
    every = measure_retention(d_quot, feats, knn_k=5)
    pairs = sample_pairs(25, 100, seed=0)
    some = measure_retention(d_quot, feats, 5, pairs, d_quot[pairs[:, 0], pairs[:, 1]])
    for got in (every, some):
        assert got["spearman"] == pytest.approx(1.0) and got["rel_error"] < 1e-12 and got["max_abs_dev"] < 1e-12
        assert got["knn"] == 1.0
