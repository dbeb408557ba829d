"""Train each image encoder (resumable) and extract its latents once (cached).

Why a cache: training and encoding dominate the study's run time, while projections,
metrics and figures are cheap and change often.  Each encoder gets its own folder
``<output_dir>/<encoder>/`` holding ``checkpoints/last.ckpt`` (a killed run resumes from
it), ``latents.pt`` (a finished encoder is not retrained or re-encoded) and
``fingerprint.json`` (the settings it was trained with; other settings are refused, more
epochs continue the training).

Latents are stored per split and per layout (``latents[split][layout]``):

* ``train`` / ``train_upright``: the first ``n_probe_train`` training digits, rotated / upright;
* ``test``: the rotated test digits; ``test_upright`` for accuracy on upright digits;
* ``inv``: the first ``n_invariance`` test digits rotated by their own angle plus a seeded
  random angle (``inv_angles``), in one interpolation step from the upright digit;
  ``inv90``: the same test digits turned by exactly pi/2;
* the plain CNN also has layout ``orbit``: its latents of ``orbit_copies`` rotated
  copies of every input (for orbit averaging and its quotient distances).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from rich.progress import track
from torch import Tensor

from eqlatent.data.loaders import tensor_loader
from eqlatent.data.rotation import rotate_images
from eqlatent.models.image_classifier import ImageClassifier
from eqlatent.runtime.io import settings_digest
from eqlatent.studies.fingerprint import trainer_settings
from eqlatent.studies.fitting import Fitted, fit_in_folder, fit_or_reuse, folder_config, latents_of

log = logging.getLogger(__name__)

CACHE_VERSION = 2


def epochs_for(cfg: DictConfig, name: str) -> int:
    """Training epochs of encoder ``name``: ``images.epochs_by_encoder[name]``, else ``images.epochs``.

    ``images.epochs`` is ``trainer.max_epochs`` (configs/experiment/images.yaml), which is the
    profile's ``images.epochs`` unless set, so ``trainer.max_epochs=N`` sets the epochs of both
    studies; the trainer is handed this number, since its own ``max_epochs`` cannot differ per encoder.

    Why per encoder: the plain CNN must learn rotation invariance from augmented data and
    costs a fraction of an escnn forward pass, so the profiles give it more epochs in the
    same wall time instead of starving it at the steerable CNNs' count.
    """
    icfg = cfg.images
    return int((icfg.get("epochs_by_encoder") or {}).get(name, icfg.epochs))


def train_encoder(cfg: DictConfig, name: str, model_cfg: DictConfig, data: Any,
                  enc_dir: Path) -> tuple[ImageClassifier, float]:
    """Fit one encoder with Lightning in ``enc_dir``, resuming from its ``last.ckpt`` when present.

    Returns the model and its training seconds, a resumed run's earlier part included.
    """
    enc_cfg = folder_config(cfg, enc_dir, name)
    model: ImageClassifier = hydra.utils.instantiate(model_cfg, _convert_="all")
    bs = int(cfg.images.batch_size)
    loader_cfg = cfg.profile.get("loader")
    images = data.train.upright if model.train_on == "upright" else data.train.images
    train = tensor_loader((images, data.train.labels), bs, int(cfg.seed), loader_cfg)
    val = tensor_loader((data.val.images, data.val.labels), 512, None, loader_cfg)
    return fit_in_folder(enc_cfg, model, train, val, max_epochs=epochs_for(cfg, name), what=name)


@torch.no_grad()
def encode(model: ImageClassifier, images: Tensor, batch_size: int = 512, desc: str = "") -> tuple[Tensor, Tensor]:
    """Latents and logits of ``images`` in eval mode, batched."""
    device = next(model.parameters()).device
    zs, logits = [], []
    for s in track(range(0, len(images), batch_size), description=desc or "encoding", transient=True):
        z = model.encode(images[s:s + batch_size].to(device))
        zs.append(z.cpu())
        logits.append(model.classify(z).cpu())
    return torch.cat(zs), torch.cat(logits)


def rotated(upright: Tensor, angles: Tensor) -> Tensor:
    """``upright`` digits rotated by ``angles`` in one interpolation step, clamped to [0, 1] like the dataset.

    Rotating the upright digit once (instead of rotating an already rotated image again)
    keeps every image equally blurred by bilinear interpolation, so invariance errors
    measure the encoder, not accumulated resampling.
    """
    return rotate_images(upright, angles).clamp_(0.0, 1.0)


@torch.no_grad()
def encode_orbit(model: ImageClassifier, upright: Tensor, copies: int, angles: Tensor | None = None,
                 desc: str = "") -> Tensor:
    """``[n, M, F]``: latents of the digits rotated by ``angles + 2 pi m / M`` for ``m = 0..M-1``.

    ``angles`` defaults to 0, i.e. the copies of ``upright`` itself; quarter turns of it are exact.
    """
    base = torch.zeros(len(upright)) if angles is None else angles.to(torch.float64)
    out = []
    for m in range(copies):
        images = rotated(upright, base + 2 * math.pi * m / copies)
        out.append(encode(model, images, desc=f"{desc} copy {m + 1}/{copies}")[0])
    return torch.stack(out, dim=1)


def _subset(n: int, total: int) -> int:
    return total if n <= 0 else min(n, total)


def extract_latents(cfg: DictConfig, model: ImageClassifier, data: Any, name: str) -> dict[str, Any]:
    """Encode every split the analysis needs (see module docstring); also the test accuracies."""
    icfg = cfg.images
    n_tr = _subset(int(icfg.n_probe_train), len(data.train))
    n_inv = _subset(int(icfg.n_invariance), len(data.test))
    gen = torch.Generator().manual_seed(int(cfg.seed) + 17)
    inv_angles = torch.rand(n_inv, generator=gen) * (2 * math.pi)
    zeros = torch.zeros(len(data.test))
    # split -> (upright digits, their rotation angles); "train"/"test" are exactly the dataset's images
    specs = {
        "train": (data.train.upright[:n_tr], data.train.angles[:n_tr]),
        "train_upright": (data.train.upright[:n_tr], torch.zeros(n_tr)),
        "test": (data.test.upright, data.test.angles),
        "test_upright": (data.test.upright, zeros),
        "inv": (data.test.upright[:n_inv], data.test.angles[:n_inv] + inv_angles),
    }
    images = {"train": data.train.images[:n_tr], "test": data.test.images,
              "train_upright": data.train.upright[:n_tr], "test_upright": data.test.upright,
              "inv": rotated(*specs["inv"]), "inv90": torch.rot90(data.test.images[:n_inv], 1, dims=(-2, -1))}
    latents: dict[str, dict[str, Tensor]] = {}
    accuracy = {}
    for split, x in images.items():
        z, logits = encode(model, x, desc=f"{name}: {split}")
        latents[split] = {model.latent_layout: z}
        if split in ("test", "test_upright"):
            accuracy[split] = float((logits.argmax(-1) == data.test.labels).float().mean())
        if model.latent_layout == "vector" and split in specs and split != "test_upright":
            latents[split]["orbit"] = encode_orbit(model, specs[split][0], int(icfg.orbit_copies), specs[split][1],
                                                   desc=f"{name}: {split}")
    if model.latent_layout == "vector":
        # orbit of the quarter-turned test digits: bilinear rotation commutes with rot90 on the odd grid,
        # so its copies are the test copies shifted by M/4 when 4 | M (orbit projections exactly invariant)
        x90 = torch.rot90(data.test.upright[:n_inv], 1, dims=(-2, -1))
        latents["inv90"]["orbit"] = encode_orbit(model, x90, int(icfg.orbit_copies), data.test.angles[:n_inv],
                                                 desc=f"{name}: inv90")
    return {
        "version": CACHE_VERSION,
        "encoder": name,
        "layout": model.latent_layout,
        "latents": latents,
        "labels": {"train": data.train.labels[:n_tr], "test": data.test.labels},
        "angles": {"train": data.train.angles[:n_tr], "test": data.test.angles, "inv": inv_angles},
        "accuracy": accuracy,
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "sizes": {"n_train": len(data.train), "n_probe_train": n_tr, "n_test": len(data.test), "n_invariance": n_inv},
    }


def training_settings(cfg: DictConfig, model_cfg: DictConfig) -> dict[str, Any]:
    """What changes a trained encoder, except the number of epochs (which may grow)."""
    settings = {"model": OmegaConf.to_container(model_cfg, resolve=True),
                "data": OmegaConf.to_container(cfg.data, resolve=True),
                "batch_size": int(cfg.images.batch_size), "seed": int(cfg.seed)}
    # DDP's world size, accumulation, precision...: only those away from a one-process run's (older folders reused)
    step = trainer_settings(cfg.get("trainer"))
    return {**settings, "trainer": step} if step else settings


def cache_digests(cfg: DictConfig, name: str, model_cfg: DictConfig) -> tuple[str, str]:
    """(training, extraction) digests: training settings and epochs / what a latents file was made with.

    The training digest is also what an older ``fingerprint.json`` held (settings and epochs
    in one digest); the extraction digest changes with it, so more epochs re-encode.
    """
    icfg = cfg.images
    train = {**training_settings(cfg, model_cfg), "epochs": epochs_for(cfg, name)}
    extract = {"train": settings_digest(train), "n_probe_train": int(icfg.n_probe_train),
               "n_invariance": int(icfg.n_invariance), "orbit_copies": int(icfg.orbit_copies), "version": CACHE_VERSION}
    return settings_digest(train), settings_digest(extract)


def train_or_reuse(cfg: DictConfig, name: str, model_cfg: DictConfig, data: Any, out_dir: Path) -> Fitted:
    """The training phase of encoder ``name`` (:func:`eqlatent.studies.fitting.fit_or_reuse`): its cached latents, or trained.

    A finished encoder folder is reused only if it was made with the same model, data,
    batch size and seed (``fingerprint.json``, :mod:`eqlatent.studies.fingerprint`); a folder
    from another config is an error rather than silently mixed results, and more epochs
    continue its training from ``last.ckpt``.  Its latents are reused when they were extracted
    with this training and these extraction settings (:func:`cache_digests`); if only the
    extraction settings changed, the checkpoint is loaded without training (``fit`` finds the
    epochs done) and the latents are re-encoded by :func:`encode_and_cache`.
    """
    fp_train, fp_extract = cache_digests(cfg, name, model_cfg)

    def cached(path: Path) -> dict[str, Any] | None:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        return saved if saved.get("fingerprint") == fp_extract else None

    def fit() -> tuple[ImageClassifier, float]:
        log.info("%s: training (%d epochs) then encoding", name, epochs_for(cfg, name))
        return train_encoder(cfg, name, model_cfg, data, enc_dir)

    enc_dir = out_dir / name
    return fit_or_reuse(enc_dir, training_settings(cfg, model_cfg), epochs_for(cfg, name), f"encoder '{name}'", fit,
                        cached=cached, legacy_digest=fp_train)


def encode_and_cache(cfg: DictConfig, name: str, fitted: Fitted, data: Any) -> dict[str, Any]:
    """The latents of encoder ``name`` (:func:`eqlatent.studies.fitting.latents_of`): cached, or encoded now and saved."""
    _, fp_extract = cache_digests(cfg, name, cfg.model[name])

    def encode(model: ImageClassifier) -> dict[str, Any]:
        if torch.cuda.is_available() and str(cfg.trainer.get("accelerator", "auto")) in ("auto", "gpu", "cuda"):
            model = model.cuda()  # Lightning hands the model back on the CPU; encode on the GPU it trained on
        result = extract_latents(cfg, model, data, name)
        result.update(fingerprint=fp_extract, train_seconds=fitted.train_seconds, epochs=epochs_for(cfg, name),
                      train_on=model.train_on)
        return result

    return latents_of(fitted, encode)
