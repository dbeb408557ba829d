"""A cache built shard by shard: bounded memory, atomic shards, resumable, checked on load.

Why: the whole MOSES set (1.58 M molecules, ~1.5 h of rdkit on one core) cannot be built in
memory and then saved in one piece -- memory would grow with the set, and a crash after an
hour would lose everything.  A :class:`ShardFolder` holds ``shard-00000.pt``,
``shard-00001.pt``, ... each written atomically and followed by its ``.sha256`` sidecar, so
a shard with a sidecar is complete; :func:`build_shards` builds only the shards that are
not (an interrupted build continues from its last complete shard), drawing one progress
bar over the whole build, then writes ``manifest.json`` (counts, drops per reason,
checksums).  Reading checks every shard against the manifest: a damaged one is a one-line
error that names the shard and how to rebuild just that one.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from eqlatent.data.cache import file_sha256
from eqlatent.errors import DataFileError
from eqlatent.runtime.io import atomic_torch_save, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


class ShardFolder:
    """The files of one sharded cache; ``rebuild`` is the command line that resumes its build (for error messages)."""

    def __init__(self, folder: str | Path, rebuild: str) -> None:
        self.folder, self.rebuild = Path(folder), rebuild

    def path(self, k: int) -> Path:
        return self.folder / f"shard-{k:05d}.pt"

    def sidecar(self, k: int) -> Path:
        return self.folder / f"shard-{k:05d}.pt.sha256"

    def complete(self, k: int) -> bool:
        """Shard ``k`` was written to the end: its sidecar (written after it) exists beside it."""
        return self.path(k).is_file() and self.sidecar(k).is_file()

    def write(self, k: int, shard: dict) -> str:
        """Save shard ``k`` atomically, then its checksum; returns the checksum."""
        atomic_torch_save(shard, self.path(k))
        digest = file_sha256(self.path(k))
        atomic_write_text(self.sidecar(k), digest + "\n")
        return digest

    def read(self, k: int, sha256: str) -> dict:
        """Shard ``k``, after checking it against ``sha256`` (a one-line :class:`DataFileError` if it differs)."""
        path = self.path(k)
        fix = f"delete {path} and run `{self.rebuild}` again (the build resumes and rebuilds only that shard)"
        if not path.is_file():
            raise DataFileError(f"cache shard {path} is missing", fix)
        if file_sha256(path) != sha256:
            raise DataFileError(f"cache shard {path} failed its checksum (corrupt or edited)", fix)
        return torch.load(path, weights_only=True)

    def verify(self, manifest: dict) -> None:
        """Check every shard of a finished build against its manifest (the first damaged one is the error)."""
        for k, entry in enumerate(manifest["shards"]):
            path = self.path(k)
            if not path.is_file() or file_sha256(path) != entry["sha256"]:
                self.read(k, entry["sha256"])   # raises the one-line error naming the shard and the fix

    def manifest(self) -> dict | None:
        """The finished build's manifest, or None while the build is incomplete."""
        path = self.folder / MANIFEST
        return json.loads(path.read_text()) if path.is_file() else None


def build_shards(shards: ShardFolder, chunks: Iterable[Sequence[Any]], n_shards: int, total: int,
                 make_shard: Callable[[Sequence[Any], Callable[[int], None]], dict], describe: dict,
                 desc: str) -> dict:
    """Build every missing shard of ``shards`` from ``chunks`` and write the manifest; returns it.

    ``chunks`` yields the ``n_shards`` lists of raw items in order (``total`` items in all);
    ``make_shard(items, advance)`` turns one list into a shard dict holding at least
    ``n_read``, ``n_kept`` and ``dropped`` (reason -> count), calling ``advance(k)`` after
    every ``k`` items for the progress bar.  Only one chunk and one shard are in memory at a
    time.  ``describe`` (the build's parameters and source counts) goes into the manifest.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    t0 = time.perf_counter()
    done = [k for k in range(n_shards) if shards.complete(k)]
    if done and len(done) < n_shards:
        log.info("%s: %d of %d shards already built in %s, resuming", desc, len(done), n_shards, shards.folder)
    shards.folder.mkdir(parents=True, exist_ok=True)
    digests, counts = {}, {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(desc, total=total)
        for k, items in enumerate(chunks):
            if shards.complete(k):
                bar.advance(task, len(items))
                continue
            bar.update(task, description=f"{desc} (shard {k + 1}/{n_shards})")
            shard = make_shard(items, lambda n: bar.advance(task, n))
            digests[k] = shards.write(k, shard)
            counts[k] = {key: shard[key] for key in ("n_read", "n_kept", "dropped")}
            del shard
    manifest = write_manifest(shards, n_shards, digests, counts, describe)
    drops = "; ".join(f"{n:,} x {why}" for why, n in manifest["dropped"].items()) or "none"
    log.info("%s: %d shards in %s (%d built now, in %.0f s): %s of %s kept; dropped: %s", desc, n_shards,
             shards.folder, len(digests) - len(done), time.perf_counter() - t0, f"{manifest['n_kept']:,}",
             f"{manifest['n_read']:,}", drops)
    return manifest


def write_manifest(shards: ShardFolder, n_shards: int, digests: dict[int, str], counts: dict[int, dict],
                   describe: dict) -> dict:
    """The manifest of a finished build: per shard its file, counts and checksum; totals; drops per reason."""
    entries, dropped = [], {}
    for k in range(n_shards):
        if k not in digests:    # built by an earlier, interrupted run: counts from the shard itself
            digests[k] = shards.sidecar(k).read_text().strip()
            shard = shards.read(k, digests[k])
            counts[k] = {key: shard[key] for key in ("n_read", "n_kept", "dropped")}
            del shard
        entries.append({"file": shards.path(k).name, "sha256": digests[k], **counts[k]})
        for why, n in counts[k]["dropped"].items():
            dropped[why] = dropped.get(why, 0) + int(n)
    manifest = {**describe, "n_read": sum(e["n_read"] for e in entries), "n_kept": sum(e["n_kept"] for e in entries),
                "dropped": dict(sorted(dropped.items())), "shards": entries}
    atomic_write_json(shards.folder / MANIFEST, manifest)
    return manifest
