"""QM9 from the real qm9pack CSVs: counts, a molecule checked by hand, split, bad input."""

from __future__ import annotations

import torch
import pytest
from rdkit import Chem

from eqlatent.data import qm9
from eqlatent.data.graphs import BOND_TYPES, MoleculeRejected, graph_to_mol, smiles_to_graph
from eqlatent.data.molecules import convert_all
from eqlatent.errors import DataFileError

SINGLE, DOUBLE = BOND_TYPES.index("SINGLE") + 1, BOND_TYPES.index("DOUBLE") + 1


def test_full_qm9_has_the_characterised_molecule_count(qm9_full):
    assert qm9_full.n_source == qm9.N_MOLECULES == 130_831
    assert len(qm9_full) + sum(qm9_full.dropped.values()) == 130_831
    assert len(qm9_full) == 130_831  # every qm9pack SMILES becomes a graph (no drops expected)


def test_shapes_and_types(qm9_full):
    n = len(qm9_full)
    assert qm9_full.node_type.shape == (n, 9) and qm9_full.bond_type.shape == (n, 9, 9)
    assert qm9_full.targets.shape == (n, 15) and qm9_full.target_names[:5] == ["mu", "alpha", "homo", "lumo", "gap"]
    assert set(qm9_full.node_type.unique().tolist()) == {-1, 0, 1, 2, 3}  # padding + C, N, O, F
    assert torch.equal(qm9_full.bond_type, qm9_full.bond_type.transpose(1, 2))
    assert (qm9_full.bond_type[:, torch.arange(9), torch.arange(9)] == 0).all()
    # padding slots carry no bonds, and real atoms fill the first n slots
    assert (qm9_full.bond_type[~qm9_full.node_mask] == 0).all()
    counts = qm9_full.node_mask.sum(1)
    assert torch.equal(qm9_full.node_mask, torch.arange(9) < counts[:, None])


def test_acetaldehyde_graph_by_hand(qm9_full):
    i = qm9_full.smiles.index("CC=O")  # C1-C2(=O3)
    assert qm9_full.node_type[i, :3].tolist() == [0, 0, 2] and int(qm9_full.node_mask[i].sum()) == 3
    expected = torch.zeros(9, 9, dtype=torch.long)
    expected[0, 1] = expected[1, 0] = SINGLE
    expected[1, 2] = expected[2, 1] = DOUBLE
    assert torch.equal(qm9_full.bond_type[i], expected)


def test_methane_targets_in_documented_units(qm9_full):
    i = qm9_full.smiles.index("C")
    homo_ev = -0.3877 * qm9.HARTREE_TO_EV  # the CSV gives HOMO = -0.3877 Ha for methane
    assert qm9_full.target("homo")[i].item() == pytest.approx(homo_ev, abs=1e-4)
    assert qm9_full.target("alpha")[i].item() == pytest.approx(13.21, abs=1e-4)  # a0^3, unconverted


def test_graphs_decode_back_to_the_same_molecule(qm9_full):
    rows = torch.randperm(len(qm9_full), generator=torch.Generator().manual_seed(1))[:2000]
    for i in rows.tolist():
        mol = graph_to_mol(qm9_full.node_type[i], qm9_full.bond_type[i], qm9_full.atom_types, qm9_full.charge[i])
        assert mol is not None and Chem.MolToSmiles(mol) == qm9_full.smiles[i]


def test_split_is_disjoint_complete_and_seeded(data_cache_dir):
    a = qm9.load_qm9(cache_dir=str(data_cache_dir), subset=1000, split_seed=3)
    b = qm9.load_qm9(cache_dir=str(data_cache_dir), subset=1000, split_seed=3)
    allrows = torch.cat(list(a.split.values()))
    assert len(a) == 1000 and sorted(allrows.tolist()) == list(range(1000))
    assert [len(v) for v in a.split.values()] == [800, 100, 100]
    assert a.smiles == b.smiles and all(torch.equal(a.split[k], b.split[k]) for k in a.split)
    c = qm9.load_qm9(cache_dir=str(data_cache_dir), subset=1000, split_seed=4)
    assert c.smiles != a.smiles


def test_pyg_view_matches_dense(qm9_full):
    i = qm9_full.smiles.index("CC=O")
    g = qm9_full.pyg(i)
    assert g.num_nodes == 3 and g.edge_index.shape == (2, 4)  # two bonds, both directions
    assert g.x.argmax(1).tolist() == [0, 0, 2]


def test_malformed_smiles_is_rejected_and_counted():
    with pytest.raises(MoleculeRejected, match="rdkit could not parse"):
        smiles_to_graph("C1CC(", qm9.ATOM_TYPES, 9)
    rows, graphs, dropped = convert_all(enumerate(["CCO", "C1CC(", "ClCCl", "CCCCCCCCCC", ""]),
                                        lambda s: smiles_to_graph(s, qm9.ATOM_TYPES, 9), desc="test")
    assert rows == [0] and len(graphs) == 1
    assert dropped == {"rdkit could not parse/sanitise the molecule": 1, "element Cl not in atom_types": 1,
                       "more than max_nodes=9 heavy atoms": 1, "empty SMILES": 1}


def test_truncated_qm9_csv_is_a_one_line_error(tmp_path):
    files = qm9.qm9pack_files()
    short = tmp_path / "qm9_part1.csv"
    short.write_text("".join(open(files[0]).readlines()[:100]))
    with pytest.raises(DataFileError, match="expected 130,831") as err:
        qm9.read_qm9pack([short, files[1], files[2]])
    assert "\n" not in str(err.value) and "reinstall qm9pack" in str(err.value)


def test_missing_user_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        qm9.load_qm9(path=str(tmp_path / "nope"))
    with pytest.raises(DataFileError, match="gdb9.sdf"):
        qm9.load_qm9(path=str(tmp_path))


def test_pyg_raw_folder_loader_on_a_synthetic_sdf(tmp_path):
    """SYNTHETIC data: three molecules written in PyG's raw layout, one marked uncharacterised."""
    from tests.helpers.synthetic import write_pyg_raw_qm9

    write_pyg_raw_qm9(tmp_path)
    ds = qm9.load_qm9(path=str(tmp_path), cache_dir=None)
    assert ds.smiles == ["CC=O", "c1ccoc1"] and ds.n_source == 2
    assert ds.target("homo")[1].item() == pytest.approx(2.0 * qm9.HARTREE_TO_EV)
    furan = ds.bond_type[1]
    assert (furan == DOUBLE).sum() == 4 and (furan == SINGLE).sum() == 6  # Kekule: 2 double + 3 single bonds
