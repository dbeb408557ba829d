"""Molecule <-> graph conversion shared by every molecular dataset.

Graphs keep heavy atoms only (hydrogens are implicit, as in the paper's graph VAE), one
node type per element and one of four bond types.  The same conversion backwards
(:func:`graph_to_mol`) is what judges whether a decoded graph is a valid molecule.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem, RDLogger

BOND_TYPES: tuple[str, ...] = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
_RD_BONDS = {name: getattr(Chem.BondType, name) for name in BOND_TYPES}


class MoleculeRejected(Exception):
    """A molecule that cannot become a graph; ``reason`` is the short label counted in reports."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class MolGraph:
    """A heavy-atom graph: node types, formal charges and an edge list of ``(i, j, bond_index)``."""

    smiles: str
    node_type: list[int]
    charge: list[int]
    edges: list[tuple[int, int, int]]


def quiet_rdkit() -> None:
    """Silence rdkit's per-molecule stderr chatter; rejections are counted instead."""
    RDLogger.DisableLog("rdApp.*")


def mol_to_graph(mol: Chem.Mol | None, atom_types: tuple[str, ...], max_nodes: int, kekulize: bool = True) -> MolGraph:
    """Turn an rdkit molecule into a :class:`MolGraph` or raise :class:`MoleculeRejected`.

    With ``kekulize`` (default) aromatic rings are stored as alternating single/double
    bonds.  A heavy-atom graph with AROMATIC bonds loses where an aromatic N-H sits
    (``c1cc[nH]n1`` vs ``c1ccn[nH]1``), so decoding could not recover the molecule; the
    Kekule form keeps it, which makes graph -> molecule exact for the stored charges.
    (PyG's QM9 reads the Kekule SDF, so it does the same in effect.)  The AROMATIC
    type stays in the vocabulary for ``kekulize=False`` and user data.
    """
    if mol is None:
        raise MoleculeRejected("rdkit could not parse/sanitise the molecule")
    smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
    mol = Chem.RemoveHs(mol)
    if kekulize:
        try:
            Chem.Kekulize(mol, clearAromaticFlags=True)
        except Exception:  # rdkit's KekulizeException has no stable import path
            raise MoleculeRejected("aromatic system cannot be kekulised") from None
    n = mol.GetNumAtoms()
    if n == 0:
        raise MoleculeRejected("no heavy atoms")
    if n > max_nodes:
        raise MoleculeRejected(f"more than max_nodes={max_nodes} heavy atoms")
    index = {sym: k for k, sym in enumerate(atom_types)}
    node_type, charge = [], []
    for atom in mol.GetAtoms():
        sym = atom.GetSymbol()
        if sym not in index:
            raise MoleculeRejected(f"element {sym} not in atom_types")
        node_type.append(index[sym])
        charge.append(atom.GetFormalCharge())
    edges = []
    for bond in mol.GetBonds():
        name = str(bond.GetBondType()).split(".")[-1]
        if name not in _RD_BONDS:
            raise MoleculeRejected(f"bond type {name} not in {'/'.join(BOND_TYPES)}")
        edges.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), BOND_TYPES.index(name)))
    return MolGraph(smiles, node_type, charge, edges)


def smiles_to_graph(smiles: str, atom_types: tuple[str, ...], max_nodes: int) -> MolGraph:
    """Parse a SMILES string into a heavy-atom graph (raises :class:`MoleculeRejected`)."""
    if not isinstance(smiles, str) or not smiles.strip():
        raise MoleculeRejected("empty SMILES")
    return mol_to_graph(Chem.MolFromSmiles(smiles.strip()), atom_types, max_nodes)


def graph_to_mol(node_type, bond_type, atom_types, charge=None) -> Chem.Mol | None:
    """Build and sanitise a molecule from dense graph tensors; ``None`` if rdkit rejects it.

    Parameters
    ----------
    node_type:
        ``[n]`` indices into ``atom_types``; negative entries are padding and skipped.
    bond_type:
        ``[n, n]`` with 0 = no bond and ``k`` = ``BOND_TYPES[k - 1]`` (upper triangle read).
    charge:
        optional ``[n]`` formal charges.
    """
    node_type = [int(t) for t in node_type]
    keep = [i for i, t in enumerate(node_type) if 0 <= t < len(atom_types)]
    if not keep:
        return None
    rw = Chem.RWMol()
    new_index = {}
    for i in keep:
        atom = Chem.Atom(atom_types[node_type[i]])
        if charge is not None:
            atom.SetFormalCharge(int(charge[i]))
        new_index[i] = rw.AddAtom(atom)
    for a_pos, i in enumerate(keep):
        for j in keep[a_pos + 1:]:
            k = int(bond_type[i][j])
            if k > 0:
                rw.AddBond(new_index[i], new_index[j], _RD_BONDS[BOND_TYPES[k - 1]])
    for bond in rw.GetBonds():
        if bond.GetBondType() == Chem.BondType.AROMATIC:
            bond.SetIsAromatic(True)
            bond.GetBeginAtom().SetIsAromatic(True)
            bond.GetEndAtom().SetIsAromatic(True)
    mol = _sanitised(rw.GetMol())
    if mol is not None:
        return mol
    # Aromatic [nH] (pyrrole-type N) loses its hydrogen in a heavy-atom graph; kekulisation then
    # fails.  Give such nitrogens back one explicit H, one at a time, before giving up.
    pyrrole_like = [a.GetIdx() for a in rw.GetAtoms()
                    if a.GetIsAromatic() and a.GetSymbol() == "N" and a.GetDegree() == 2 and a.GetFormalCharge() == 0]
    for idx in pyrrole_like:
        trial = Chem.RWMol(rw)
        trial.GetAtomWithIdx(idx).SetNumExplicitHs(1)
        mol = _sanitised(trial.GetMol())
        if mol is not None:
            return mol
    return None


def _sanitised(mol: Chem.Mol) -> Chem.Mol | None:
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # rdkit raises several unrelated types for invalid valences / kekulisation
        return None
    return mol
