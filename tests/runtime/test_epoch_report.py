"""The per-epoch log line: one per epoch, the validation metrics of that epoch, the time left."""

from __future__ import annotations

import logging

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from eqlatent.runtime.epoch_report import EpochReport


class _Toy(L.LightningModule):
    """A linear model whose validation loss is known exactly: 0.25 per epoch index, plus a nan metric."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        (x,) = batch
        loss = self.layer(x).pow(2).mean()
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", 0.25 * (self.current_epoch + 1))
        self.log("val/broken", float("nan"))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(callback: EpochReport, epochs: int) -> None:
    data = DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4)
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=1, accelerator="cpu", devices=1,
                        callbacks=[callback])
    trainer.fit(_Toy(), data, data)


def test_one_line_per_epoch_with_that_epochs_validation_and_the_time_left(caplog):
    ticks = iter(range(0, 10_000, 45))              # every clock reading 45 s after the last
    callback = EpochReport("toy model", clock=lambda: float(next(ticks)))
    with caplog.at_level(logging.INFO, logger="eqlatent.runtime.epoch_report"):
        _fit(callback, epochs=3)
    lines = [r.getMessage() for r in caplog.records if r.name == "eqlatent.runtime.epoch_report"]
    assert len(lines) == 3                           # the sanity check's validation adds none
    assert lines[0].startswith("toy model: epoch 1/3 in 45 s: train/loss ")
    assert "val/loss 0.25" in lines[0] and "val/loss 0.5" in lines[1] and "val/loss 0.75" in lines[2]
    assert "val/broken nan" in lines[0]               # a non-finite metric is shown as it is, not hidden
    assert lines[0].endswith("~1.5 min left") and lines[1].endswith("~45 s left")
    assert "left" not in lines[2]


def test_no_line_from_a_process_that_is_not_rank_zero(caplog):
    class _Rank1:
        sanity_checking, is_global_zero, current_epoch, max_epochs, callback_metrics = False, False, 0, 2, {}

    callback = EpochReport("toy", clock=lambda: 0.0)
    callback.on_train_epoch_start(_Rank1(), None)
    with caplog.at_level(logging.INFO, logger="eqlatent.runtime.epoch_report"):
        callback.on_train_epoch_end(_Rank1(), None)
    assert not caplog.records
