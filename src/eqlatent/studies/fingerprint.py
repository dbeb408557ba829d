"""Refuse to reuse a model folder trained with other settings; let more epochs continue it.

Why: both studies keep one folder per trained model (a VAE per latent size, an encoder per
name) so that a killed or repeated run resumes instead of retraining.  Reusing such a
folder is only right if it was trained with this run's settings, so each folder carries
``fingerprint.json``: a digest of the settings that shape the model (everything but the
number of epochs), the settings themselves (to name what changed) and the epochs.  A run
asking for more epochs is the one change that is safe: training continues from
``last.ckpt``.  What the Trainer changes about a step (DDP's world size, accumulation,
precision) is part of those settings (:func:`trainer_settings`) unless it is a plain
one-process run's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from eqlatent.errors import ConfigError
from eqlatent.runtime.io import atomic_write_json, settings_digest
from eqlatent.runtime.ranks import is_rank_zero

FILE = "fingerprint.json"


def training_fingerprint(settings: dict[str, Any], epochs: int) -> dict[str, Any]:
    """What ``fingerprint.json`` holds: the digest of ``settings``, the epochs, and the settings."""
    return {"train": settings_digest(settings), "epochs": int(epochs), "settings": settings}


def _changed(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    if "settings" not in stored:
        return ["not recorded in that folder"]
    before = stored["settings"]
    now = json.loads(json.dumps(now, default=str))  # as it would read back from the file
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k)) or ["unknown"]


def check_fingerprint(folder: Path, settings: dict[str, Any], epochs: int, what: str,
                      legacy_digest: str | None = None, derived: Sequence[Path] = ()) -> bool:
    """Compare ``folder/fingerprint.json`` with this run; returns True when training must continue.

    Same settings and epochs: reuse (False).  Same settings and more epochs: the file is
    updated and training continues from ``last.ckpt`` (True).  Other settings, or fewer
    epochs than the folder was trained for: a one-line :class:`ConfigError` naming what
    changed and the fix, instead of silently reusing a model trained differently.  A new
    folder is stamped with this run's fingerprint.

    ``what`` names the model in the message (``"a VAE"``, ``"encoder 'c8'"``).
    ``legacy_digest``: the digest an older ``fingerprint.json`` (settings and epochs in one
    digest, nothing else) holds for these settings and epochs; such a folder is accepted and
    its file rewritten in the current form.
    ``derived``: files made from the trained model (its latents).  When training must
    continue they are deleted *before* the new fingerprint is written, so no reader -- a
    re-run after a crash between the two steps, another rank -- ever finds the new
    fingerprint beside files of the shorter training.

    Only rank 0 writes or deletes (:func:`eqlatent.runtime.ranks.is_rank_zero`); the other
    ranks of a multi-device run get the same answer without touching the folder.
    """
    current = training_fingerprint(settings, epochs)
    fp_file = folder / FILE
    writer = is_rank_zero()
    if not fp_file.is_file():
        if writer:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(fp_file, current)
        return False
    stored = json.loads(fp_file.read_text())
    if "epochs" not in stored and legacy_digest is not None and stored.get("train") == legacy_digest:
        if writer:
            atomic_write_json(fp_file, current)
        return False
    fix = f"delete {folder} (or pick another seed / run_name) to retrain"
    if stored.get("train") != current["train"]:
        changed = _changed(stored, settings)
        raise ConfigError(f"{folder} holds {what} trained with other settings (changed: {', '.join(changed)})", fix)
    if int(stored.get("epochs", 0)) > current["epochs"]:
        raise ConfigError(f"{folder} holds {what} trained for {stored['epochs']} epochs, this run asks for "
                          f"{current['epochs']}", f"ask for >= {stored['epochs']} epochs or {fix}")
    if int(stored.get("epochs", 0)) < current["epochs"]:
        if writer:
            for path in derived:
                Path(path).unlink(missing_ok=True)
            atomic_write_json(fp_file, current)
        return True
    return False


#: How the Trainer changes each optimiser step, at the value of a one-process float32 run: left out of the
#: fingerprint at that value, so folders trained before these settings were recorded are still reused
NEUTRAL_TRAINER: dict[str, Any] = {"world_size": 1, "accumulate_grad_batches": 1, "precision": "32-true",
                                   "gradient_clip_val": 0.0, "limit_train_batches": 1.0}
#: Lightning's short spellings of a precision, and the one it runs
_PRECISION = {"32": "32-true", "16": "16-mixed", "bf16": "bf16-mixed", "64": "64-true"}


def world_size(trainer: Mapping[str, Any]) -> int:
    """Processes that share each step: devices per node x ``num_nodes``.

    ``devices`` as Lightning reads it: a count, a list or ``"0,1"`` string of device ids, or
    ``-1`` / ``"auto"`` (every visible GPU; one process on the CPU).
    """
    devices = trainer.get("devices", "auto")
    if isinstance(devices, (list, tuple)):
        count = len(devices)
    elif "," in str(devices):
        count = len([d for d in str(devices).split(",") if d.strip()])
    elif str(devices).strip() in ("-1", "auto"):
        on_cpu = str(trainer.get("accelerator") or "auto") == "cpu"
        count = 1 if on_cpu else torch.cuda.device_count()
    else:
        count = int(devices)
    return max(1, count) * int(trainer.get("num_nodes") or 1)


def trainer_settings(trainer: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the Trainer changes about each training step (for ``fingerprint.json``); empty for a plain run.

    Why: ``batch_size`` is per device, so N DDP processes (or N accumulated batches) train
    with N x batch_size samples a step; mixed precision, clipping or a part of each epoch
    train another model too.  A folder trained under DDP on N devices must not be reused by a
    one-device run of the same settings.  Each setting at its :data:`NEUTRAL_TRAINER` value
    is left out, so the settings of a one-process float32 run -- and the fingerprints of every
    folder trained before these were recorded -- are unchanged.
    """
    t = OmegaConf.to_container(trainer, resolve=True) if isinstance(trainer, DictConfig) else dict(trainer or {})
    clip = float(t.get("gradient_clip_val") or 0.0)
    limit = t.get("limit_train_batches")
    precision = str(t.get("precision") or 32)
    settings: dict[str, Any] = {
        "world_size": world_size(t),
        "accumulate_grad_batches": int(t.get("accumulate_grad_batches") or 1),
        "precision": _PRECISION.get(precision, precision),
        "gradient_clip_val": clip,
        # an int is a number of batches (1: one batch), a float a fraction of the epoch (1.0: all of it)
        "limit_train_batches": 1.0 if limit is None else limit,
    }
    if clip:
        settings["gradient_clip_algorithm"] = str(t.get("gradient_clip_algorithm") or "norm")
    if settings["world_size"] > 1:   # how the processes share a step
        settings["sync_batchnorm"] = bool(t.get("sync_batchnorm", False))
        settings["use_distributed_sampler"] = bool(t.get("use_distributed_sampler", True))
    neutral = {k for k, v in settings.items() if type(v) is type(NEUTRAL_TRAINER.get(k)) and v == NEUTRAL_TRAINER[k]}
    return {k: v for k, v in settings.items() if k not in neutral}
