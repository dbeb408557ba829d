"""ZINC (MOSES subset) from the real molsets CSV, and a user CSV with bad rows."""

from __future__ import annotations

import gzip

import pytest
import torch

from eqlatent.data import zinc
from eqlatent.errors import ConfigError, DataFileError


@pytest.fixture(scope="module")
def zinc_small(data_cache_dir):
    return zinc.load_zinc(cache_dir=str(data_cache_dir), subset=300, max_nodes=38)


def test_moses_file_holds_the_documented_count():
    with gzip.open(zinc.moses_train_csv(), "rt") as f:
        assert sum(1 for _ in f) - 1 == zinc.MOSES_TRAIN_SIZE


def test_subset_shapes_and_properties(zinc_small):
    n = len(zinc_small)
    assert n + sum(zinc_small.dropped.values()) == 300
    assert zinc_small.node_type.shape == (n, 38) and zinc_small.targets.shape == (n, 4)
    assert zinc_small.target_names == ["logP", "QED", "SA", "penalized_logP"]   # the last derived at load
    qed = zinc_small.target("QED")
    assert (qed > 0).all() and (qed <= 1).all()
    sa = zinc_small.target("SA")
    assert (sa >= 1).all() and (sa <= 10).all()
    assert zinc_small.node_mask.sum(1).max() <= 38


def test_properties_of_a_known_molecule():
    logp, qed, sa = zinc.properties(["c1ccccc1O"])[0]  # phenol
    assert logp == pytest.approx(1.3922, abs=1e-3)  # Crippen logP of phenol
    assert 0 < qed < 1 and 1 <= sa <= 3


def test_user_csv_with_malformed_rows_skips_and_counts(tmp_path):
    csv = tmp_path / "zinc_user.csv"
    csv.write_text("smiles,extra\nCCO,1\nC1CC(,2\nCC(=O)Nc1ccccc1,3\nnot_a_smiles,4\n")
    ds = zinc.load_zinc(path=str(csv), cache_dir=None, subset=0, split=(0.5, 0.0, 0.5))
    assert ds.smiles == ["CCO", "CC(=O)Nc1ccccc1"]
    assert ds.dropped == {"rdkit could not parse/sanitise the molecule": 2}


def test_csv_without_smiles_column_is_a_one_line_error(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(DataFileError, match="no SMILES column") as err:
        zinc.load_zinc(path=str(csv), cache_dir=None, subset=0)
    assert "\n" not in str(err.value)


def test_missing_csv_and_bad_max_nodes(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        zinc.load_zinc(path=str(tmp_path / "missing.csv"), cache_dir=None)
    with pytest.raises(ConfigError, match="max_nodes"):
        zinc.load_zinc(max_nodes=0)
