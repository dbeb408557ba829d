"""One log line per finished epoch: what a batch job shows while it trains.

Why: the Rich progress bar draws only on a terminal.  Under ``nohup``, Slurm or any job
whose output goes to a file, an epoch of a ``full`` profile (several minutes on 2 cores)
passed without a line, so nobody could tell a slow run from a stuck one or say when it
would end.  This callback writes, once per epoch and on rank 0 only, the epoch number,
its minutes, the training loss and every validation metric, and the time left at the
mean pace so far -- into the run's log file and the console alike.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

import lightning as L

log = logging.getLogger(__name__)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _value(value: object) -> str | None:
    """A logged metric as text (4 significant digits); None for what is not one finite number."""
    try:
        number = float(value.item() if hasattr(value, "item") else value)   # tensors and plain numbers
    except (TypeError, ValueError, RuntimeError):
        return None
    return f"{number:.4g}" if math.isfinite(number) else str(number)


class EpochReport(L.Callback):
    """Log ``"<what>: epoch k/n in t: train/loss ..., val/... ; ~m left"`` after every training epoch.

    ``what`` names the model in the line (``"VAE d=4"``, ``"regressor"``); ``clock`` is
    injectable for tests.  Validation runs before Lightning's ``on_train_epoch_end``, so its
    metrics are those of the epoch just finished.  A resumed fit counts its epochs from the
    checkpoint's, and its time left from the epochs it ran itself.
    """

    def __init__(self, what: str = "model", clock: Callable[[], float] = time.perf_counter) -> None:
        self.what, self.clock = what, clock
        self.started: float | None = None
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = self.clock()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.started is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        self.seconds.append(self.clock() - self.started)
        done, total = trainer.current_epoch + 1, trainer.max_epochs
        metrics = trainer.callback_metrics
        shown = [key for key in ("train/loss", "train_loss", "loss") if key in metrics][:1]
        shown += sorted(key for key in metrics if key.startswith(("val/", "val_")))
        parts = [f"{key} {text}" for key in shown if (text := _value(metrics[key])) is not None]
        line = f"{self.what}: epoch {done}/{total if total and total > 0 else '?'} in {_minutes(self.seconds[-1])}"
        if parts:
            line += ": " + ", ".join(parts)
        if total and total > done:
            line += f"; ~{_minutes((total - done) * sum(self.seconds) / len(self.seconds))} left"
        log.info(line)
