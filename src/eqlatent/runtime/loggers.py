"""Build the Lightning loggers a study writes to: CSV always, wandb offline by default.

wandb runs are finished explicitly (:func:`finish_loggers`) so that the jobs of a
Hydra multirun never merge into one wandb run.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Sequence

import hydra
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from omegaconf import DictConfig


class _AppendingCSVWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing ``metrics.csv`` is continued instead of deleted.

    Lightning's writer warns "logs directory ... is not empty" and removes the old file
    when a run resumes into the same folder, which threw away the learning curve of every
    epoch before the resume.  Here the old header is read back, so new rows are appended
    under the same columns (a new column rewrites the file with the union header).
    """

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                header = next(csv.reader(file), [])
            self.metrics_keys = sorted(header)


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` survives a resumed run (rows of every attempt, in order)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingCSVWriter(log_dir=self.log_dir)
        return self._experiment


class OfflineWandbLogger(WandbLogger):
    """Lightning's ``WandbLogger`` without the ``anonymous=None`` it always hands to ``wandb.init``.

    Why: wandb deprecated that setting and warns about it on every run, although nobody
    set it.  Dropping the unset key removes the warning at its source; everything else
    (offline by default through ``WANDB_MODE``) is Lightning's logger unchanged.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)


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


def log_run_summary(loggers: list[Any], metrics: dict[str, float], tables: dict[str, tuple[list, list]],
                    figures: Sequence[str | Path]) -> None:
    """Send a finished study's headline metrics to every logger, and its tables and figures to wandb.

    Each figure gets its own key: figures of different sizes under one key are squeezed
    into one panel (wandb warns "Images sizes do not match").
    """
    for lg in loggers:
        lg.log_metrics(metrics, step=0)
        if isinstance(lg, WandbLogger):
            for key, (columns, rows) in tables.items():
                lg.log_table(key=key, columns=columns, data=rows)
            for fig in figures:
                lg.log_image(key=f"figures/{Path(fig).stem}", images=[str(fig)], caption=[Path(fig).name])


def finish_loggers(loggers: list[Any]) -> None:
    """Flush CSV files and close the wandb run so the next multirun job starts a fresh one."""
    for lg in loggers:
        lg.finalize("success")
        if isinstance(lg, WandbLogger):
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
