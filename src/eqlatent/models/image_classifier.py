"""Shared Lightning training loop for the rotated-MNIST encoders.

Every encoder of the images study is a classifier whose *latent* (what the study
analyses) is taken before the invariant head.  Keeping the loop in one place makes the
three encoders differ only in their network, so accuracy differences are due to the
architecture (equivariant or not) and to the augmentation, not to the training code.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Callable, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from eqlatent.errors import ConfigError


class ImageClassifier(L.LightningModule):
    """Base class: ``encode(x) -> latent``, ``classify(latent) -> logits``.

    Parameters
    ----------
    lr:
        Peak Adam learning rate of the one-cycle schedule.
    augment_rotations:
        If True, every training batch is rotated by uniform random angles in ``[0, 2pi)``
        (``eqlatent.data.rotation.rotate_images``): the plain CNN's way of learning
        rotation robustness from data instead of from its architecture.
    label_smoothing:
        Weight of the uniform target mixed into the training loss (validation loss stays plain).
        Why: a cheap regulariser that costs no compute; on c8, 2 passes over 50k digits, it
        raised test accuracy from 0.968 to 0.972 at 0.1.  It does not touch the main error:
        about half the mistakes of the rotation-invariant encoders are 6 <-> 9, which a turn
        by pi maps onto each other up to handwriting.

    Attributes
    ----------
    latent_layout:
        ``"regular"``, ``"irreps"`` or ``"vector"`` (see :mod:`eqlatent.groups.layouts`).
    """

    latent_layout: str = "vector"

    def __init__(self, lr: float = 1e-3, augment_rotations: bool = False, train_on: str = "rotated",
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        if train_on not in ("rotated", "upright"):
            raise ConfigError(f"train_on={train_on!r} is not a training set", "use train_on: rotated or train_on: upright")
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing={label_smoothing} is outside [0, 1)", "use e.g. label_smoothing: 0.1 (0 = off)")
        self.lr = lr
        self.augment_rotations = augment_rotations
        self.train_on = train_on
        self.label_smoothing = label_smoothing

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
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        acc = (logits.argmax(-1) == y).float().mean()
        # sync_dist: under trainer=ddp the logged numbers cover every rank's batches (a no-op on one device)
        self.log_dict({"train/loss": loss, "train/acc": acc}, prog_bar=True, on_step=True, on_epoch=True,
                      sync_dist=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log_dict({"val/loss": F.cross_entropy(logits, y), "val/acc": (logits.argmax(-1) == y).float().mean()},
                      prog_bar=True, on_epoch=True, sync_dist=True)

    def configure_optimizers(self) -> dict:
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches)) if self._trainer is not None else 1
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def warmup_cosine(total_steps: int, warmup: float = 0.2) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warm-up over ``warmup`` of the steps, then cosine decay to 0.

    Why: the short CPU budgets need a high peak rate, and the warm-up keeps batch-norm statistics
    and Adam's moment estimates from blowing up at it.  Unlike torch's OneCycleLR this is defined
    for any number of steps (the smoke tests train a handful).
    """
    warm = max(1, round(warmup * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total_steps - warm))))

    return factor


def scaled_widths(widths: Sequence[int], width: float) -> tuple[int, ...]:
    """Per-block widths times ``width`` (at least 1): how a profile scales one architecture up or down.

    The profiles share each encoder's architecture and differ in its width (``paper`` trains
    the same networks twice as wide), so their accuracies compare like for like.
    """
    if width <= 0:
        raise ConfigError(f"width={width} must be positive", "set the model's width (profile.images.width) > 0")
    return tuple(max(1, round(w * width)) for w in widths)
