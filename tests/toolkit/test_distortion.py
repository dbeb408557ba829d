"""The distortion retention reports: the max / min ratio of projected to quotient distance, by hand.

Hand-computed cases (distances doubled with one pair tripled: 1.5; a uniform scaling: 1; a collapse:
inf), pairs of one orbit left out, both modes of the engine (all pairs and sampled pairs), the report's
rendering and the command line.  Synthetic latents, tiny sizes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import eqlatent
from eqlatent.cli.retention import main
from eqlatent.toolkit.retention_measure import DISTORTION_RTOL, distortion, measure_retention, sample_pairs
from eqlatent.toolkit.retention_report import RetentionReport

small_sample = pytest.mark.filterwarnings("ignore::eqlatent.toolkit.retention_measure.SmallSampleWarning")


def doubled_but_one_tripled() -> tuple[torch.Tensor, torch.Tensor]:
    """Three one-node latents on a line (quotient distances 1, 10, 9) and projected rows at distances 3, 20, 18.

    Pairs (0, 2) and (1, 2) are doubled, pair (0, 1) tripled: ratios 2, 2, 3, so the distortion is 3 / 2.
    """
    z = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[10.0, 0.0]]], dtype=torch.float64)
    x = 85.0 / 6.0                                   # |F2| = 20 and |F2 - F1| = 18 with F1 = (3, 0)
    rows = torch.tensor([[0.0, 0.0], [3.0, 0.0], [x, math.sqrt(400.0 - x * x)]], dtype=torch.float64)
    return z, rows


def test_distortion_by_hand():
    assert distortion([1.0, 2.0, 4.0], [2.0, 4.0, 12.0]) == {"distortion": 1.5, "ratio_min": 2.0, "ratio_max": 3.0}
    assert distortion([1.0, 2.0, 4.0], [3.0, 6.0, 12.0])["distortion"] == 1.0      # a uniform scaling: 1
    collapsed = distortion([1.0, 2.0, 4.0], [0.0, 4.0, 8.0])
    assert collapsed == {"distortion": math.inf, "ratio_min": 0.0, "ratio_max": 2.0}
    # a pair of one orbit (quotient distance below rtol * the largest) is left out: its ratio is rounding over rounding
    assert distortion([1e-13, 1.0, 2.0], [5.0, 1.0, 2.0])["distortion"] == 1.0
    assert distortion([1e-13, 1.0, 2.0], [5.0, 1.0, 2.0], rtol=1e-14)["distortion"] == pytest.approx(5e13)
    assert DISTORTION_RTOL == 1e-6
    assert all(math.isnan(v) for v in distortion([0.0, 0.0], [1.0, 2.0]).values())  # every pair in one orbit
    assert math.isnan(distortion([1.0, 2.0], [math.nan, 2.0])["distortion"])         # NaN out is not a collapse
    with pytest.raises(ValueError, match="equally long"):
        distortion([1.0, 2.0], [1.0])


@small_sample
def test_retention_reports_the_distortion_of_a_projection_known_by_hand():
    z, rows = doubled_but_one_tripled()
    assert torch.allclose(eqlatent.quotient_distance(z, None, "S_n", pairwise=True),
                          torch.tensor([[0.0, 1.0, 10.0], [1.0, 0.0, 9.0], [10.0, 9.0, 0.0]], dtype=torch.float64))
    for n_pairs in ("all", 3):  # the all-pairs mode and the sampled mode (here every pair)
        row = eqlatent.retention(z, lambda latents: rows, "S_n", n_pairs=n_pairs, knn_k=1)
        assert row.distortion == pytest.approx(1.5, abs=1e-12), n_pairs
        assert (row.ratio_min, row.ratio_max) == (pytest.approx(2.0, abs=1e-12), pytest.approx(3.0, abs=1e-12))


def test_a_uniform_scaling_of_an_isometry_has_distortion_one_in_both_modes():
    z = torch.randn(30, 5, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    twice = lambda latents: 2.0 * eqlatent.project_nodes(latents, projection="sort")  # noqa: E731
    every = eqlatent.retention(z, twice, "S_n", n_pairs="all", knn_k=5)
    some = eqlatent.retention(z, twice, "S_n", n_pairs=200, knn_k=5, n_knn=30)
    for row in (every, some):
        assert row.distortion == pytest.approx(1.0, abs=1e-12)
        assert row.ratio_min == pytest.approx(2.0, abs=1e-12) and row.ratio_max == pytest.approx(2.0, abs=1e-12)
    assert every.n_pairs == 435 and some.n_pairs == 200


def test_the_all_pairs_engine_counts_every_distinct_pair():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(12, 4, 2, generator=gen, dtype=torch.float64)
    d_quot = eqlatent.quotient_distance(z, None, "S_n", pairwise=True)
    feats = eqlatent.project_nodes(z, projection="mixing_sort")
    got = measure_retention(d_quot, feats, knn_k=3)
    i, j = torch.triu_indices(12, 12, offset=1)
    ratio = torch.cdist(feats, feats)[i, j] / d_quot[i, j]
    assert got["ratio_min"] == pytest.approx(float(ratio.min()), rel=1e-12)
    assert got["ratio_max"] == pytest.approx(float(ratio.max()), rel=1e-12)
    assert got["distortion"] == pytest.approx(float(ratio.max() / ratio.min()), rel=1e-12)
    pairs = sample_pairs(12, 20, seed=0)
    some = measure_retention(d_quot, feats, 3, pairs, d_quot[pairs[:, 0], pairs[:, 1]])
    picked = torch.cdist(feats, feats)[pairs[:, 0], pairs[:, 1]] / d_quot[pairs[:, 0], pairs[:, 1]]
    assert some["distortion"] == pytest.approx(float(picked.max() / picked.min()), rel=1e-12)
    assert some["distortion"] <= got["distortion"] * (1 + 1e-12)  # a subset of the pairs: never more distorted


def collision_latents() -> torch.Tensor:
    """Random two-node latents of two channels, and the pair channel_sort confuses: {(0, 1), (1, 0)} vs {(0, 0), (1, 1)}."""
    z = torch.randn(20, 2, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    z[0] = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    z[1] = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    return z


def test_a_collapse_is_infinite_distortion_and_the_table_says_so():
    report = eqlatent.retention(collision_latents(), ["channel_sort", "mixing_sort", "lex_sort"], "S_n", n_pairs="all",
                                knn_k=3)
    collapsed, mixing, lex = report["channel_sort"], report["mixing_sort"], report["lex_sort"]
    assert collapsed.distortion == math.inf and collapsed.ratio_min == 0.0 and collapsed.ratio_max <= 1 + 1e-12
    assert math.isfinite(mixing.distortion) and mixing.ratio_min > 0.1  # injective: the pair stays apart
    assert lex.ratio_min >= 1 - 1e-12       # a cross-section (a member of the orbit) never shrinks a distance
    assert report[eqlatent.toolkit.retention_report.RAW_LATENT].ratio_min >= 1 - 1e-12  # nor does the raw latent
    lines = report.to_markdown().splitlines()
    assert "distortion (min..max ratio)" in lines[0]
    assert "| inf (a pair collapsed) |" in next(line for line in lines if "| channel_sort |" in line)
    assert f"| {mixing.distortion:.3f} (" in next(line for line in lines if "| mixing_sort |" in line)


def test_a_row_without_a_counted_pair_shows_not_applicable():
    row = eqlatent.toolkit.retention_report.RetentionResult("S_n", "p", 3, 3, 1, 1.0, 1.0, 0.0, 1.0, 1, 3)
    assert math.isnan(row.distortion)
    assert "| n/a |" in RetentionReport([row]).to_markdown()


def test_the_command_line_prints_the_distortion(tmp_path, capsys):
    np.save(tmp_path / "z.npy", collision_latents().numpy())
    argv = ["--latents", str(tmp_path / "z.npy"), "--group", "S_n", "--projection", "channel_sort", "mixing_sort",
            "--n-pairs", "all", "--knn-k", "3"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "distortion (min..max ratio)" in table and "inf (a pair collapsed)" in table
    assert main(argv + ["--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["projection"] == "channel_sort" and rows[0]["distortion"] == math.inf and rows[0]["ratio_min"] == 0
    assert math.isfinite(rows[1]["distortion"])
