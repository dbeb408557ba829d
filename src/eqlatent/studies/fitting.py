"""Fit one model with Lightning in a folder of its own, resuming from that folder's ``last.ckpt``.

Why shared: every study trains one or more models (a VAE per latent size, an encoder per
group) the same way -- its checkpoints, CSV log and wandb run in the model's own folder,
a killed run continued from the last finished epoch, the loggers closed even when fit()
fails.  The studies say *what* to fit (model, loaders, epochs); this module says *how*.

More than one device (``trainer=ddp``): Lightning's ``ddp`` strategy starts the other
ranks at the first ``fit()`` by re-running the same command, so every rank runs the whole
study function.  A fit is collective (every rank must enter it, in the same order), so a
study first fits every model on all ranks; then the other ranks stop and rank 0 alone
(:func:`is_rank_zero`) encodes, analyses and writes.  Before that, the other ranks only
read the model folders (a fingerprint, a checkpoint), never write them.  Batch norms are
synchronised across ranks with :class:`eqlatent.models.sync_batchnorm.EquivariantSyncBatchNorm`
(``trainer.sync_batchnorm``), which escnn models survive.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import hydra
import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.utils.data import DataLoader

from eqlatent.runtime.console import set_matmul_precision
from eqlatent.runtime.loggers import finish_loggers, log_config, make_callbacks, make_loggers
from eqlatent.models.sync_batchnorm import EquivariantSyncBatchNorm
from eqlatent.runtime.resume import TrainingClock

log = logging.getLogger(__name__)


def is_rank_zero() -> bool:
    """True in the process that analyses and writes: rank 0 of a multi-device run, or the only process.

    Lightning sets the rank of the processes it starts (``LOCAL_RANK``) before they import
    anything, so this holds before the first fit too.
    """
    return rank_zero_only.rank == 0


def folder_config(cfg: DictConfig, folder: Path, model_name: str) -> DictConfig:
    """A copy of ``cfg`` writing into ``folder`` (checkpoints, CSV, wandb) for the model ``model_name``.

    Its wandb run is named ``<task>-<run>-<model_name>``, so the runs of one study group by
    name.  The ``hydra`` node is dropped: it only resolves inside a Hydra job (not in tests or the API).
    """
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra", None)
    sub = OmegaConf.create(container)
    with open_dict(sub):
        sub.paths.output_dir = str(folder)
        wandb_cfg = (sub.get("logger") or {}).get("wandb")
        if wandb_cfg is not None:
            wandb_cfg.name = f"{cfg.task_name}-{cfg.run_name}-{model_name}"
    return sub


def last_checkpoint(folder: Path) -> Path:
    """Where the model trained in ``folder`` keeps its latest epoch (what a re-run resumes from)."""
    return folder / "checkpoints" / "last.ckpt"


def fit_in_folder(sub: DictConfig, model: LightningModule, train: DataLoader, val: DataLoader,
                  max_epochs: int | None = None, what: str = "model") -> tuple[LightningModule, float]:
    """Train ``model`` with ``sub``'s trainer, loggers and callbacks; returns it in eval mode.

    Also returns its training seconds, summed over every fit that trained it
    (:class:`eqlatent.runtime.resume.TrainingClock`): a resumed model reports its whole training.

    ``sub`` comes from :func:`folder_config`.  If the folder holds a ``last.ckpt``, training
    resumes from it (weights, optimiser, schedule, RNG states), so only the missing epochs
    run; afterwards the weights of the last finished epoch are loaded, also when fit() found
    nothing left to do.

    The config's ``matmul_precision`` is applied here, at the one door every fit passes: the
    studies' fits, the paper profile's side-by-side fits in spawned processes (which do not run
    :func:`eqlatent.cli.run.run_study`) and ``paper_check``'s.
    """
    set_matmul_precision(str(sub.get("matmul_precision", "highest")))
    folder = Path(sub.paths.output_dir)
    last = last_checkpoint(folder)
    resuming = last.is_file()
    extra = {} if max_epochs is None else {"max_epochs": int(max_epochs)}
    loggers = make_loggers(sub)
    try:
        log_config(loggers, sub)
        clock = TrainingClock()  # not a config callback: the seconds are reported even with callbacks=none
        if sub.trainer.get("sync_batchnorm"):
            # Lightning's own conversion rebuilds escnn's SequentialModule (refused) and needs CUDA tensors
            extra["plugins"] = [*(hydra.utils.instantiate(sub.trainer.get("plugins")) or []),
                                EquivariantSyncBatchNorm()]
        trainer = hydra.utils.instantiate(sub.trainer, default_root_dir=str(folder), logger=loggers or False,
                                          callbacks=[*make_callbacks(sub), clock], **extra)
        with warnings.catch_warnings():
            if resuming:
                log.info("%s: resuming from %s", what, last)
                # the folder holds this model's own earlier epochs: that is what resuming means, not a clash
                warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            # our own checkpoint: it also holds RNG states (numpy arrays), which weights_only=True refuses
            trainer.fit(model, train, val, ckpt_path=str(last) if resuming else None,
                        weights_only=False if resuming else None)
    finally:
        finish_loggers(loggers)
    if last.is_file():   # written by this fit, or by the earlier one it resumed
        model.load_state_dict(torch.load(last, map_location="cpu", weights_only=False)["state_dict"])
    return model.eval(), clock.seconds
