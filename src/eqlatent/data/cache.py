"""Versioned, checksummed caches of processed tensors under ``data/processed``.

Processing QM9 from its CSVs takes a while; the cache makes later runs instant.  Each
cache file has a sidecar ``.sha256``: a truncated or edited cache is detected on load and
rebuilt instead of silently feeding a study wrong tensors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable

import torch

from eqlatent.runtime.io import atomic_torch_save, atomic_write_text

log = logging.getLogger(__name__)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def cache_key(**parts: Any) -> str:
    """A short stable hash of the parameters that determine a cache's content."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def load_or_build(path: Path, build: Callable[[], dict], describe: str = "cache") -> dict:
    """Load ``path`` if its checksum matches its sidecar, else ``build()`` and save it atomically."""
    sidecar = path.with_suffix(path.suffix + ".sha256")
    if path.is_file() and sidecar.is_file():
        if file_sha256(path) == sidecar.read_text().strip():
            return torch.load(path, weights_only=False)
        log.warning("%s %s failed its checksum (corrupt or edited): rebuilding it", describe, path)
    elif path.is_file():
        log.warning("%s %s has no checksum file: rebuilding it", describe, path)
    obj = build()
    atomic_torch_save(obj, path)
    atomic_write_text(sidecar, file_sha256(path) + "\n")
    return obj
