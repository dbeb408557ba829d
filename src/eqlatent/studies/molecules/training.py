"""Train (or reload) one graph VAE per latent size and extract its latents, resumably.

Why a module of its own: training is the only slow, stateful step of the molecules
study.  Each latent size gets its own folder ``<run>/latent<d>/`` holding
``checkpoints/last.ckpt`` (a killed run resumes from it) and ``latents.pt`` (written
atomically once the model is trained; when it exists a re-run skips training and
reuses both) and ``fingerprint.json`` (what the folder was trained with, checked by
:mod:`eqlatent.studies.fingerprint`: a re-run with a different model, data, batch size or
seed is refused; a re-run asking for more epochs continues the training).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torch.utils.data import DataLoader

from eqlatent.data.loaders import tensor_loader
from eqlatent.data.molecules import MoleculeDataset
from eqlatent.errors import ConfigError
from eqlatent.io import atomic_torch_save
from eqlatent.models.graph_vae import GraphVAE
from eqlatent.studies.fingerprint import check_fingerprint
from eqlatent.studies.fitting import fit_in_folder, folder_config, last_checkpoint

log = logging.getLogger(__name__)


def graph_loader(ds: MoleculeDataset, rows: Tensor, batch_size: int, shuffle: bool, seed: int,
                 loader_cfg: Any = None) -> DataLoader:
    """Batches of ``(node_type, bond_type)`` for the molecules ``rows`` (shuffled from ``(seed, epoch)``).

    ``loader_cfg``: the profile's ``loader`` block (workers, pinning).
    """
    return tensor_loader((ds.node_type[rows], ds.bond_type[rows].long()), batch_size, seed if shuffle else None,
                         loader_cfg)


def build_model(cfg: DictConfig, ds: MoleculeDataset, latent_dim: int) -> GraphVAE:
    """Instantiate ``cfg.model`` for this dataset's vocabularies and the given latent size."""
    return hydra.utils.instantiate(cfg.model, n_atom_types=len(ds.atom_types), n_bond_types=len(ds.bond_types),
                                   max_nodes=ds.max_nodes, latent_dim=latent_dim, atom_types=list(ds.atom_types),
                                   bond_types=list(ds.bond_types))


def training_settings(cfg: DictConfig, latent_dim: int) -> dict[str, object]:
    """What changes the trained VAE of one latent size, except the number of epochs (which may grow)."""
    data = {k: v for k, v in OmegaConf.to_container(cfg.data, resolve=True).items() if k not in ("cache_dir", "path")}
    return {"model": OmegaConf.to_container(cfg.model, resolve=True), "data": data, "latent_dim": int(latent_dim),
            "batch_size": int(cfg.molecules.batch_size), "seed": int(cfg.seed)}


def train_or_load(cfg: DictConfig, ds: MoleculeDataset, latent_dim: int, run_dir: Path) -> tuple[GraphVAE, bool]:
    """The trained VAE for ``latent_dim``; returns ``(model, trained_now)``.

    If ``run_dir`` already holds latents and a last checkpoint of this run's settings, the
    checkpoint is loaded and nothing is trained; otherwise training starts (or resumes from
    ``last.ckpt``, also when a re-run asks for more epochs; its stale latents are dropped).
    """
    more_epochs = check_fingerprint(run_dir, training_settings(cfg, latent_dim), int(cfg.trainer.max_epochs), "a VAE")
    if more_epochs:
        (run_dir / "latents.pt").unlink(missing_ok=True)  # derived from the shorter training: re-encoded below
    last = last_checkpoint(run_dir)
    if (run_dir / "latents.pt").is_file() and last.is_file():
        log.info("latent_dim=%d: reusing %s", latent_dim, last)
        # our own checkpoint: it also stores callback state (numpy scalars), which weights_only=True refuses
        model = GraphVAE.load_from_checkpoint(last, map_location="cpu", weights_only=False)
        return model.eval(), False
    sub = folder_config(cfg, run_dir, f"latent{latent_dim}")
    model = build_model(sub, ds, latent_dim)
    batch = int(cfg.molecules.batch_size)
    loader_cfg = cfg.profile.get("loader")
    train = graph_loader(ds, ds.split["train"], batch, shuffle=True, seed=int(cfg.seed), loader_cfg=loader_cfg)
    val = graph_loader(ds, ds.split["val"], batch, shuffle=False, seed=int(cfg.seed), loader_cfg=loader_cfg)
    model, _ = fit_in_folder(sub, model, train, val, what=f"latent_dim={latent_dim}")
    return model, True


@torch.no_grad()
def encode_all(model: GraphVAE, ds: MoleculeDataset, batch_size: int = 512) -> dict[str, Tensor]:
    """Posterior mean and log-variance ``[N, max_nodes, d]`` of every molecule, in dataset node order."""
    model.eval()
    mus, logvars = [], []
    # encoded on the CPU (the analysis runs there): nothing to pin
    for node, bond in graph_loader(ds, torch.arange(len(ds)), batch_size, shuffle=False, seed=0,
                                   loader_cfg={"pin_memory": False}):
        mu, logvar = model.encode(node, bond)
        mus.append(mu.float())
        logvars.append(logvar.float())
    return {"mu": torch.cat(mus), "logvar": torch.cat(logvars)}


def latents_for(cfg: DictConfig, ds: MoleculeDataset, model: GraphVAE, run_dir: Path) -> dict[str, Tensor]:
    """Load ``run_dir/latents.pt`` if it matches this dataset, else encode and save it atomically."""
    path = run_dir / "latents.pt"
    if path.is_file():
        saved = torch.load(path, map_location="cpu")
        if saved["smiles_head"] != ds.smiles[:5] or saved["mu"].shape[0] != len(ds):
            raise ConfigError(f"{path} holds latents of a different dataset ({saved['mu'].shape[0]} molecules)",
                              "use another run_name (or seed) or delete that run folder")
        return saved
    out = encode_all(model, ds)
    out.update(latent_dim=model.latent_dim, smiles_head=ds.smiles[:5])
    atomic_torch_save(out, path)
    return out
