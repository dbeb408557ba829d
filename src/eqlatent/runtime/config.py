"""Where the configs live and how they are composed outside of ``@hydra.main``.

Importing this module registers the ``${eqlatent_root:}`` resolver, which the path
config uses so that every path starts at the project root rather than at whatever
directory the user launched from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig, OmegaConf

#: ``src/eqlatent``, the package folder (this module is in its ``runtime/``)
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def project_root() -> Path:
    """The repository root (the folder holding ``configs/``); ``EQLATENT_ROOT`` overrides it."""
    env = os.environ.get("EQLATENT_ROOT")
    if env:
        return Path(env).resolve()
    for candidate in (PACKAGE_DIR.parents[1], Path.cwd()):
        if (candidate / "configs" / "config.yaml").is_file():
            return candidate
    return Path.cwd()


CONFIG_DIR = project_root() / "configs"

if not OmegaConf.has_resolver("eqlatent_root"):
    OmegaConf.register_new_resolver("eqlatent_root", lambda: str(project_root()))


def compose(overrides: Sequence[str] = (), config_name: str = "config", with_hydra: bool = True) -> DictConfig:
    """Compose the real config tree (as ``@hydra.main`` would) for tests and notebooks.

    With ``with_hydra`` the ``hydra`` node is kept and registered, so ``${hydra:...}``
    interpolations resolve exactly as in a command-line run.
    """
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name=config_name, overrides=list(overrides), return_hydra_config=with_hydra)
    if with_hydra:
        HydraConfig.instance().set_config(cfg)
    return cfg
