"""QM9 in three dimensions: every atom (hydrogens included) at its DFT geometry, with the properties.

Why a second QM9 loader: the 2-D study reads heavy-atom *graphs* built from SMILES, which
have no coordinates; an O(3)-equivariant encoder needs the B3LYP/6-31G(2df,p) equilibrium
geometries that QM9 was computed at.  Those ship in the same ``qm9pack`` wheel (column
``XYZ_Ang``), so this loader reads the same 130,831 characterised molecules in the same
order (sorted by GDB-9 index) and, with the same seeded split, puts the same molecules in
test as the 2-D study (that study drops no qm9pack molecule; see :func:`load_qm9_3d`).
A user copy of PyG's official raw folder (``gdb9.sdf`` with its 3-D coordinates,
``gdb9.sdf.csv``, ``uncharacterized.txt``) is read with ``path=<folder>``.

Storage is flat: all atoms of all molecules concatenated (``z`` ``[A]``, ``pos`` ``[A, 3]``),
molecule ``i`` owning atoms ``offsets[i]:offsets[i+1]`` (2.4 M atoms, ~40 MB), so a batch is
gathered with a few index operations and memory does not grow with padding.

Units: positions in Å; targets as in :mod:`eqlatent.data.qm9` (the same 15 columns, orbital
and thermochemical energies converted from Hartree to eV x 27.211386246 as PyG does; μ in D,
α in a0^3, R² in a0^2, c_v in cal/(mol K), rotational constants in GHz).  Methane's gap in
the source is 0.5048 Ha = 13.736 eV.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from eqlatent.data.cache import cache_key, file_sha256, load_or_build
from eqlatent.data.molecules import seeded_split
from eqlatent.data.qm9 import HARTREE_TO_EV, N_MOLECULES, TARGETS, qm9pack_files, read_pyg_raw
from eqlatent.errors import ConfigError, DataFileError

log = logging.getLogger(__name__)

BUILDER_VERSION = 1
#: atomic numbers of the five elements QM9 holds
ELEMENTS = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
TARGET_NAMES = [t[0] for t in TARGETS]
TARGET_UNITS = [t[3] for t in TARGETS]
REINSTALL = "reinstall qm9pack: pip install --force-reinstall --no-deps qm9pack==1.0.3"


@dataclass
class Batch3D:
    """Molecules as one disjoint point cloud, in PyG's layout: atom ``k`` belongs to molecule ``batch[k]``."""

    pos: Tensor          # [A, 3] float32, Å
    z: Tensor            # [A] long, atomic numbers
    batch: Tensor        # [A] long, sorted, values 0..num_graphs-1
    y: Tensor            # [B, T] float32 targets in the dataset's units
    rows: Tensor         # [B] long, the molecules' rows in the dataset
    num_graphs: int

    def to(self, device: torch.device | str) -> "Batch3D":
        """The same batch on ``device`` (Lightning calls this to move it)."""
        return Batch3D(self.pos.to(device), self.z.to(device), self.batch.to(device), self.y.to(device),
                       self.rows.to(device), self.num_graphs)


@dataclass
class Molecules3D:
    """All atoms of all molecules, concatenated, with per-molecule targets and a fixed split."""

    z: Tensor                # [A] uint8 atomic numbers
    pos: Tensor              # [A, 3] float32 positions in Å
    offsets: Tensor          # [N + 1] long: molecule i owns atoms offsets[i]:offsets[i+1]
    targets: Tensor          # [N, T] float32
    target_names: list[str]
    target_units: list[str]
    gdb_index: Tensor        # [N] long: the GDB-9 number (dsgdb9nsd_000001 -> 1)
    smiles: list[str]
    split: dict[str, Tensor] = field(default_factory=dict)
    n_source: int = 0
    name: str = "qm9_3d"

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_atoms(self) -> Tensor:
        """``[N]`` atoms per molecule (hydrogens included)."""
        return self.offsets[1:] - self.offsets[:-1]

    def molecule(self, i: int) -> tuple[Tensor, Tensor]:
        """Atomic numbers ``[n]`` (long) and positions ``[n, 3]`` (Å) of molecule ``i``."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.z[a:b].long(), self.pos[a:b]

    def target(self, name: str) -> Tensor:
        """One target column by name."""
        if name not in self.target_names:
            raise ConfigError(f"unknown QM9 target '{name}'", f"use one of {', '.join(self.target_names)}")
        return self.targets[:, self.target_names.index(name)]

    def collate(self, rows: Sequence[int] | Tensor) -> Batch3D:
        """Molecules ``rows`` as one :class:`Batch3D` (the ``collate_fn`` of a loader over row indices).

        Gathering is vectorised: atom ``k`` of the batch is atom ``k - first[b]`` of its molecule,
        so no Python loop over molecules runs per batch.
        """
        rows = torch.as_tensor(rows, dtype=torch.long).reshape(-1)
        if rows.numel() == 0:
            raise ConfigError("a QM9-3D batch needs at least one molecule", "pass a non-empty list of rows")
        if int(rows.min()) < 0 or int(rows.max()) >= len(self):
            raise ConfigError(f"row {int(rows.max()) if int(rows.max()) >= len(self) else int(rows.min())} is outside "
                              f"the dataset's {len(self):,} molecules", f"use rows in 0..{len(self) - 1}")
        start, count = self.offsets[rows], self.n_atoms[rows]
        batch = torch.repeat_interleave(torch.arange(len(rows)), count)
        first = torch.cumsum(count, 0) - count
        atom = start[batch] + torch.arange(int(count.sum())) - first[batch]
        return Batch3D(pos=self.pos[atom], z=self.z[atom].long(), batch=batch, y=self.targets[rows], rows=rows,
                       num_graphs=len(rows))

    def loader(self, part: str, batch_size: int, shuffle: bool = False, seed: int = 0) -> torch.utils.data.DataLoader:
        """A DataLoader over split ``part`` yielding :class:`Batch3D` (in-process: batching costs ~1 ms)."""
        if part not in self.split:
            raise ConfigError(f"no split part '{part}'", f"use one of {', '.join(self.split)}")
        gen = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(self.split[part].tolist(), batch_size=batch_size, shuffle=shuffle,
                                           collate_fn=self.collate, generator=gen)

    def subset(self, rows: Tensor) -> "Molecules3D":
        """A new dataset holding only ``rows`` (in that order; split indices re-mapped)."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        where = torch.full((len(self),), -1, dtype=torch.long)
        where[rows] = torch.arange(len(rows))
        part = self.collate(rows)
        counts = self.n_atoms[rows]
        offsets = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        split = {k: where[v][where[v] >= 0] for k, v in self.split.items()}
        return Molecules3D(part.z.to(torch.uint8), part.pos, offsets, self.targets[rows], list(self.target_names),
                           list(self.target_units), self.gdb_index[rows], [self.smiles[int(r)] for r in rows],
                           split, self.n_source, self.name)

    def summary(self) -> str:
        """One line: counts, atoms, split sizes."""
        sizes = ", ".join(f"{k} {len(v):,}" for k, v in self.split.items())
        return (f"{self.name}: {len(self):,} molecules (of {self.n_source:,} read), {len(self.z):,} atoms "
                f"(H included, max {int(self.n_atoms.max())} per molecule), DFT geometries in Å; split {sizes}")


def _parse_flat(column: pd.Series, strip: str, what: str, source: str) -> list[str]:
    """All comma-separated tokens of a column of Python list literals, brackets and quotes removed, in order."""
    text = ",".join(column.astype(str).tolist())
    for ch in strip:
        text = text.replace(ch, "")
    tokens = [t.strip() for t in text.split(",")]
    if any(t == "" for t in tokens):
        raise DataFileError(f"{source}: the {what} column holds an empty entry (corrupt row?)", REINSTALL)
    return tokens


def _part_to_atoms(df: pd.DataFrame, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Atomic numbers, positions and atom counts of one qm9pack CSV part, cross-checked against ``N_atoms``."""
    n_atoms = df["N_atoms"].to_numpy(dtype=np.int64)
    per_row_xyz = df["XYZ_Ang"].astype(str).str.count(r"\[").to_numpy() - 1
    per_row_el = df["Elements"].astype(str).str.count(",").to_numpy() + 1
    bad = np.flatnonzero((per_row_xyz != n_atoms) | (per_row_el != n_atoms))
    if len(bad):
        raise DataFileError(f"{source}: molecule {int(df['Index'].iloc[bad[0]])} lists {int(per_row_el[bad[0]])} "
                            f"elements and {int(per_row_xyz[bad[0]])} positions but N_atoms = {int(n_atoms[bad[0]])}",
                            REINSTALL)
    symbols = _parse_flat(df["Elements"], "[]'\" ", "Elements", source)
    unknown = sorted(set(symbols) - set(ELEMENTS))
    if unknown:
        raise DataFileError(f"{source}: unknown element(s) {unknown} (QM9 holds only H, C, N, O, F)", REINSTALL)
    try:
        xyz = np.array(_parse_flat(df["XYZ_Ang"], "[] ", "XYZ_Ang", source), dtype=np.float64)
    except ValueError as err:
        raise DataFileError(f"{source}: XYZ_Ang holds a non-number ({str(err).splitlines()[0]})", REINSTALL) from None
    if len(xyz) != 3 * int(n_atoms.sum()) or len(symbols) != int(n_atoms.sum()):
        raise DataFileError(f"{source}: {len(xyz)} coordinates and {len(symbols)} elements for "
                            f"{int(n_atoms.sum())} atoms", REINSTALL)
    z = np.array([ELEMENTS[s] for s in symbols], dtype=np.uint8)
    return z, xyz.reshape(-1, 3), n_atoms


def _targets(df: pd.DataFrame, which: int) -> np.ndarray:
    cols = []
    for t in TARGETS:
        col = df[t[which]].to_numpy(dtype=np.float64)
        cols.append(col * HARTREE_TO_EV if t[4] else col)
    return np.stack(cols, axis=1).astype(np.float32)


def _pack(z: np.ndarray, pos: np.ndarray, n_atoms: np.ndarray, targets: np.ndarray, gdb_index: np.ndarray,
          smiles: list[str], n_source: int) -> dict:
    return {
        "name": "qm9_3d", "version": BUILDER_VERSION, "z": torch.from_numpy(z),
        "pos": torch.from_numpy(pos.astype(np.float32)),
        "offsets": torch.from_numpy(np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)),
        "targets": torch.from_numpy(targets), "target_names": TARGET_NAMES, "target_units": TARGET_UNITS,
        "gdb_index": torch.from_numpy(gdb_index.astype(np.int64)), "smiles": smiles, "n_source": n_source,
    }


def build_from_qm9pack(files: Sequence[Path]) -> dict:
    """Read the qm9pack CSV parts (one at a time, so peak memory is one part's text) into flat tensors."""
    cols = ["Index", "SMILES", "N_atoms", "Elements", "XYZ_Ang"] + [t[1] for t in TARGETS]
    parts = []
    for f in files:
        try:
            df = pd.read_csv(f, usecols=cols)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise DataFileError(f"QM9 CSV {f} is unreadable or lacks expected columns ({str(err).splitlines()[0]})",
                                REINSTALL) from None
        z, pos, n_atoms = _part_to_atoms(df, str(f))
        parts.append((df["Index"].to_numpy(), z, pos, n_atoms, _targets(df, 1), df["SMILES"].astype(str).tolist()))
    index = np.concatenate([p[0] for p in parts])
    if len(index) != N_MOLECULES:
        raise DataFileError(f"QM9 CSVs hold {len(index):,} molecules, expected {N_MOLECULES:,} (truncated file?)",
                            REINSTALL)
    n_atoms = np.concatenate([p[3] for p in parts])
    first = np.concatenate([[0], np.cumsum(n_atoms)])
    z, pos = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
    order = np.argsort(index, kind="stable")           # the 2-D loader's order: sorted by GDB-9 index
    atom = np.concatenate([np.arange(first[i], first[i + 1]) for i in order])
    smiles = [s for p in parts for s in p[5]]
    return _pack(z[atom], pos[atom], n_atoms[order], np.concatenate([p[4] for p in parts])[order], index[order],
                 [smiles[i] for i in order], n_source=len(index))


def build_from_pyg_raw(folder: Path) -> dict:
    """Read PyG's official raw QM9 files (hydrogens and 3-D coordinates from ``gdb9.sdf``)."""
    from rdkit import Chem

    mols, props = read_pyg_raw(folder)
    zs, poss, counts, smiles = [], [], [], []
    for k, mol in enumerate(mols):
        if mol is None or mol.GetNumConformers() == 0:
            raise DataFileError(f"{folder / 'gdb9.sdf'}: molecule {k + 1} has no coordinates",
                                "point data.path at PyG's QM9 raw/ folder (gdb9.sdf with 3-D coordinates)")
        zs.append(np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.uint8))
        poss.append(mol.GetConformer().GetPositions())
        counts.append(mol.GetNumAtoms())
        try:
            smiles.append(Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False)))
        except Exception:  # unsanitised rdkit molecule that cannot be written: keep the row, no SMILES
            smiles.append("")
    unknown = sorted(set(np.concatenate(zs).tolist()) - set(ELEMENTS.values()))
    if unknown:
        raise DataFileError(f"{folder / 'gdb9.sdf'} holds atomic numbers {unknown} (QM9 holds only H, C, N, O, F)",
                            "point data.path at PyG's QM9 raw/ folder")
    gdb = props["mol_id"].astype(str).str.extract(r"(\d+)$")[0].fillna(-1).astype(np.int64).to_numpy() \
        if "mol_id" in props.columns else np.arange(1, len(mols) + 1)
    return _pack(np.concatenate(zs), np.concatenate(poss), np.array(counts), _targets(props, 2), gdb, smiles,
                 n_source=len(mols))


def load_qm9_3d(path: str | None = None, cache_dir: str | None = None, subset: int = 0,
                split: Sequence[float] = (0.8, 0.1, 0.1), split_seed: int = 0) -> Molecules3D:
    """Load QM9 with hydrogens and DFT geometries (processing once, then from the checksummed cache).

    The parameters are :func:`eqlatent.data.qm9.load_qm9`'s, and so is the split: the same
    seeded permutation over the molecules sorted by GDB-9 index, the ``subset`` taken from its
    head.  With the qm9pack source, where the 2-D loader turns all 130,831 SMILES into graphs,
    row ``i`` here is row ``i`` there, so both studies train, validate and test on the same
    molecules.  (With a PyG raw folder the 2-D loader may drop molecules rdkit cannot sanitise;
    then the splits differ.)

    Parameters
    ----------
    path:
        ``None`` for the CSVs shipped in qm9pack, or a folder with PyG's official raw files.
    cache_dir:
        where processed tensors are kept (``None`` = no caching; building takes ~30 s).
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
        key = cache_key(source=sources, version=BUILDER_VERSION)
        full = load_or_build(Path(cache_dir) / f"qm9_3d-v{BUILDER_VERSION}-{key}.pt", build, "QM9-3D cache")
    ds = Molecules3D(z=full["z"], pos=full["pos"], offsets=full["offsets"], targets=full["targets"],
                     target_names=list(full["target_names"]), target_units=list(full["target_units"]),
                     gdb_index=full["gdb_index"], smiles=list(full["smiles"]), n_source=int(full["n_source"]))
    ds.split = seeded_split(len(ds), split, split_seed, subset)
    if subset and subset > 0:
        ds = ds.subset(torch.cat(list(ds.split.values())).sort().values)
    log.info(ds.summary())
    return ds
