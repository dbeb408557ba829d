"""The container every molecular dataset returns, and how raw molecules become it.

Graphs are stored *dense and padded* (``[N, max_nodes]`` node types, ``[N, max_nodes,
max_nodes]`` bond types) because the permutation-equivariant VAE works on dense
tensors; :meth:`MoleculeDataset.pyg` gives the sparse torch_geometric view of any one
molecule.  The container also carries the seeded split and the count of molecules that
could not become graphs, by reason, so reports can say what was left out.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch
from torch import Tensor

from eqlatent.data.graphs import BOND_TYPES, MoleculeRejected, MolGraph
from eqlatent.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class MoleculeDataset:
    """Dense heavy-atom graphs with per-molecule property targets and a fixed split."""

    name: str
    atom_types: list[str]
    max_nodes: int
    smiles: list[str]
    node_type: Tensor        # [N, max_nodes] long, -1 on padding
    node_mask: Tensor        # [N, max_nodes] bool
    charge: Tensor           # [N, max_nodes] long
    bond_type: Tensor        # [N, max_nodes, max_nodes] long, 0 = none, k = BOND_TYPES[k-1]
    targets: Tensor          # [N, T] float32
    target_names: list[str]
    target_units: list[str]
    split: dict[str, Tensor] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    n_source: int = 0        # molecules read from the source before any were dropped
    bond_types: list[str] = field(default_factory=lambda: list(BOND_TYPES))

    def __len__(self) -> int:
        return len(self.smiles)

    def target(self, name: str) -> Tensor:
        """One target column by name (``KeyError`` lists the available names)."""
        if name not in self.target_names:
            raise KeyError(f"unknown target '{name}'; available: {', '.join(self.target_names)}")
        return self.targets[:, self.target_names.index(name)]

    def pyg(self, i: int):
        """Molecule ``i`` as a sparse ``torch_geometric.data.Data`` (one-hot ``x``, ``edge_attr``)."""
        from torch_geometric.data import Data
        from torch_geometric.utils import dense_to_sparse

        n = int(self.node_mask[i].sum())
        bonds = self.bond_type[i, :n, :n]
        edge_index, edge_val = dense_to_sparse(bonds)
        x = torch.nn.functional.one_hot(self.node_type[i, :n], len(self.atom_types)).float()
        edge_attr = torch.nn.functional.one_hot(edge_val - 1, len(self.bond_types)).float()
        return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, y=self.targets[i:i + 1],
                    charge=self.charge[i, :n], smiles=self.smiles[i], idx=i)

    def subset(self, rows: Tensor) -> "MoleculeDataset":
        """A new dataset holding only ``rows`` (split indices re-mapped, dropped counts kept)."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        where = torch.full((len(self),), -1, dtype=torch.long)
        where[rows] = torch.arange(len(rows))
        split = {k: where[v][where[v] >= 0] for k, v in self.split.items()}
        return MoleculeDataset(
            self.name, self.atom_types, self.max_nodes, [self.smiles[int(r)] for r in rows],
            self.node_type[rows], self.node_mask[rows], self.charge[rows], self.bond_type[rows],
            self.targets[rows], self.target_names, self.target_units, split, dict(self.dropped), self.n_source,
        )

    def summary(self) -> str:
        """One paragraph: counts, split sizes and dropped molecules by reason."""
        sizes = ", ".join(f"{k} {len(v):,}" for k, v in self.split.items())
        drops = "; ".join(f"{n:,} x {why}" for why, n in sorted(self.dropped.items())) or "none"
        return (f"{self.name}: {len(self):,} molecules as graphs (of {self.n_source:,} read), "
                f"max {self.max_nodes} heavy atoms, node types {'/'.join(self.atom_types)}; split {sizes}; "
                f"dropped: {drops}")


def graphs_to_tensors(graphs: Sequence[MolGraph], max_nodes: int) -> dict[str, Tensor]:
    """Pack graphs into padded dense tensors (node slots 0..n-1 hold the atoms in rdkit order)."""
    n_mol = len(graphs)
    node_type = torch.full((n_mol, max_nodes), -1, dtype=torch.long)
    charge = torch.zeros((n_mol, max_nodes), dtype=torch.long)
    bond_type = torch.zeros((n_mol, max_nodes, max_nodes), dtype=torch.int8)
    for m, g in enumerate(graphs):
        n = len(g.node_type)
        node_type[m, :n] = torch.tensor(g.node_type)
        charge[m, :n] = torch.tensor(g.charge)
        if g.edges:
            e = torch.tensor(g.edges)
            bond_type[m, e[:, 0], e[:, 1]] = (e[:, 2] + 1).to(torch.int8)
            bond_type[m, e[:, 1], e[:, 0]] = (e[:, 2] + 1).to(torch.int8)
    return {"node_type": node_type, "charge": charge, "bond_type": bond_type}


def convert_all(records: Iterable[tuple[int, object]], to_graph, desc: str, total: int | None = None) -> tuple[list[int], list[MolGraph], Counter]:
    """Apply ``to_graph`` to every ``(row, raw)`` record; keep successes, count rejections by reason."""
    from rich.progress import track  # the bar Lightning and the images study draw too; removed when done

    kept_rows, graphs, dropped = [], [], Counter()
    for row, raw in track(records, description=desc, total=total, transient=True, update_period=0.5):
        try:
            graphs.append(to_graph(raw))
            kept_rows.append(row)
        except MoleculeRejected as rej:
            dropped[rej.reason] += 1
    return kept_rows, graphs, dropped


def seeded_split(n: int, fractions: Sequence[float], seed: int, subset: int = 0) -> dict[str, Tensor]:
    """Train/val/test indices from one seeded permutation (the first ``subset`` rows of it if > 0).

    Taking the subset from the same permutation means a larger subset contains a smaller
    one, so CPU-profile results are a sample of the paper-profile data, not a different set.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(f"split fractions {list(fractions)} must be three non-negative numbers summing to 1",
                          "use e.g. data.split=[0.8,0.1,0.1]")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    if subset and subset > 0:
        perm = perm[: min(subset, n)]
    m = len(perm)
    n_train, n_val = int(round(fractions[0] * m)), int(round(fractions[1] * m))
    return {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}


def finish_dataset(full: dict, subset: int, split: Sequence[float], split_seed: int) -> MoleculeDataset:
    """Turn a cached dict into a :class:`MoleculeDataset` with its split, restricted to ``subset`` if > 0."""
    bond = full["bond_type"].long()
    ds = MoleculeDataset(
        name=full["name"], atom_types=list(full["atom_types"]), max_nodes=int(full["max_nodes"]),
        smiles=list(full["smiles"]), node_type=full["node_type"], node_mask=full["node_type"] >= 0,
        charge=full["charge"], bond_type=bond, targets=full["targets"], target_names=list(full["target_names"]),
        target_units=list(full["target_units"]), dropped=dict(full["dropped"]), n_source=int(full["n_source"]),
    )
    ds.split = seeded_split(len(ds), split, split_seed, subset)
    if subset and subset > 0:
        ds = ds.subset(torch.cat(list(ds.split.values())).sort().values)
    log.info(ds.summary())
    return ds
