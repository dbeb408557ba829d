"""Shared Lightning training loop for the rotated-MNIST encoders.

Every encoder of the images study is a classifier whose *latent* (what the study
analyses) is taken before the invariant head.  Keeping the loop in one place makes the
three encoders differ only in their network, so accuracy differences are due to the
architecture (equivariant or not) and to the augmentation, not to the training code.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor


class ImageClassifier(L.LightningModule):
    """Base class: ``encode(x) -> latent``, ``classify(latent) -> logits``.

    Parameters
    ----------
    lr:
        Adam learning rate.
    augment_rotations:
        If True, every training batch is rotated by uniform random angles in ``[0, 2pi)``
        (``eqlatent.data.rotation.rotate_images``): the plain CNN's way of learning
        rotation robustness from data instead of from its architecture.

    Attributes
    ----------
    latent_layout:
        ``"regular"``, ``"irreps"`` or ``"vector"`` (see :mod:`eqlatent.models.field_actions`).
    """

    latent_layout: str = "vector"

    def __init__(self, lr: float = 1e-3, augment_rotations: bool = False) -> None:
        super().__init__()
        self.lr = lr
        self.augment_rotations = augment_rotations

    @abstractmethod
    def encode(self, x: Tensor) -> Tensor:
        """Latent of a batch of images ``[B, 1, 29, 29]``, in this encoder's ``latent_layout``."""

    @abstractmethod
    def classify(self, z: Tensor) -> Tensor:
        """Class logits ``[B, 10]`` from a latent."""

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.encode(x))

    def _augment(self, x: Tensor) -> Tensor:
        from eqlatent.data.rotation import rotate_images

        angles = torch.rand(x.shape[0], device=x.device) * (2 * math.pi)
        return rotate_images(x, angles)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        if self.augment_rotations:
            x = self._augment(x)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(-1) == y).float().mean()
        self.log_dict({"train/loss": loss, "train/acc": acc}, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log_dict({"val/loss": F.cross_entropy(logits, y), "val/acc": (logits.argmax(-1) == y).float().mean()},
                      prog_bar=True, on_epoch=True)

    def configure_optimizers(self) -> dict:
        # cosine decay over the whole run: the CPU profile trains for only ~100 steps, where a
        # decaying step size gives a clearly better end point than a constant one
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches)) if self._trainer is not None else 1
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=self.lr * 0.02)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
