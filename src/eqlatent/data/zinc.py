"""ZINC drug-like molecules as dense heavy-atom graphs, with rdkit-computed properties.

Default source: the MOSES benchmark's training SMILES (a cleaned subset of ZINC15,
1,584,663 molecules) shipped inside the ``molsets`` wheel.  A user CSV with a SMILES
column (e.g. ZINC250k's ``250k_rndm_zinc_drugs_clean_3.csv``) is read with ``path=``.
A seeded random subset of ``subset`` molecules is processed; ``subset=all`` takes every one,
built shard by shard at bounded memory (:mod:`eqlatent.data.zinc_shards`).

Targets, computed with rdkit for every kept molecule:

=====  ===========================================  ========
name   meaning                                      unit
=====  ===========================================  ========
logP   Wildman-Crippen octanol/water partition      log10
QED    quantitative estimate of drug-likeness       [0, 1]
SA     synthetic accessibility (Ertl & Schuffenh.)  1 (easy) .. 10
=====  ===========================================  ========
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from eqlatent.data.cache import cache_key, file_sha256, load_or_build
from eqlatent.data.graphs import quiet_rdkit, smiles_to_graph
from eqlatent.data.molecules import MoleculeDataset, convert_all, finish_dataset, graphs_to_tensors
from eqlatent.data.sources import package_data_dir, require_file
from eqlatent.data.zinc_properties import (BUILDER_VERSION, DERIVED_NAMES, DERIVED_UNITS, TARGET_NAMES,  # noqa: F401
                                           TARGET_UNITS, properties, with_derived)
from eqlatent.errors import ConfigError, DataFileError

ATOM_TYPES = ("C", "N", "O", "F", "S", "Cl", "Br", "I", "P")
MOSES_TRAIN_SIZE = 1_584_663


def moses_train_csv() -> Path:
    """The MOSES training CSV inside the installed molsets wheel."""
    folder = package_data_dir("moses", "dataset", "data", pip_name="molsets")
    return require_file(folder / "train.csv.gz", "MOSES/ZINC training CSV",
                        "reinstall molsets: pip install --force-reinstall --no-deps molsets==0.3.1")


def read_smiles_column(csv: Path) -> list[str]:
    """All SMILES of a (optionally gzipped) CSV with a ``SMILES``/``smiles`` column."""
    fix = "pass data.path=<CSV with a SMILES column> (ZINC250k or MOSES format)"
    require_file(csv, "ZINC CSV", fix)
    try:
        df = pd.read_csv(csv, compression="infer")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError, gzip.BadGzipFile) as err:
        raise DataFileError(f"ZINC CSV {csv} is unreadable ({str(err).splitlines()[0]})", fix) from None
    col = next((c for c in df.columns if c.strip().lower() == "smiles"), None)
    if col is None:
        raise DataFileError(f"ZINC CSV {csv} has no SMILES column (columns: {', '.join(map(str, df.columns))})", fix)
    return [str(s).strip() for s in df[col].tolist()]


def build_zinc(csv: Path, subset: int, seed: int, max_nodes: int, atom_types: Sequence[str]) -> dict:
    """Sample ``subset`` SMILES (seeded), turn them into graphs and compute their properties."""
    quiet_rdkit()
    smiles = read_smiles_column(csv)
    n_source = len(smiles)
    if subset and 0 < subset < n_source:
        pick = torch.randperm(n_source, generator=torch.Generator().manual_seed(seed))[:subset].sort().values
        smiles = [smiles[i] for i in pick.tolist()]
    _, graphs, dropped = convert_all(enumerate(smiles), lambda s: smiles_to_graph(s, tuple(atom_types), max_nodes),
                                     desc="ZINC -> graphs", total=len(smiles))
    kept = [g.smiles for g in graphs]
    return {
        "name": "zinc", "atom_types": list(atom_types), "max_nodes": max_nodes, "smiles": kept,
        "targets": torch.from_numpy(properties(kept)), "target_names": TARGET_NAMES, "target_units": TARGET_UNITS,
        "dropped": dict(dropped), "n_source": len(smiles), "n_file": n_source, "version": BUILDER_VERSION,
        **graphs_to_tensors(graphs, max_nodes),
    }


#: ``storage="auto"`` builds in memory up to this many molecules read (the paper profile's 250k), in shards above
DENSE_LIMIT = 250_000
STORAGES = ("auto", "memory", "shards")


def parse_subset(subset: int | str | None) -> int:
    """``data.subset`` as a count: a number of molecules, or ``all`` / ``0`` / ``null`` for every molecule."""
    if subset is None or (isinstance(subset, str) and subset.strip().lower() == "all"):
        return 0
    try:
        n = int(subset)
    except (TypeError, ValueError):
        n = -1
    if n < 0 or (isinstance(subset, float) and subset != n):
        raise ConfigError(f"data.subset={subset!r} is neither a number of molecules nor 'all'",
                          "set data.subset=20000 (a seeded random subset) or data.subset=all")
    return n


def load_zinc(path: str | None = None, cache_dir: str | None = None, subset: int | str = 5000, max_nodes: int = 38,
              split: Sequence[float] = (0.8, 0.1, 0.1), split_seed: int = 0,
              atom_types: Sequence[str] = ATOM_TYPES, storage: str = "auto",
              shard_size: int | None = None) -> MoleculeDataset:
    """Load a seeded ``subset`` of ZINC (or all of it) as graphs with logP / QED / SA / penalized logP targets.

    Parameters
    ----------
    path:
        ``None`` for MOSES' training CSV shipped in molsets, or a CSV with a SMILES column.
    subset:
        number of molecules to sample from the file before processing (``0`` or ``"all"``: every one).
    max_nodes:
        molecules with more heavy atoms are dropped (and counted).
    storage:
        ``"memory"``: dense tensors built and cached in one file (:func:`build_zinc`);
        ``"shards"``: a cache built shard by shard at bounded memory, resumable, bonds kept
        sparse and made dense per batch (:mod:`eqlatent.data.zinc_shards`); ``"auto"``
        (default): memory up to :data:`DENSE_LIMIT` molecules read, shards above (the whole
        MOSES set).  Both give the same molecules and, densified, the same tensors.
    shard_size:
        molecules read per shard (default :data:`eqlatent.data.zinc_shards.SHARD_SIZE`).
    """
    from eqlatent.data import zinc_shards

    if max_nodes < 1:
        raise ConfigError(f"max_nodes must be positive, got {max_nodes}", "set data.max_nodes=38")
    if storage not in STORAGES:
        raise ConfigError(f"ZINC storage '{storage}' is not known", f"use one of {', '.join(STORAGES)}")
    shard_size = zinc_shards.SHARD_SIZE if shard_size is None else int(shard_size)
    if shard_size < 1:
        raise ConfigError(f"shard_size must be positive, got {shard_size}", "drop data.shard_size (default 50000)")
    subset = parse_subset(subset)
    csv = moses_train_csv() if path is None else Path(path).expanduser()
    n_file, asked = None, storage == "shards"
    if storage == "auto":   # the file's length decides only where the subset does not
        if 0 < subset <= DENSE_LIMIT:
            storage = "memory"
        else:
            n_file = zinc_shards.count_rows(csv, zinc_shards.smiles_header(csv))
            storage = "shards" if min(subset or n_file, n_file) > DENSE_LIMIT else "memory"
    source = {"file": csv.name, "size": csv.stat().st_size if csv.is_file() else None}
    if path is not None and csv.is_file():
        source["sha256"] = file_sha256(csv)
    if storage == "shards":
        if cache_dir is None:
            raise ConfigError(f"ZINC in shards ({'all' if not subset else subset} molecules) is built into a cache "
                              "folder, and data.cache_dir is null", "set data.cache_dir (default data/processed)")
        if n_file is None:
            n_file = zinc_shards.count_rows(csv, zinc_shards.smiles_header(csv))
        return zinc_shards.load_zinc_shards(csv, source, path, subset, n_file, cache_dir, max_nodes, split,
                                            split_seed, atom_types, shard_size, asked)
    build = lambda: build_zinc(csv, subset, split_seed, max_nodes, atom_types)  # noqa: E731
    if cache_dir is None:
        full = build()
    else:
        key = cache_key(source=source, subset=subset, seed=split_seed, max_nodes=max_nodes, atoms=list(atom_types),
                        version=BUILDER_VERSION)
        full = load_or_build(Path(cache_dir) / f"zinc-v{BUILDER_VERSION}-{key}.pt", build, "ZINC cache")
    full = {**full, "targets": with_derived(full["targets"], full["smiles"]),
            "target_names": TARGET_NAMES + DERIVED_NAMES, "target_units": TARGET_UNITS + DERIVED_UNITS}
    return finish_dataset(full, 0, split, split_seed)
