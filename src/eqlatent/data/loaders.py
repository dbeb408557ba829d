"""DataLoaders over the in-memory tensors every study trains on.

Why a module of its own: both studies feed Lightning from tensors that were preprocessed
once and cached (``data/processed``), so loading a batch is a tensor index, not file I/O
or per-sample decoding.  Worker processes would only add inter-process copies for that;
they are worth it when per-sample work is added (then raise ``profile.loader.num_workers``).
What does matter on a GPU is pinned (page-locked) host memory, which makes the host to
device copy of each batch faster and asynchronous: ``pin_memory: auto`` turns it on
whenever CUDA is available.  ``make bench`` section (e) measures loading against a
training step.  A member that is not a tensor but a view made dense on use (the sparse
bonds of a sharded dataset, :class:`eqlatent.data.sparse_bonds.SparseBonds`) is made dense
one batch at a time, so an epoch over the whole MOSES set never holds its dense bonds.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from eqlatent.errors import ConfigError
from eqlatent.runtime.resume import EpochSeededSampler


def resolve_pin_memory(setting: Any) -> bool:
    """``"auto"`` -> pin when CUDA is available; otherwise the boolean given."""
    if isinstance(setting, str):
        if setting != "auto":
            raise ConfigError(f"profile.loader.pin_memory must be auto, true or false, got '{setting}'",
                              "set profile.loader.pin_memory=auto")
        return torch.cuda.is_available()
    return bool(setting)


class RowBatches(Dataset):
    """:class:`TensorDataset` over members that may be views made dense on use: one dense batch per fetch.

    The DataLoader hands ``__getitems__`` the indices of a whole batch (in the sampler's
    order), so each view densifies exactly that batch's rows; :func:`batch_as_is` then
    passes the batch on as the list default collation gives for a TensorDataset.
    """

    def __init__(self, *members) -> None:
        if any(len(m) != len(members[0]) for m in members):
            raise ValueError("every member needs the same number of rows")
        self.members = members

    def __len__(self) -> int:
        return len(self.members[0])

    def __getitem__(self, i: int) -> tuple:
        return tuple(m[i] for m in self.members)

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        rows = torch.as_tensor(indices, dtype=torch.long)
        return tuple(m[rows] if isinstance(m, Tensor) else m.dense(rows) for m in self.members)


def batch_as_is(batch: tuple[Tensor, ...]) -> list[Tensor]:
    """The collate function of :class:`RowBatches`: the batch is already stacked."""
    return list(batch)


def tensor_loader(tensors: tuple[Tensor, ...], batch_size: int, shuffle_seed: int | None = None,
                  loader_cfg: Any = None) -> DataLoader:
    """A DataLoader over ``tensors`` (same first dimension): shuffled if ``shuffle_seed`` is given, else in order.

    Shuffled orders depend on ``(shuffle_seed, epoch)`` only (:class:`eqlatent.runtime.resume.EpochSeededSampler`),
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
    if all(isinstance(t, Tensor) for t in tensors):
        dataset, collate = TensorDataset(*tensors), None
    else:   # a view made dense on use (sparse bonds): densified per batch
        dataset, collate = RowBatches(*tensors), batch_as_is
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=pin, persistent_workers=workers > 0, collate_fn=collate)
