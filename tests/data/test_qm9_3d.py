"""QM9-3D from the real qm9pack wheel: counts, molecules checked by hand and against their SMILES, units, split, errors."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from rdkit import Chem

from eqlatent.data import qm9, qm9_3d
from eqlatent.errors import ConfigError, DataFileError


@pytest.fixture(scope="module")
def ds(data_cache_dir):
    return qm9_3d.load_qm9_3d(cache_dir=str(data_cache_dir))


def test_all_characterised_molecules_with_hydrogens(ds):
    assert len(ds) == ds.n_source == qm9.N_MOLECULES == 130_831
    assert ds.offsets[0] == 0 and ds.offsets[-1] == len(ds.z) == len(ds.pos)
    assert set(ds.z.unique().tolist()) == {1, 6, 7, 8, 9}
    assert int(ds.n_atoms.min()) == 3 and int(ds.n_atoms.max()) == 29   # water; QM9's largest (<= 9 heavy + H)
    assert torch.equal(ds.gdb_index, ds.gdb_index.sort().values) and ds.targets.shape == (len(ds), 15)


def test_methane_and_water_by_hand(ds):
    z, pos = ds.molecule(ds.smiles.index("C"))
    assert z.tolist() == [6, 1, 1, 1, 1]
    ch = (pos[1:] - pos[0]).norm(dim=1)
    assert torch.allclose(ch, torch.full((4,), 1.0919), atol=2e-3)      # C-H 1.09 Å: positions are in Å
    i = ds.smiles.index("C")
    assert ds.target("gap")[i].item() == pytest.approx(0.5048 * qm9.HARTREE_TO_EV, abs=1e-4)  # 0.5048 Ha in the CSV
    assert ds.target("gap")[i].item() == pytest.approx(13.736, abs=1e-3)
    z, pos = ds.molecule(ds.smiles.index("O"))
    oh = pos[1:] - pos[0]
    angle = math.degrees(math.acos(float(oh[0] @ oh[1] / (oh[0].norm() * oh[1].norm()))))
    assert z.tolist() == [8, 1, 1] and 0.95 < float(oh.norm(dim=1).min()) < 0.97 and 103 < angle < 106


def test_atoms_match_the_smiles_of_2000_molecules(ds):
    rows = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:2000]
    for i in rows.tolist():
        mol = Chem.AddHs(Chem.MolFromSmiles(ds.smiles[i]))
        z, pos = ds.molecule(i)
        assert sorted(z.tolist()) == sorted(a.GetAtomicNum() for a in mol.GetAtoms()), ds.smiles[i]
        d = torch.cdist(pos.double(), pos.double()) + 10 * torch.eye(len(z))
        assert 0.9 < float(d.min()) < 1.6                                  # shortest bond: an X-H or C-C bond, in Å


def test_gap_is_lumo_minus_homo_in_ev(ds):
    gap, homo, lumo = ds.target("gap"), ds.target("homo"), ds.target("lumo")
    rounding = 3 * 0.5e-4 * qm9.HARTREE_TO_EV                               # the CSV rounds each to 1e-4 Ha
    assert (gap - (lumo - homo)).abs().max() < rounding + 1e-4
    assert 3 < float(gap.mean()) < 10 and ds.target_units[ds.target_names.index("gap")] == "eV"


def test_split_holds_the_same_molecules_as_the_2d_study(ds, qm9_full, data_cache_dir):
    assert len(ds) == len(qm9_full) and torch.equal(ds.targets, qm9_full.targets)   # row i is row i there
    for i in range(0, len(ds), 997):                                 # the 2-D loader keeps rdkit's canonical SMILES
        assert Chem.CanonSmiles(ds.smiles[i]) == qm9_full.smiles[i]
    for part in ("train", "val", "test"):
        assert torch.equal(ds.split[part], qm9_full.split[part])
    small = qm9_3d.load_qm9_3d(cache_dir=str(data_cache_dir), subset=1000, split_seed=3)
    flat = qm9.load_qm9(cache_dir=str(data_cache_dir), subset=1000, split_seed=3)
    assert torch.equal(small.targets, flat.targets) and all(torch.equal(small.split[k], flat.split[k]) for k in small.split)


def test_collate_gathers_the_right_atoms(ds):
    rows = [5, 130_830, 0]
    b = ds.collate(rows)
    assert b.num_graphs == 3 and b.y.shape == (3, 15) and torch.equal(b.rows, torch.tensor(rows))
    for k, r in enumerate(rows):
        z, pos = ds.molecule(r)
        assert torch.equal(b.z[b.batch == k], z) and torch.equal(b.pos[b.batch == k], pos)
    sub = ds.subset(torch.tensor(rows))
    assert len(sub) == 3 and torch.equal(sub.molecule(1)[1], ds.molecule(130_830)[1])


def test_bad_input_is_a_one_line_error(ds, tmp_path):
    for call, match in [(lambda: ds.collate([]), "at least one"), (lambda: ds.collate([len(ds)]), "outside"),
                        (lambda: ds.target("homo_lumo"), "unknown QM9 target"), (lambda: ds.loader("dev", 8), "no split")]:
        with pytest.raises(ConfigError, match=match) as err:
            call()
        assert "\n" not in str(err.value)
    with pytest.raises(DataFileError, match="does not exist"):
        qm9_3d.load_qm9_3d(path=str(tmp_path / "nope"))


def test_corrupt_csv_rows_are_one_line_errors(tmp_path):
    """Real qm9pack rows, each copy damaged in one way."""
    head = pd.read_csv(qm9.qm9pack_files()[0], nrows=20)
    damage = {
        "non-number": lambda d: d.assign(XYZ_Ang=d["XYZ_Ang"].str.replace("1.", "x.", n=1, regex=False)),
        "N_atoms": lambda d: d.assign(N_atoms=d["N_atoms"] + (d.index == 3)),
        "unknown element": lambda d: d.assign(Elements=d["Elements"].str.replace("'C'", "'Cl'", n=1, regex=False)),
    }
    for match, hurt in damage.items():
        path = tmp_path / f"{match.replace(' ', '_')}.csv"
        hurt(head.copy()).to_csv(path, index=False)
        with pytest.raises(DataFileError, match=match) as err:
            qm9_3d.build_from_qm9pack([path])
        assert "\n" not in str(err.value) and "reinstall qm9pack" in str(err.value)
    path = tmp_path / "short.csv"
    head.to_csv(path, index=False)
    with pytest.raises(DataFileError, match="expected 130,831"):
        qm9_3d.build_from_qm9pack([path])


def test_pyg_raw_folder_keeps_hydrogens_and_coordinates(tmp_path):
    """SYNTHETIC data: three molecules embedded in 3-D by rdkit, written in PyG's raw layout, one uncharacterised."""
    from tests.helpers.synthetic import write_pyg_raw_qm9

    mols = write_pyg_raw_qm9(tmp_path, embed_3d=True)
    got = qm9_3d.load_qm9_3d(path=str(tmp_path), cache_dir=None)
    assert len(got) == got.n_source == 2 and got.gdb_index.tolist() == [1, 2]
    z, pos = got.molecule(1)
    assert z.tolist() == [a.GetAtomicNum() for a in mols[1].GetAtoms()] and 1 in z.tolist()
    assert torch.allclose(pos, torch.tensor(mols[1].GetConformer().GetPositions(), dtype=torch.float32), atol=1e-4)
    assert got.target("gap")[1].item() == pytest.approx(2.0 * qm9.HARTREE_TO_EV)
