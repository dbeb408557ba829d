"""Fit one model with Lightning in a folder of its own -- or reuse it -- and get its latents: the studies' one way.

Why shared: every study trains one or more models (a VAE per latent size, an encoder per
group) the same way -- its checkpoints, CSV log and wandb run in the model's own folder,
a killed run continued from the last finished epoch, the loggers closed even when fit()
fails -- and then needs the model's latents, which a finished folder already holds.  The
studies say *what* to fit and how to encode (model, loaders, epochs, splits); this module says
*how*: :func:`fit_or_reuse` (the folder's fingerprint checked, its latents reused or the model
fitted, resuming) then :func:`latents_of` (the reused latents, or the model's, encoded now and
saved atomically in ``<folder>/latents.pt``), and :func:`fit_in_folder` for the fit itself.

More than one device (``trainer=ddp``): Lightning's ``ddp`` strategy starts the other
ranks at the first ``fit()`` by re-running the same command, so every rank runs the whole
study function.  A fit is collective (every rank must enter it, in the same order), so a
study first fits every model on all ranks; then the other ranks stop and rank 0 alone
(:func:`~eqlatent.runtime.ranks.is_rank_zero`) encodes, analyses and writes.  Before that, the other ranks only
read the model folders (a fingerprint, a checkpoint), never write them.  Batch norms are
synchronised across ranks with :class:`eqlatent.models.sync_batchnorm.EquivariantSyncBatchNorm`
(``trainer.sync_batchnorm``), which escnn models survive.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import hydra
import torch
from lightning.pytorch import LightningModule, seed_everything
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.utils.data import DataLoader

from eqlatent.models.sync_batchnorm import EquivariantSyncBatchNorm
from eqlatent.runtime.console import set_matmul_precision
from eqlatent.runtime.epoch_report import EpochReport
from eqlatent.runtime.io import atomic_torch_save
from eqlatent.runtime.loggers import finish_loggers, log_config, make_callbacks, make_loggers
from eqlatent.runtime.resume import TrainingClock
from eqlatent.studies.fingerprint import check_fingerprint

log = logging.getLogger(__name__)

#: the file of a model folder that holds the model's latents (written once the model is trained)
LATENTS_FILE = "latents.pt"


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
        # not config callbacks: the seconds are reported, and each epoch logged, even with callbacks=none
        clock = TrainingClock()
        if sub.trainer.get("sync_batchnorm"):
            # Lightning's own conversion rebuilds escnn's SequentialModule (refused) and needs CUDA tensors
            extra["plugins"] = [*(hydra.utils.instantiate(sub.trainer.get("plugins")) or []),
                                EquivariantSyncBatchNorm()]
        trainer = hydra.utils.instantiate(sub.trainer, default_root_dir=str(folder), logger=loggers or False,
                                          callbacks=[*make_callbacks(sub), clock, EpochReport(what)],
                                          **extra)
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


@dataclass
class Fitted:
    """A model folder after the training phase of a study: the model, and whether its latents are there already.

    ``model``: trained (or finished) now, or loaded from the folder for a study that needs it beside
    reused latents (None when it does not); ``train_seconds``: the training of this fit, its earlier
    killed parts included (0 when reused); ``reused``: the folder's latents file is this model's, so
    :func:`latents_of` reads it instead of encoding; ``latents``: that file, when the reuse check read it;
    ``earlier_seconds``: training this run did not do itself -- the whole training of a reused model, the
    epochs an earlier, killed attempt left in the checkpoint a fit resumed from (:func:`checkpoint_seconds`).
    """

    folder: Path
    model: LightningModule | None = None
    train_seconds: float = 0.0
    reused: bool = False
    latents: dict[str, Any] | None = None
    earlier_seconds: float = 0.0

    @property
    def trained(self) -> bool:
        """Whether this run fitted the model (False: reused as it was)."""
        return not self.reused


def fit_or_reuse(folder: Path, settings: dict[str, Any], epochs: int, what: str,
                 fit: Callable[[], tuple[LightningModule, float]], *,
                 cached: Callable[[Path], dict[str, Any] | None] | None = None,
                 load: Callable[[Path], LightningModule] | None = None,
                 legacy_digest: str | None = None) -> Fitted:
    """The training phase of one model folder: reuse what it holds, else ``fit()`` (which resumes from ``last.ckpt``).

    The folder's ``fingerprint.json`` is checked first (:func:`eqlatent.studies.fingerprint.check_fingerprint`:
    other settings are refused in one line; more epochs continue the training and drop the folder's
    latents, which a shorter training made).  The latents are reused when the file is there and
    ``cached(path)`` returns them (default: the file is enough; it is read by :func:`latents_of`), and,
    when ``load`` is given (the study needs the model too), the folder's ``last.ckpt`` loads.

    A fit starts from ``settings["seed"]`` (python, numpy, torch), whatever ran before it in the process.

    ``what`` names the model in messages (``"a VAE"``, ``"encoder 'c8'"``); ``legacy_digest`` as for
    ``check_fingerprint``.  Under ``trainer=ddp`` every rank calls this for every model in the same
    order (a fit is collective); the decision reads files only rank 0 writes, so all ranks decide alike.
    """
    path = folder / LATENTS_FILE
    more_epochs = check_fingerprint(folder, settings, epochs, what, legacy_digest=legacy_digest, derived=[path])
    if not more_epochs and path.is_file() and (load is None or last_checkpoint(folder).is_file()):
        latents = cached(path) if cached is not None else None
        if cached is None or latents is not None:
            log.info("%s: reusing %s", what, path if load is None else last_checkpoint(folder))
            return Fitted(folder, load(folder) if load is not None else None, reused=True, latents=latents,
                          earlier_seconds=checkpoint_seconds(folder))
    if "seed" in settings:
        # every fit starts from the run's seed: a model's initial weights never depend on which other
        # models this process trained or reused before it, so a resumed run trains what a fresh one would
        # (the ZINC VAE at d = 4, trained third in one process, rebuilt 1.7 % of test molecules; trained
        # first from the same seed, 39 %)
        seed_everything(int(settings["seed"]), workers=True, verbose=False)
    earlier = checkpoint_seconds(folder)     # a killed attempt's epochs, which fit() resumes from
    model, seconds = fit()
    return Fitted(folder, model, seconds, earlier_seconds=earlier)


def checkpoint_seconds(folder: Path) -> float:
    """Training seconds the folder's ``last.ckpt`` holds (:class:`~eqlatent.runtime.resume.TrainingClock`); 0 without one.

    Why: a study's wall time should say what its results cost.  A run that resumed a killed
    attempt, or reused a model trained before, did part of that training in another process;
    the studies add these seconds to their own (:meth:`eqlatent.studies.skeleton.StudyRun.add_earlier`).
    """
    last = last_checkpoint(folder)
    if not last.is_file():
        return 0.0
    # our own checkpoint: it also holds RNG states (numpy arrays), which weights_only=True refuses
    checkpoint = torch.load(last, map_location="cpu", weights_only=False, mmap=True)
    return float(checkpoint.get(TrainingClock.KEY, 0.0))


def latents_of(fitted: Fitted, encode: Callable[[LightningModule], dict[str, Any]],
               check: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The latents of a fitted model: the folder's (``check`` may refuse them in one line), or encoded now and saved.

    Encoding happens on rank 0 only (after every rank's fits); the file is written atomically, so a
    killed run never leaves half of it.
    """
    path = fitted.folder / LATENTS_FILE
    if fitted.reused:
        saved = fitted.latents if fitted.latents is not None else torch.load(path, map_location="cpu",
                                                                             weights_only=False)
        if check is not None:
            check(saved)
        return saved
    out = encode(fitted.model)
    atomic_torch_save(out, path)
    return out
