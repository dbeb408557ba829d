"""Build the Lightning loggers a study writes to: CSV always, wandb offline by default.

wandb runs are finished explicitly (:func:`finish_loggers`) so that the jobs of a
Hydra multirun never merge into one wandb run.
"""

from __future__ import annotations

import os
from typing import Any

import hydra
from omegaconf import DictConfig


def make_loggers(cfg: DictConfig) -> list[Any]:
    """Instantiate every logger under ``cfg.logger`` (wandb mode from ``WANDB_MODE``, default offline)."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    loggers = []
    for name, lg_cfg in (cfg.get("logger") or {}).items():
        if lg_cfg is None:
            continue
        if name == "wandb" or "Wandb" in str(lg_cfg.get("_target_", "")):
            os.makedirs(lg_cfg.save_dir, exist_ok=True)
        loggers.append(hydra.utils.instantiate(lg_cfg))
    return loggers


def log_config(loggers: list[Any], cfg: DictConfig) -> None:
    """Record the fully resolved config with every logger."""
    from omegaconf import OmegaConf

    params = OmegaConf.to_container(cfg, resolve=False)
    params.pop("hydra", None)  # its ${hydra:...} keys only resolve inside a Hydra job
    params = OmegaConf.to_container(OmegaConf.create(params), resolve=True, throw_on_missing=False)
    for lg in loggers:
        lg.log_hyperparams(params)


def finish_loggers(loggers: list[Any]) -> None:
    """Flush CSV files and close the wandb run so the next multirun job starts a fresh one."""
    for lg in loggers:
        lg.finalize("success")
        if type(lg).__name__ == "WandbLogger":
            import wandb

            wandb.finish()


def make_callbacks(cfg: DictConfig) -> list[Any]:
    """Instantiate every callback under ``cfg.callbacks`` (progress bar, checkpointing).

    ``trainer.enable_progress_bar=false`` drops the progress-bar callback too: Lightning
    refuses a progress-bar callback on a trainer without a progress bar, and one switch
    should be enough to silence the bar (batch jobs, CI logs).
    """
    from lightning.pytorch.callbacks import ProgressBar

    callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    if (cfg.get("trainer") or {}).get("enable_progress_bar", True) is False:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    return callbacks
