"""Train each image encoder (resumable) and extract its latents once (cached).

Why a cache: training and encoding dominate the study's run time, while projections,
metrics and figures are cheap and change often.  Each encoder gets its own folder
``<output_dir>/<encoder>/`` holding ``checkpoints/last.ckpt`` (a killed run resumes from
it) and ``latents.pt`` (a finished encoder is not retrained or re-encoded).

Latents are stored per split and per layout (``latents[split][layout]``):

* ``train`` / ``train_upright``: the first ``n_probe_train`` training digits, rotated / upright;
* ``test``: the rotated test digits; ``test_upright`` for accuracy on upright digits;
* ``inv``: the first ``n_invariance`` test digits rotated once more by a seeded random
  angle (``inv_angles``), ``inv90``: the same digits turned by exactly pi/2;
* the plain CNN also has layout ``orbit``: its latents of ``orbit_copies`` rotated
  copies of every input (for orbit averaging and its quotient distances).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.progress import track
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from eqlatent.data.rotation import rotate_images
from eqlatent.io import atomic_torch_save
from eqlatent.loggers import finish_loggers, log_config, make_callbacks, make_loggers
from eqlatent.models.image_classifier import ImageClassifier

LATENTS_FILE = "latents.pt"
CACHE_VERSION = 1


def encoder_config(cfg: DictConfig, name: str, enc_dir: Path) -> DictConfig:
    """A copy of ``cfg`` whose ``paths.output_dir`` (checkpoints, CSV, wandb) is the encoder's own folder."""
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra", None)
    enc_cfg = OmegaConf.create(container)
    with open_dict(enc_cfg):
        enc_cfg.paths.output_dir = str(enc_dir)
        wandb_cfg = (enc_cfg.get("logger") or {}).get("wandb")
        if wandb_cfg is not None:
            wandb_cfg.name = f"{cfg.task_name}-{cfg.run_name}-{name}"
    return enc_cfg


def _loader(images: Tensor, labels: Tensor, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=shuffle, generator=gen)


def train_encoder(cfg: DictConfig, name: str, model_cfg: DictConfig, data: Any, enc_dir: Path) -> ImageClassifier:
    """Fit one encoder with Lightning, resuming from ``enc_dir/checkpoints/last.ckpt`` when present."""
    enc_cfg = encoder_config(cfg, name, enc_dir)
    model: ImageClassifier = hydra.utils.instantiate(model_cfg, _convert_="all")
    loggers = make_loggers(enc_cfg)
    log_config(loggers, enc_cfg)
    trainer = hydra.utils.instantiate(enc_cfg.trainer, default_root_dir=str(enc_dir), logger=loggers,
                                      callbacks=make_callbacks(enc_cfg), max_epochs=int(cfg.profile.images.epochs))
    bs = int(cfg.profile.images.batch_size)
    ckpt = enc_dir / "checkpoints" / "last.ckpt"
    try:
        trainer.fit(model, _loader(data.train.images, data.train.labels, bs, True, int(cfg.seed)),
                    _loader(data.val.images, data.val.labels, 512, False, 0),
                    ckpt_path=str(ckpt) if ckpt.is_file() else None)
    finally:
        finish_loggers(loggers)
    if ckpt.is_file():  # weights of the last finished epoch, also when fit() found nothing left to do
        model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"])
    return model.eval()


@torch.no_grad()
def encode(model: ImageClassifier, images: Tensor, batch_size: int = 512, desc: str = "") -> tuple[Tensor, Tensor]:
    """Latents and logits of ``images`` in eval mode, batched."""
    zs, logits = [], []
    for s in track(range(0, len(images), batch_size), description=desc or "encoding", transient=True):
        z = model.encode(images[s:s + batch_size])
        zs.append(z)
        logits.append(model.classify(z))
    return torch.cat(zs), torch.cat(logits)


@torch.no_grad()
def encode_orbit(model: ImageClassifier, images: Tensor, copies: int, desc: str = "") -> Tensor:
    """``[n, M, F]``: latents of ``images`` rotated by ``2 pi m / M`` for ``m = 0..M-1``."""
    out = []
    for m in range(copies):
        rotated = images if m == 0 else rotate_images(images, torch.full((len(images),), 2 * math.pi * m / copies))
        out.append(encode(model, rotated, desc=f"{desc} copy {m + 1}/{copies}")[0])
    return torch.stack(out, dim=1)


def _subset(n: int, total: int) -> int:
    return total if n <= 0 else min(n, total)


def extract_latents(cfg: DictConfig, model: ImageClassifier, data: Any, name: str) -> dict[str, Any]:
    """Encode every split the analysis needs (see module docstring); also the test accuracies."""
    icfg = cfg.profile.images
    n_tr = _subset(int(icfg.n_probe_train), len(data.train))
    n_inv = _subset(int(icfg.n_invariance), len(data.test))
    gen = torch.Generator().manual_seed(int(cfg.seed) + 17)
    inv_angles = torch.rand(n_inv, generator=gen) * (2 * math.pi)
    inputs = {
        "train": data.train.images[:n_tr],
        "train_upright": data.train.upright[:n_tr],
        "test": data.test.images,
        "test_upright": data.test.upright,
        "inv": rotate_images(data.test.images[:n_inv], inv_angles),
        "inv90": torch.rot90(data.test.images[:n_inv], 1, dims=(-2, -1)),
    }
    latents: dict[str, dict[str, Tensor]] = {}
    accuracy = {}
    for split, x in inputs.items():
        z, logits = encode(model, x, desc=f"{name}: {split}")
        latents[split] = {model.latent_layout: z}
        if split in ("test", "test_upright"):
            accuracy[split] = float((logits.argmax(-1) == data.test.labels).float().mean())
        if model.latent_layout == "vector" and split != "test_upright":
            latents[split]["orbit"] = encode_orbit(model, x, int(icfg.orbit_copies), desc=f"{name}: {split}")
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


def latents_for(cfg: DictConfig, name: str, model_cfg: DictConfig, data: Any, out_dir: Path) -> dict[str, Any]:
    """Cached latents of encoder ``name``; trains and encodes only what is missing."""
    enc_dir = out_dir / name
    path = enc_dir / LATENTS_FILE
    if path.is_file():
        cached = torch.load(path, map_location="cpu", weights_only=False)
        if cached.get("version") == CACHE_VERSION:
            print(f"[images] {name}: reusing {path}")
            return cached
    print(f"[images] {name}: training ({int(cfg.profile.images.epochs)} epochs) then encoding")
    model = train_encoder(cfg, name, model_cfg, data, enc_dir)
    result = extract_latents(cfg, model, data, name)
    atomic_torch_save(result, path)
    return result
