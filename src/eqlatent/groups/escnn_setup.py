"""escnn made to work on first use, with its on-disk cache outside site-packages.

Why: escnn 1.0.11 computes the change of basis of a D_N / O(2) kernel basis with scikit-learn's
``randomized_svd`` on an ``np.matrix``, which scikit-learn >= 1.9 refuses (``TypeError: np.matrix is not
supported``, escnn issue #112), so the first D8 ``R2Conv`` on a machine fails.  escnn then caches the bases
it did compute (joblib) inside its own site-packages folder, so a second machine fails where the first one,
with a warm cache, does not: the failure depends on history.  Setting escnn's module-level
``randomized_svd`` to None makes it fall back to scipy's exact SVD (what it does without scikit-learn).

escnn costs seconds to import, so ``import eqlatent`` does not import it: :func:`install` registers an
import hook that applies both fixes the moment ``escnn.group`` finishes loading (or at once, if escnn is
already loaded).  escnn has no setting for its cache folder; it fixes ``escnn.group.__cache_path__`` at
import and builds its joblib ``Memory`` objects from it, so the hook points those objects' store at
:func:`cache_dir` (``$EQLATENT_ESCNN_CACHE``, else ``$XDG_CACHE_HOME/eqlatent/escnn``, else
``~/.cache/eqlatent/escnn``).
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from eqlatent.errors import ConfigError

ENV_VAR = "EQLATENT_ESCNN_CACHE"
_GROUP = "escnn.group"


def cache_dir() -> Path:
    """Where escnn's basis cache goes: ``$EQLATENT_ESCNN_CACHE``, else the user's cache folder."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "eqlatent" / "escnn"


def _usable_cache_dir() -> Path | None:
    """:func:`cache_dir`, created; None (escnn's own folder kept) when the default cannot be created."""
    target = cache_dir()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if os.environ.get(ENV_VAR):
            raise ConfigError(f"{ENV_VAR}={target} cannot be created ({err.strerror})",
                              f"point {ENV_VAR} to a writable folder") from err
        warnings.warn(f"escnn cache: {target} cannot be created ({err.strerror}); escnn keeps its own folder; "
                      f"set {ENV_VAR} to a writable folder", stacklevel=3)
        return None
    return target


def _redirect_caches(group_module: ModuleType) -> None:
    """Point every escnn joblib ``Memory`` still at escnn's default folder to :func:`cache_dir`.

    Each ``@cache.cache`` function shares its ``Memory``'s store object, so moving the store moves them all.
    """
    from joblib import Memory

    default = getattr(group_module, "__cache_path__", None)
    target = _usable_cache_dir()
    if default is None or target is None or str(target) == default:
        return
    group_module.__cache_path__ = str(target)  # escnn modules loaded later read it from here
    for name, module in list(sys.modules.items()):
        if not (name == "escnn" or name.startswith("escnn.")) or module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Memory) and value.location == default and value.store_backend is not None:
                value.location = str(target)
                value.store_backend.location = str(target / "joblib")


def apply(group_module: ModuleType | None = None) -> None:
    """Both fixes on a loaded ``escnn.group`` (idempotent)."""
    group_module = group_module or sys.modules[_GROUP]
    numerical = sys.modules.get(f"{_GROUP}._numerical")
    if numerical is not None:
        numerical.randomized_svd = None  # np.matrix is refused by scikit-learn >= 1.9: use scipy's SVD
    _redirect_caches(group_module)


class _AfterExec(importlib.abc.Loader):
    """The real loader of ``escnn.group``, then :func:`apply`; everything else is the real loader's."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        apply(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _EscnnHook(importlib.abc.MetaPathFinder):
    """Finds ``escnn.group`` through the other finders and wraps its loader in :class:`_AfterExec`."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _GROUP:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and not isinstance(spec.loader, _AfterExec):
                    spec.loader = _AfterExec(spec.loader)
                return spec
        return None


def install() -> None:
    """Apply the fixes now if escnn is loaded, else when it loads (cheap: escnn is not imported here)."""
    if not any(isinstance(finder, _EscnnHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _EscnnHook())
    if _GROUP in sys.modules:
        apply(sys.modules[_GROUP])
