"""A study's ``projection`` config group -> (projection name, arguments): the studies' one door to the registry.

Every block of ``configs/projection/`` is named as the projection it builds and holds that class's
arguments (``random_invariant: {n_functionals: null, seed: 0, ...}``); the name is resolved in
:mod:`eqlatent.projections.registry`, never in a config.  A block may say ``projection: <name>`` to
build another projection under its own name (a second ``random_invariant`` with other arguments).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from eqlatent.errors import ConfigError


def projection_config(key: str, entry: Any) -> tuple[str, dict[str, Any]]:
    """``(projection name, keyword arguments)`` of the config block ``key: entry``; a one-line ConfigError otherwise."""
    kwargs = OmegaConf.to_container(entry, resolve=True) if isinstance(entry, DictConfig) else dict(entry or {})
    if not isinstance(kwargs, dict):
        raise ConfigError(f"projection '{key}' is configured as {kwargs!r}, not a block of arguments",
                          f"write {key}: {{}} (or its arguments) in configs/projection/")
    if "_target_" in kwargs:
        raise ConfigError(f"projection '{key}' names a class ({kwargs['_target_']}): projections are named, not targeted",
                          f"name the block after a projection (or set projection: <name> in it) and drop _target_")
    return str(kwargs.pop("projection", key)), kwargs
