"""What makes a resumed run finish exactly like an uninterrupted one.

Two sources of randomness survive a restart differently from an uninterrupted run:

* the shuffle order: a ``DataLoader(shuffle=True, generator=...)`` restarts its
  generator, so a run resumed at epoch k would replay epoch 0's order.
  :class:`EpochSeededSampler` draws epoch k's order from ``seed + k`` (Lightning calls
  ``set_epoch`` on it before every epoch), so the order depends on the epoch only;
* the global RNGs (dropout, the VAE's reparameterisation noise, augmentation angles):
  :class:`RngStateCheckpoint` stores torch (CPU and the current CUDA device) / numpy /
  python RNG states in every checkpoint and restores them when training resumes from it.
  On a GPU the VAE's noise comes from the CUDA generator: without its state a resumed
  run would draw epoch 0's noise again, from the seed.

With both, a run killed after epoch k and resumed from ``last.ckpt`` ends with the same
weights and metrics as a run that was never interrupted: exactly on CPU, and on a GPU
with deterministic kernels (``trainer.deterministic``) within the tolerance the GPU tests
state.  :class:`TrainingClock` does the same for the training time a results table
reports: the seconds of the earlier, killed run travel in the checkpoint, so a resumed
model reports its whole training.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable, Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import Sampler


class EpochSeededSampler(Sampler[int]):
    """A random permutation of ``range(n)`` that depends only on ``(seed, epoch)``."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = int(n), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before each training epoch."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=gen).tolist())

    def __len__(self) -> int:
        return self.n


class RngStateCheckpoint(L.Callback):
    """Save the global RNG states with every checkpoint; restore them on resume.

    The CUDA state is that of the current device (each DDP process has its own and
    draws alike), saved when CUDA is in use and restored where CUDA is available.
    """

    KEY = "eqlatent_rng_states"

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        # tensors and plain Python values only, so torch.load(weights_only=True) accepts the checkpoint
        checkpoint[self.KEY] = {"torch": torch.get_rng_state(),
                                "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
                                "python": random.getstate(),
                                "cuda": torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None}

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get(self.KEY)
        if states is None:  # a checkpoint from before this callback existed: nothing to restore
            return
        torch.set_rng_state(states["torch"])
        kind, keys, pos, has_gauss, cached = states["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
        random.setstate(states["python"])
        if states.get("cuda") is not None and torch.cuda.is_available():  # older checkpoints have no CUDA state
            torch.cuda.set_rng_state(states["cuda"])


class TrainingClock(L.Callback):
    """Training seconds of a model summed over the fits that trained it (resumed ones included).

    Why: a run killed after epoch k and resumed from ``last.ckpt`` would otherwise report
    only the time of its last part.  Every checkpoint stores the seconds spent up to it;
    a fit resumed from one starts counting from there.  The partial epoch a crash lost is
    not counted: it produced nothing the model kept.  ``clock`` is injectable for tests.
    """

    KEY = "eqlatent_training_seconds"

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.before = 0.0            # seconds of the earlier fits, from the checkpoint resumed from
        self.started: float | None = None
        self.ended: float | None = None

    @property
    def seconds(self) -> float:
        """The earlier fits plus this one (up to now while it runs, up to its end after)."""
        if self.started is None:
            return self.before
        return self.before + ((self.clock() if self.ended is None else self.ended) - self.started)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started, self.ended = self.clock(), None

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.ended = self.clock()

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[self.KEY] = float(self.seconds)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        self.before = float(checkpoint.get(self.KEY, 0.0))  # 0 for a checkpoint from before this clock existed
