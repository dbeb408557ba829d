"""SYNTHETIC inputs for tests: dense molecular-like graphs with padding anywhere."""

from __future__ import annotations

import torch
from torch import Tensor


def random_dense_graphs(batch: int, n: int, n_types: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """SYNTHETIC dense graphs for tests: ``node_type [B, n]`` (-1 = empty slot, ~30 %) and symmetric ``bond_type``.

    Bonds (types 1-4, ~30 % of pairs) join only occupied slots, and empty slots sit at random
    places, so a test also sees padding in the middle of a graph.
    """
    node = torch.randint(n_types, (batch, n), generator=generator)
    node[torch.rand(batch, n, generator=generator) < 0.3] = -1
    bond = torch.randint(5, (batch, n, n), generator=generator) * (torch.rand(batch, n, n, generator=generator) < 0.3)
    bond = torch.triu(bond, 1)
    bond = bond + bond.transpose(1, 2)
    real = node >= 0
    return node, bond * (real.unsqueeze(1) & real.unsqueeze(2))


#: columns of PyG's QM9 raw ``gdb9.sdf.csv``
QM9_RAW_COLUMNS = ["mol_id", "A", "B", "C", "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "u0", "u298", "h298",
                   "g298", "cv"]


def write_pyg_raw_qm9(folder, smiles=("CC=O", "c1ccoc1", "CCN"), embed_3d: bool = False) -> list:
    """SYNTHETIC QM9 in PyG's raw layout: ``gdb9.sdf`` (hydrogens added), ``gdb9.sdf.csv``, ``uncharacterized.txt``.

    Molecule ``k`` (1-based) gets the value ``k`` in every property column; the last one is marked
    uncharacterised.  Coordinates are rdkit's 2-D layout, or a seeded 3-D embedding with ``embed_3d``.
    Returns the written rdkit molecules.
    """
    from pathlib import Path

    from rdkit import Chem
    from rdkit.Chem import AllChem

    folder = Path(folder)
    writer = Chem.SDWriter(str(folder / "gdb9.sdf"))
    mols = []
    for smi in smiles:
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        if embed_3d:
            AllChem.EmbedMolecule(mol, randomSeed=0)
        else:
            AllChem.Compute2DCoords(mol)
        writer.write(mol)
        mols.append(mol)
    writer.close()
    ks = range(1, len(smiles) + 1)
    rows = [",".join(["gdb_%d" % k] + [str(float(k))] * (len(QM9_RAW_COLUMNS) - 1)) for k in ks]
    (folder / "gdb9.sdf.csv").write_text(",".join(QM9_RAW_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    (folder / "uncharacterized.txt").write_text("header\n" * 9 + f"    {len(smiles)}  gdb_{len(smiles)} ...\n")
    return mols
