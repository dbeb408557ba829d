"""Molecular graphs in shards: how one shard is packed, and the dataset read back from all of them.

Why: :mod:`eqlatent.data.molecules` packs a whole dataset into dense padded tensors, whose
size grows with the set (the bonds alone are ``N x 38 x 38``).  A shard here holds a block
of molecules compactly -- int8 node types and charges, bonds as an edge list -- so building
the whole MOSES set keeps one block in memory at a time.  :class:`ShardedMoleculeDataset`
is the :class:`~eqlatent.data.molecules.MoleculeDataset` the studies read: its counts and
split come from the manifest, its tensors are read from the shards on first use, and its
``bond_type`` is a :class:`~eqlatent.data.sparse_bonds.SparseBonds`, made dense per batch.
Its tensors, densified, equal those an in-memory build of the same molecules gives.
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from eqlatent.data.graphs import BOND_TYPES, MolGraph
from eqlatent.data.molecules import MoleculeDataset, seeded_split
from eqlatent.data.shards import ShardFolder
from eqlatent.data.sparse_bonds import concat_sparse
from eqlatent.errors import ConfigError


class ShardPacker:
    """Accumulates the graphs, targets and rejections of one shard in flat compact arrays."""

    def __init__(self, max_nodes: int, n_targets: int, n_atom_types: int) -> None:
        if n_atom_types > 127:
            raise ConfigError(f"{n_atom_types} atom types do not fit a sharded cache's int8 node types",
                              "use at most 127 atom types")
        self.max_nodes, self.n_targets = max_nodes, n_targets
        self.smiles: list[str] = []
        self.node, self.charge = array("b"), array("b")
        self.edges = array("B" if max_nodes <= 256 else "h")
        self.edge_counts, self.targets = array("q"), array("d")
        self.dropped: Counter = Counter()
        self.n_read = 0

    def add(self, graph: MolGraph, targets: Sequence[float]) -> None:
        pad = self.max_nodes - len(graph.node_type)
        self.smiles.append(graph.smiles)
        self.node.extend(graph.node_type)
        self.node.extend([-1] * pad)
        self.charge.extend(graph.charge)
        self.charge.extend([0] * pad)
        for edge in graph.edges:
            self.edges.extend(edge)
        self.edge_counts.append(len(graph.edges))
        self.targets.extend(targets)

    def pack(self) -> dict:
        """The shard as saved: tensors that own their memory, the counts, the drops per reason."""
        m, n = len(self.smiles), self.max_nodes
        edge_dtype = torch.uint8 if self.edges.typecode == "B" else torch.int16
        # float64 -> float32 once, as np.asarray(rows, dtype=float32) does for the in-memory build
        targets = np.frombuffer(self.targets, dtype=np.float64).astype(np.float32).reshape(m, self.n_targets)
        return {
            "smiles": list(self.smiles), "n_read": self.n_read, "n_kept": m, "dropped": dict(self.dropped),
            "node_type": _tensor(self.node, torch.int8).reshape(m, n),
            "charge": _tensor(self.charge, torch.int8).reshape(m, n),
            "edges": _tensor(self.edges, edge_dtype).reshape(-1, 3),
            "edge_counts": _tensor(self.edge_counts, torch.int64),
            "targets": torch.from_numpy(targets.copy()),
        }


def _tensor(values: array, dtype: torch.dtype) -> Tensor:
    return torch.frombuffer(values, dtype=dtype).clone() if len(values) else torch.zeros(0, dtype=dtype)


class ShardedMoleculeDataset(MoleculeDataset):
    """A :class:`MoleculeDataset` over a finished sharded cache; its tensors are read on first use.

    ``len``, ``summary()``, ``split``, ``dropped`` come from the manifest, so building or
    checking the cache (``eqlatent prepare``) never holds the whole set in memory.
    """

    def __init__(self, shards: ShardFolder, manifest: dict, name: str, atom_types: Sequence[str], max_nodes: int,
                 target_names: Sequence[str], target_units: Sequence[str], split: Sequence[float],
                 split_seed: int, derive: Callable[[Tensor, list[str]], Tensor] | None = None) -> None:
        # ``derive``: (stored targets, SMILES) -> all targets, for targets computed at load (ZINC's penalized logP)
        self._derive = derive
        # the dataclass fields that hold tensors are properties here (read from the shards when first used)
        self._shards, self._manifest, self._data = shards, manifest, None
        self.name, self.atom_types, self.max_nodes = name, list(atom_types), int(max_nodes)
        self.target_names, self.target_units = list(target_names), list(target_units)
        self.dropped, self.n_source = dict(manifest["dropped"]), int(manifest["n_read"])
        self.bond_types = list(BOND_TYPES)
        self.split = seeded_split(len(self), split, split_seed)

    def __len__(self) -> int:
        return int(self._manifest["n_kept"])

    def _tensors(self) -> dict:
        if self._data is None:
            node, charge, targets, smiles, bonds = [], [], [], [], []
            for k, entry in enumerate(self._manifest["shards"]):
                shard = self._shards.read(k, entry["sha256"])
                node.append(shard["node_type"])
                charge.append(shard["charge"])
                targets.append(shard["targets"])
                smiles.extend(shard["smiles"])
                bonds.append((shard["edges"], shard["edge_counts"]))
                del shard
            n = self.max_nodes
            stored = torch.cat(targets) if targets else torch.zeros(0, len(self.target_names))
            targets = self._derive(stored, smiles) if self._derive is not None and len(stored) else stored
            node_type = torch.cat(node).long() if node else torch.zeros(0, n, dtype=torch.long)
            self._data = {"smiles": smiles, "node_type": node_type, "node_mask": node_type >= 0,
                          "charge": torch.cat(charge).long() if charge else torch.zeros(0, n, dtype=torch.long),
                          "targets": targets,
                          "bond_type": concat_sparse(bonds, self.max_nodes)}
        return self._data

    smiles = property(lambda self: self._tensors()["smiles"])
    node_type = property(lambda self: self._tensors()["node_type"])
    node_mask = property(lambda self: self._tensors()["node_mask"])
    charge = property(lambda self: self._tensors()["charge"])
    bond_type = property(lambda self: self._tensors()["bond_type"])
    targets = property(lambda self: self._tensors()["targets"])
