"""ZINC built shard by shard (``data.subset=all``): same tensors as in memory, resumable, checked, bounded.

Real MOSES SMILES (the first rows of the molsets training CSV) written to a small CSV, so each
build takes seconds; the hand-made rows that must be dropped are labelled as such.
"""

from __future__ import annotations

import gzip
import logging
import pickle
import tracemalloc

import numpy as np
import pytest
import torch

from eqlatent.data import zinc, zinc_shards
from eqlatent.data.molecule_shards import ShardedMoleculeDataset
from eqlatent.data.shards import ShardFolder
from eqlatent.data.sparse_bonds import SparseBonds
from eqlatent.errors import ConfigError, DataFileError
from eqlatent.studies.molecules.training import graph_loader

#: hand-made rows and the reason each is dropped for (max_nodes=38, ZINC's nine atom types)
BAD = {"C1CC(": "rdkit could not parse/sanitise the molecule",
       "CC(C)(C)(C)(C)C": "rdkit could not parse/sanitise the molecule",     # five bonds on a carbon
       "C" * 40: "more than max_nodes=38 heavy atoms",
       "C[Si](C)(C)C": "element Si not in atom_types",
       "CC[Se]CC": "element Se not in atom_types",
       "[Na+].[Cl-]": "element Na not in atom_types"}


def moses_head(n: int) -> list[str]:
    with gzip.open(zinc.moses_train_csv(), "rt") as f:
        next(f)
        return [next(f).strip() for _ in range(n)]


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    """300 real MOSES SMILES with the hand-made bad rows spread among them."""
    rows = moses_head(300)
    for k, bad in enumerate(BAD):
        rows.insert(37 * k + 5, bad)
    path = tmp_path_factory.mktemp("zinc") / "zinc_user.csv"
    path.write_text("smiles\n" + "\n".join(rows) + "\n")
    return path


def load(csv, cache, storage, subset=0, **kw):
    return zinc.load_zinc(path=str(csv), cache_dir=str(cache), subset=subset, storage=storage, **kw)


def assert_same_dataset(a, b):
    assert a.smiles == b.smiles and len(a) == len(b) and a.summary() == b.summary()
    assert a.dropped == b.dropped and a.n_source == b.n_source
    for name in ("node_type", "node_mask", "charge", "targets"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and torch.equal(x, y), name
    dense = lambda bonds: bonds.dense() if isinstance(bonds, SparseBonds) else bonds  # noqa: E731
    assert torch.equal(dense(a.bond_type), dense(b.bond_type))
    assert all(torch.equal(a.split[k], b.split[k]) for k in ("train", "val", "test"))


@pytest.fixture(scope="module")
def in_memory(csv, tmp_path_factory):
    return load(csv, tmp_path_factory.mktemp("mem"), "memory")


@pytest.fixture(scope="module")
def sharded(csv, tmp_path_factory):
    return load(csv, tmp_path_factory.mktemp("shards"), "shards", shard_size=64)


def test_sharded_build_equals_the_in_memory_build(in_memory, sharded):
    assert isinstance(sharded, ShardedMoleculeDataset) and isinstance(sharded.bond_type, SparseBonds)
    assert not isinstance(in_memory, ShardedMoleculeDataset)
    assert_same_dataset(in_memory, sharded)
    assert sharded.bond_type.dtype == in_memory.bond_type.dtype == torch.long


def test_a_seeded_subset_is_the_same_molecules_in_both_builds(csv, tmp_path):
    assert_same_dataset(load(csv, tmp_path, "memory", subset=90, split_seed=3),
                        load(csv, tmp_path, "shards", subset=90, split_seed=3, shard_size=40))


def test_the_study_sees_the_same_batches_and_rows(in_memory, sharded):
    """What training and analysis read: shuffled batches from the loader, and dense rows by index."""
    for shuffle in (True, False):
        a = graph_loader(in_memory, in_memory.split["train"], 32, shuffle, 7)
        b = graph_loader(sharded, sharded.split["train"], 32, shuffle, 7)
        for epoch in (0, 1):
            for loader in (a, b):
                if shuffle:
                    loader.sampler.set_epoch(epoch)
            pairs = list(zip(a, b, strict=True))
            assert pairs and all(torch.equal(x, y) for pa, pb in pairs for x, y in zip(pa, pb, strict=True))
    test = sharded.split["test"]
    rows = sharded.bond_type[test].long()          # a view: densified where it is used
    assert isinstance(rows, SparseBonds) and rows.shape == (len(test), 38, 38)
    dense = in_memory.bond_type[test]
    assert torch.equal(dense == rows, torch.ones_like(dense, dtype=torch.bool))
    assert torch.equal((rows > 0).sum((1, 2)), (dense > 0).sum((1, 2)))
    assert all(torch.equal(r, d) for r, d in zip(rows, dense, strict=True))
    assert torch.equal(rows[3], dense[3]) and torch.equal(rows[-1], dense[-1])
    assert torch.equal(sharded.pyg(5).edge_index, in_memory.pyg(5).edge_index)
    assert torch.equal(sharded.subset(test[:9]).bond_type.dense(), in_memory.subset(test[:9]).bond_type)


def test_sparse_bonds_act_as_their_dense_rows():
    edges = torch.tensor([[0, 1, 0], [1, 2, 1], [0, 1, 3]], dtype=torch.uint8)
    bonds = SparseBonds(edges, torch.tensor([0, 2, 2, 3]), 4)      # 3 molecules: 2 bonds, none, 1 bond
    dense = torch.zeros(3, 4, 4, dtype=torch.long)
    dense[0, 0, 1] = dense[0, 1, 0] = 1
    dense[0, 1, 2] = dense[0, 2, 1] = 2
    dense[2, 0, 1] = dense[2, 1, 0] = 4
    assert torch.equal(bonds.dense(), dense) and len(bonds) == 3 and bonds.n_bonds == 3
    view = bonds[torch.tensor([2, 0])]
    assert torch.equal(view.dense(), dense[[2, 0]]) and torch.equal(view[1:].dense(), dense[[0]])
    assert torch.equal(bonds[torch.tensor([False, True, True])].dense(), dense[1:])
    assert torch.equal(bonds[0, :2, :2], dense[0, :2, :2]) and torch.equal(view[:, 0], dense[[2, 0], 0])
    assert torch.equal(torch.stack(list(bonds)), dense)
    assert all(torch.equal(bonds[i], dense[2]) for i in (2, -1, np.int64(2), torch.tensor(2)))
    assert torch.equal(bonds[torch.tensor([2])].dense(), dense[[2]]) and torch.equal(bonds[np.array([2])].dense(),
                                                                                     dense[[2]])
    assert torch.equal(torch.where(view > 0, 1, 0), (dense[[2, 0]] > 0).long())
    assert torch.equal(view.sum(), dense[[2, 0]].sum()) and view.tolist() == dense[[2, 0]].tolist()
    assert torch.equal(pickle.loads(pickle.dumps(view)).dense(), view.dense())
    with pytest.raises(IndexError):
        bonds[3]


def test_densifying_more_than_memory_allows_is_a_one_line_error(monkeypatch):
    from eqlatent.data import sparse_bonds

    bonds = SparseBonds(torch.zeros(0, 3, dtype=torch.uint8), torch.zeros(1001, dtype=torch.long), 38)
    monkeypatch.setattr(sparse_bonds, "MAX_DENSE_BYTES", 100 * 38 * 38 * 8)
    assert bonds[:100].dense().shape == (100, 38, 38) and bonds[500].shape == (38, 38)
    with pytest.raises(ConfigError, match="bonds of 1,000 molecules dense") as err:
        bonds == 0                                     # noqa: B015  -- a whole-set comparison densifies it all
    assert "\n" not in str(err.value) and "ds.bond_type[rows]" in str(err.value)


def test_drop_counts_per_reason_on_hand_made_rows(sharded, in_memory, caplog):
    expected = {}
    for why in BAD.values():
        expected[why] = expected.get(why, 0) + 1
    assert sharded.dropped == expected == in_memory.dropped
    assert sharded.n_source == 300 + len(BAD) and len(sharded) == 300
    assert "2 x rdkit could not parse/sanitise the molecule" in sharded.summary()
    manifest = sharded._shards.manifest()          # saved beside the shards, per shard and in total
    assert manifest["dropped"] == expected and manifest["n_read"] == 300 + len(BAD)
    per_shard = {}
    for entry in manifest["shards"]:
        for why, n in entry["dropped"].items():
            per_shard[why] = per_shard.get(why, 0) + n
    assert per_shard == expected and sum(e["n_kept"] for e in manifest["shards"]) == 300


class Interrupted(Exception):
    pass


def test_an_interrupted_build_resumes_from_its_last_complete_shard(csv, tmp_path, sharded, monkeypatch, caplog):
    written, real_write = [], ShardFolder.write

    def write(self, k, shard):
        if len(written) == stop_after:
            raise Interrupted(f"killed before shard {k}")
        written.append(k)
        return real_write(self, k, shard)

    monkeypatch.setattr(ShardFolder, "write", write)
    stop_after = 2
    with pytest.raises(Interrupted):
        load(csv, tmp_path, "shards", shard_size=64)
    folder = next(tmp_path.glob("zinc-*-shards"))
    assert written == [0, 1] and sorted(p.name for p in folder.glob("shard-*.pt")) == ["shard-00000.pt",
                                                                                       "shard-00001.pt"]
    assert not (folder / "manifest.json").exists() and not list(folder.glob(".*.tmp"))
    stop_after = None
    with caplog.at_level(logging.INFO, logger="eqlatent.data.shards"):
        resumed = load(csv, tmp_path, "shards", shard_size=64)
    assert written == [0, 1, 2, 3, 4]             # the two complete shards were not built again
    assert "2 of 5 shards already built" in caplog.text and "resuming" in caplog.text
    assert_same_dataset(resumed, sharded)
    assert resumed._shards.manifest()["dropped"] == sharded._shards.manifest()["dropped"]


def test_a_corrupt_shard_is_a_one_line_error_naming_the_fix(csv, tmp_path, sharded):
    load(csv, tmp_path, "shards", shard_size=64)
    shard = next(tmp_path.glob("zinc-*-shards")) / "shard-00002.pt"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DataFileError) as err:
        load(csv, tmp_path, "shards", shard_size=64)
    message = str(err.value)
    assert "\n" not in message and str(shard) in message and "checksum" in message
    assert f"delete {shard}" in message and "eqlatent prepare --data zinc data.subset=all" in message
    shard.unlink()                                    # the fix: only that shard is built again
    assert_same_dataset(load(csv, tmp_path, "shards", shard_size=64), sharded)


def test_memory_of_a_sharded_build_does_not_grow_with_the_set(tmp_path):
    """Peak traced memory (Python objects) building N vs 4N molecules: flat in shards, growing in memory.

    The in-memory build holds every molecule's graph until the end: its growth is what a sharded
    build that kept its molecules would show, so the check can fail.
    """
    small = ["CCO", "CC(=O)O", "c1ccccc1", "CCN(C)C", "OCC(O)CO", "CC(C)Cl", "C1CCNCC1", "COc1ccccc1"]

    def peak(n: int, storage: str) -> int:
        path = tmp_path / f"{storage}{n}.csv"
        path.write_text("smiles\n" + "\n".join(small[i % len(small)] for i in range(n)) + "\n")
        tracemalloc.start()
        try:
            load(path, tmp_path / f"{storage}{n}", storage, shard_size=25)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(30, "shards")                                # imports and rdkit's SA fragment table, loaded once
    sharded = peak(120, "shards"), peak(480, "shards")
    dense = peak(120, "memory"), peak(480, "memory")
    assert sharded[1] < 1.3 * sharded[0], sharded
    assert sharded[1] - sharded[0] < 0.25 * (dense[1] - dense[0]), (sharded, dense)


def test_subset_storage_and_cache_folder_are_checked(csv):
    assert zinc.parse_subset("all") == 0 == zinc.parse_subset(None) and zinc.parse_subset("1000") == 1000
    for bad, kind in (("some", "subset"), (-5, "subset")):
        with pytest.raises(ConfigError, match=kind) as err:
            zinc.parse_subset(bad)
        assert "\n" not in str(err.value) and "data.subset=all" in str(err.value)
    with pytest.raises(ConfigError, match="storage 'dense'"):
        load(csv, None, "dense")
    with pytest.raises(ConfigError, match="data.cache_dir"):
        zinc.load_zinc(path=str(csv), cache_dir=None, subset="all", storage="shards")


def test_only_large_sets_are_sharded_by_default(monkeypatch, csv, tmp_path):
    monkeypatch.setattr(zinc, "DENSE_LIMIT", 100)
    assert isinstance(load(csv, tmp_path, "auto", subset="all", shard_size=128), ShardedMoleculeDataset)
    assert not isinstance(load(csv, tmp_path, "auto", subset=100), ShardedMoleculeDataset)
    assert zinc_shards.rebuild_command(None, 0, 38, 0, False, zinc_shards.SHARD_SIZE) == \
        "eqlatent prepare --data zinc data.subset=all"


def test_penalized_logp_is_logp_minus_sa_minus_the_ring_penalty(in_memory, sharded):
    """ZINC's customary target, derived at load in both builds: hand-computed ring penalties, then the formula."""
    from eqlatent.data.zinc_properties import ring_penalty

    # cyclooctane: one 8-ring (penalty 2); benzene, ethanol: none; a 6-ring fused to a 9-ring (atoms 2-10): 3
    assert ring_penalty(["C1CCCCCCC1", "c1ccccc1", "CCO", "C1CC2CCCCCCCC2C1"]).tolist() == [2.0, 0.0, 0.0, 3.0]
    for ds in (in_memory, sharded):
        assert ds.target_names[-1] == "penalized_logP"
        want = ds.target("logP").double() - ds.target("SA").double() - torch.from_numpy(ring_penalty(ds.smiles))
        assert torch.allclose(ds.target("penalized_logP").double(), want, atol=1e-5)
    assert torch.equal(in_memory.target("penalized_logP"), sharded.target("penalized_logP"))
