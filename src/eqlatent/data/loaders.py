"""DataLoaders over the in-memory tensors every study trains on.

Why a module of its own: both studies feed Lightning from tensors that were preprocessed
once and cached (``data/processed``), so loading a batch is a tensor index, not file I/O
or per-sample decoding.  Worker processes would only add inter-process copies for that;
they are worth it when per-sample work is added (then raise ``profile.loader.num_workers``).
What does matter on a GPU is pinned (page-locked) host memory, which makes the host to
device copy of each batch faster and asynchronous: ``pin_memory: auto`` turns it on
whenever CUDA is available.  ``make bench`` section (e) measures loading against a
training step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from eqlatent.errors import ConfigError
from eqlatent.resume import EpochSeededSampler


def resolve_pin_memory(setting: Any) -> bool:
    """``"auto"`` -> pin when CUDA is available; otherwise the boolean given."""
    if isinstance(setting, str):
        if setting != "auto":
            raise ConfigError(f"profile.loader.pin_memory must be auto, true or false, got '{setting}'",
                              "set profile.loader.pin_memory=auto")
        return torch.cuda.is_available()
    return bool(setting)


def tensor_loader(tensors: tuple[Tensor, ...], batch_size: int, shuffle_seed: int | None = None,
                  loader_cfg: Any = None) -> DataLoader:
    """A DataLoader over ``tensors`` (same first dimension): shuffled if ``shuffle_seed`` is given, else in order.

    Shuffled orders depend on ``(shuffle_seed, epoch)`` only (:class:`eqlatent.resume.EpochSeededSampler`),
    so a run resumed from ``last.ckpt`` sees the same batches as an uninterrupted one.
    ``loader_cfg`` is the profile's ``loader`` block (``num_workers``, ``pin_memory``);
    None means the defaults (no workers, pinning when CUDA is available).
    """
    loader_cfg = loader_cfg if loader_cfg is not None else {}
    workers = int(loader_cfg.get("num_workers", 0))
    if workers < 0:
        raise ConfigError(f"profile.loader.num_workers must be >= 0, got {workers}", "set profile.loader.num_workers=0")
    pin = resolve_pin_memory(loader_cfg.get("pin_memory", "auto"))
    sampler = None if shuffle_seed is None else EpochSeededSampler(len(tensors[0]), int(shuffle_seed))
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=pin, persistent_workers=workers > 0)
