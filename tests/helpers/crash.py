"""A Lightning callback that kills a real run at a known point, to test resuming."""

from __future__ import annotations

import lightning as L


class CrashAfterEpochs(L.Callback):
    """Raise once ``epochs`` training epochs have finished (and been checkpointed).

    Tests use it to interrupt a real run at a known point: the crash happens at the start
    of epoch ``epochs``, after ModelCheckpoint saved the end of the previous epoch.
    """

    def __init__(self, epochs: int = 1) -> None:
        self.epochs = int(epochs)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch >= self.epochs:
            raise RuntimeError(f"simulated crash after {self.epochs} epoch(s)")
