"""QM9 property regression on the invariant part of an e3nn graph latent (a LightningModule).

Why the head reads invariants of the latent (its 0e channels, and with ``head_input="invariants"``
the norm of every l > 0 copy): the properties are invariant, so an MLP on invariants predicts
them without breaking equivariance of the latent, and the latent itself (all of
``irreps_latent``) is what the QM9-3D study projects -- reading the norms too trains its l > 0
channels, which a head on the 0e channels alone leaves as an untrained read-out.  Targets are standardised
with the training split's mean and standard deviation (kept as buffers, so they move with the
module and are saved in checkpoints); MAEs are logged in the targets' own units (eV for the gap).
"""

from __future__ import annotations

import math
from typing import Sequence

import lightning as L
import torch
from torch import Tensor, nn

from eqlatent.errors import ConfigError
from eqlatent.models.e3nn_encoder import E3nnEncoder

LOSSES = ("l1", "mse")
HEAD_INPUTS = ("scalars", "invariants")
SCHEDULES = ("cosine", "onecycle", "constant")


def lr_factor(schedule: str, total_steps: int, warmup: float) -> callable:
    """Learning-rate factor per step: linear warm-up over ``warmup`` of the steps, then cosine decay to 0.

    ``"onecycle"`` is the same curve with a 30 % warm-up (torch's OneCycleLR default), defined
    for any number of steps; ``"constant"`` keeps the peak rate after the warm-up.
    """
    warm = max(1, round((0.3 if schedule == "onecycle" else warmup) * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total_steps - warm))))

    return factor


class E3nnRegressor(L.LightningModule):
    """An :class:`E3nnEncoder` plus an MLP on the latent's 0e channels, trained on standardised targets.

    Parameters
    ----------
    encoder:
        keyword arguments of :class:`E3nnEncoder`.
    target_columns, target_names, target_units:
        which columns of ``batch.y`` are trained, their names and units (for logging).
    target_mean, target_std:
        the training split's statistics of those columns.
    head_hidden, lr, weight_decay, schedule, warmup, loss:
        MLP width; Adam(W)'s peak rate and decoupled weight decay; ``"cosine"``, ``"onecycle"``
        or ``"constant"``; warm-up fraction; ``"l1"`` or ``"mse"`` on standardised targets.
    head_input:
        ``"scalars"``: the MLP reads the latent's 0e channels; ``"invariants"``: those and the norm
        of every l > 0 copy (:meth:`E3nnEncoder.invariants`), so the l > 0 channels the study
        projects are trained too, not left at their initial scale.
    """

    def __init__(self, encoder: dict, target_columns: Sequence[int], target_names: Sequence[str],
                 target_units: Sequence[str], target_mean: Sequence[float], target_std: Sequence[float],
                 head_hidden: int = 64, lr: float = 5e-3, weight_decay: float = 0.0, schedule: str = "cosine",
                 warmup: float = 0.05, loss: str = "l1", head_input: str = "scalars") -> None:
        super().__init__()
        if head_input not in HEAD_INPUTS:
            raise ConfigError(f"unknown head_input '{head_input}'", f"use one of {', '.join(HEAD_INPUTS)}")
        if loss not in LOSSES:
            raise ConfigError(f"unknown loss '{loss}'", f"use one of {', '.join(LOSSES)}")
        if schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule '{schedule}'", f"use one of {', '.join(SCHEDULES)}")
        n = len(target_columns)
        if not (n == len(target_names) == len(target_units) == len(target_mean) == len(target_std)) or n == 0:
            raise ConfigError("target_columns, names, units, mean and std differ in length (or are empty)",
                              "pass one entry per trained target in each")
        if any(not s > 0 for s in target_std):
            raise ConfigError(f"target standard deviations {list(target_std)} must be positive",
                              "compute them on a training split with more than one distinct value")
        self.save_hyperparameters()
        self.encoder = E3nnEncoder(**encoder)
        k = self.encoder.n_latent_scalars + (self.encoder.n_latent_copies if head_input == "invariants" else 0)
        self.head = nn.Sequential(nn.Linear(k, head_hidden), nn.SiLU(), nn.Linear(head_hidden, head_hidden), nn.SiLU(),
                                  nn.Linear(head_hidden, n))
        self.register_buffer("columns", torch.as_tensor(list(target_columns), dtype=torch.long))
        self.register_buffer("mean", torch.as_tensor(list(target_mean), dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(list(target_std), dtype=torch.float32))
        self.names, self.units = list(target_names), list(target_units)

    def latent(self, batch) -> Tensor:
        """The graph latent ``[B, irreps_latent.dim]`` of a :class:`~eqlatent.data.qm9_3d.Batch3D`."""
        return self.encoder(batch.pos, batch.z, batch.batch, batch.num_graphs)

    def forward(self, batch) -> Tensor:
        """Predicted targets ``[B, T]`` in their own units."""
        return self._standardised(batch) * self.std + self.mean

    def _standardised(self, batch) -> Tensor:
        return self.head_on(self.latent(batch))

    def head_on(self, z: Tensor) -> Tensor:
        """Standardised predictions from graph latents ``z`` (the head's input is read as ``head_input`` says)."""
        return self.head(self.encoder.invariants(z) if self.hparams.head_input == "invariants" else self.encoder.scalars(z))

    def predict_from_latent(self, z: Tensor) -> Tensor:
        """Predicted targets ``[B, T]`` in their own units from graph latents ``z`` already encoded."""
        return self.head_on(z) * self.std + self.mean

    def _step(self, batch, stage: str) -> Tensor:
        pred = self._standardised(batch)
        y = (batch.y[:, self.columns] - self.mean) / self.std
        err = pred - y
        loss = err.abs().mean() if self.hparams.loss == "l1" else err.pow(2).mean()
        n = batch.num_graphs
        self.log(f"{stage}/loss", loss, batch_size=n, on_step=False, on_epoch=True)
        mae = err.detach().abs().mean(0) * self.std
        for name, value in zip(self.names, mae):
            self.log(f"{stage}/mae_{name}", value, batch_size=n, on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch, batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches)) if self._trainer is not None else 1
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(hp.schedule, total, hp.warmup))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
