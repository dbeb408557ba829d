"""The whole MOSES training set (or any large SMILES CSV) as a sharded cache, built at bounded memory.

Why a module of its own: :func:`eqlatent.data.zinc.build_zinc` reads the CSV whole and packs
dense tensors, fine for the profiles' 20k-250k subsets but not for the 1,584,663 molecules of
``data.subset=all`` (dense bonds alone: 18 GB as the study's ``long``).  Here the CSV is
streamed in blocks of ``shard_size`` selected rows; each block becomes one shard
(:mod:`eqlatent.data.molecule_shards`) written atomically, so memory holds one block
whatever the set's size, and an interrupted build resumes at its first missing shard
(:mod:`eqlatent.data.shards`).  The molecules, their order, graphs, properties and drop
reasons are those of the in-memory build of the same rows: the same seeded row pick, the
same :func:`~eqlatent.data.graphs.smiles_to_graph` and :func:`~eqlatent.data.zinc_properties.molecule_properties`.
"""

from __future__ import annotations

import gzip
import logging
import math
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pandas as pd
import torch
from torch import Tensor

from eqlatent.data.cache import cache_key
from eqlatent.data.graphs import MoleculeRejected, quiet_rdkit, smiles_to_graph
from eqlatent.data.molecule_shards import ShardedMoleculeDataset, ShardPacker
from eqlatent.data.shards import ShardFolder, build_shards
from eqlatent.data.sources import require_file
from eqlatent.data.zinc_properties import (BUILDER_VERSION, DERIVED_NAMES, DERIVED_UNITS, TARGET_NAMES, TARGET_UNITS,
                                           _sascorer, molecule_properties, with_derived)
from eqlatent.errors import DataFileError

log = logging.getLogger(__name__)

#: molecules read per shard: ~10 MB on disk and ~3 min of rdkit on one core each; the build holds one
SHARD_SIZE = 50_000
#: rows read from the CSV at a time (at least; a shard's worth when shards are larger)
READ_BLOCK = 4096
_FIX = "pass data.path=<CSV with a SMILES column> (ZINC250k or MOSES format)"
_READ_ERRORS = (ValueError, pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError, gzip.BadGzipFile)


def _unreadable(csv: Path, err: Exception) -> DataFileError:
    return DataFileError(f"ZINC CSV {csv} is unreadable ({str(err).splitlines()[0]})", _FIX)


def smiles_header(csv: Path) -> str:
    """The name of the ``SMILES``/``smiles`` column of a (gzipped) CSV, read from its header alone."""
    require_file(csv, "ZINC CSV", _FIX)
    try:
        columns = pd.read_csv(csv, compression="infer", nrows=0).columns
    except _READ_ERRORS as err:
        raise _unreadable(csv, err) from None
    col = next((c for c in columns if str(c).strip().lower() == "smiles"), None)
    if col is None:
        raise DataFileError(f"ZINC CSV {csv} has no SMILES column (columns: {', '.join(map(str, columns))})", _FIX)
    return col


def _blocks(csv: Path, col: str, size: int) -> Iterator[list]:
    """The SMILES column in blocks of ``size`` rows, as read_csv gives them (missing cells are NaN)."""
    try:
        for frame in pd.read_csv(csv, compression="infer", usecols=[col], dtype=object, chunksize=size):
            yield frame[col].tolist()
    except _READ_ERRORS as err:
        raise _unreadable(csv, err) from None


def count_rows(csv: Path, col: str, block: int = 50_000) -> int:
    """Data rows of the CSV, streamed (the file is never held whole)."""
    return sum(len(b) for b in _blocks(csv, col, block))


def smiles_chunks(csv: Path, col: str, rows: Tensor | None, size: int) -> Iterator[list[str]]:
    """The SMILES of the sorted source ``rows`` (``None``: every row), in order, ``size`` at a time.

    Cells become strings as :func:`eqlatent.data.zinc.read_smiles_column` makes them
    (``str(cell).strip()``), so both builds see the same text.
    """
    buf: list[str] = []
    start, j = 0, 0
    for values in _blocks(csv, col, max(size, READ_BLOCK)):
        if rows is None:
            picked = values
        else:
            stop = int(torch.searchsorted(rows, start + len(values)))
            picked = [values[r - start] for r in rows[j:stop].tolist()]
            j = stop
        start += len(values)
        buf.extend(str(s).strip() for s in picked)
        while len(buf) >= size:
            yield buf[:size]
            buf = buf[size:]
    if buf:
        yield buf


def zinc_shard(smiles: Sequence[str], atom_types: Sequence[str], max_nodes: int,
               advance: Callable[[int], None] = lambda n: None) -> dict:
    """One shard: the graphs and logP / QED / SA of ``smiles`` that become graphs, the rest counted by reason."""
    quiet_rdkit()
    sa = _sascorer()
    packer = ShardPacker(max_nodes, len(TARGET_NAMES), len(atom_types))
    atoms = tuple(atom_types)
    for i, s in enumerate(smiles, 1):
        try:
            graph = smiles_to_graph(s, atoms, max_nodes)
        except MoleculeRejected as rej:
            packer.dropped[rej.reason] += 1
        else:
            packer.add(graph, molecule_properties(graph.smiles, sa))
        if i % 64 == 0:
            advance(64)
    advance(len(smiles) % 64)
    packer.n_read = len(smiles)
    return packer.pack()


def rebuild_command(path: str | None, subset: int, max_nodes: int, seed: int, sampled: bool, shard_size: int,
                    asked: bool = False) -> str:
    """The ``eqlatent prepare`` command line that builds (or resumes) this cache (``asked``: storage=shards was set)."""
    parts = ["eqlatent prepare --data zinc", f"data.subset={subset if subset else 'all'}"]
    parts += ["+data.storage=shards"] if asked else []
    parts += [f"data.path={path}"] if path is not None else []
    parts += [f"data.max_nodes={max_nodes}"] if max_nodes != 38 else []
    parts += [f"data.split_seed={seed}"] if sampled and seed != 0 else []
    parts += [f"+data.shard_size={shard_size}"] if shard_size != SHARD_SIZE else []
    return " ".join(parts)


def load_zinc_shards(csv: Path, source: dict, path: str | None, subset: int, n_file: int, cache_dir: str | Path,
                     max_nodes: int, split: Sequence[float], split_seed: int, atom_types: Sequence[str],
                     shard_size: int, asked: bool = False) -> ShardedMoleculeDataset:
    """Build (or resume, or check) the sharded cache of ``subset`` rows of ``csv`` (0: all) and open it.

    The rows are those :func:`eqlatent.data.zinc.build_zinc` picks: a seeded random
    ``subset`` of the file's ``n_file`` rows, sorted, or every row.  ``asked``: the caller set
    ``storage="shards"`` (rather than ``auto`` choosing it), for the rebuild command in errors.
    """
    col = smiles_header(csv)
    sampled = 0 < subset < n_file
    rows = (torch.randperm(n_file, generator=torch.Generator().manual_seed(split_seed))[:subset].sort().values
            if sampled else None)
    describe = {"source": source, "subset": subset if sampled else 0, "seed": split_seed if sampled else None,
                "max_nodes": max_nodes, "atoms": list(atom_types), "version": BUILDER_VERSION,
                "shard_size": shard_size}
    folder = Path(cache_dir) / f"zinc-v{BUILDER_VERSION}-{cache_key(**describe)}-shards"
    shards = ShardFolder(folder, rebuild_command(path, subset, max_nodes, split_seed, sampled, shard_size, asked))
    total = len(rows) if sampled else n_file
    n_shards = math.ceil(total / shard_size)
    manifest = shards.manifest()
    if manifest is not None and all(shards.complete(k) for k in range(n_shards)):
        shards.verify(manifest)    # a damaged shard: one line naming it, not a study trained on wrong tensors
    else:
        manifest = build_shards(shards, smiles_chunks(csv, col, rows, shard_size), n_shards, total,
                                lambda items, advance: zinc_shard(items, atom_types, max_nodes, advance),
                                {**describe, "n_file": n_file}, "ZINC -> shards")
    ds = ShardedMoleculeDataset(shards, manifest, "zinc", atom_types, max_nodes, TARGET_NAMES + DERIVED_NAMES,
                                TARGET_UNITS + DERIVED_UNITS, split, split_seed, derive=with_derived)
    log.info(ds.summary())
    return ds
