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
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from logging.handlers import QueueListener
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
from eqlatent.models.graph_vae import NEUTRAL_SETTINGS, GraphVAE
from eqlatent.studies.fingerprint import trainer_settings
from eqlatent.studies.fitting import LATENTS_FILE, Fitted, fit_in_folder, fit_or_reuse, folder_config, last_checkpoint, \
    latents_of

log = logging.getLogger(__name__)


def graph_loader(ds: MoleculeDataset, rows: Tensor, batch_size: int, shuffle: bool, seed: int,
                 loader_cfg: Any = None) -> DataLoader:
    """Batches of ``(node_type, bond_type)`` for the molecules ``rows`` (shuffled from ``(seed, epoch)``).

    ``loader_cfg``: the profile's ``loader`` block (workers, pinning).
    """
    return tensor_loader((ds.node_type[rows], ds.bond_type[rows].long()), batch_size, seed if shuffle else None,
                         loader_cfg)


def vae_config(cfg: DictConfig) -> DictConfig:
    """The graph VAE's node of the model map ``cfg.model`` (``model.graph_vae``: the study trains one model)."""
    entries = [v for v in (cfg.get("model") or {}).values() if v is not None]
    if len(entries) != 1:
        raise ConfigError(f"the molecules study trains one model, got {sorted(cfg.model or {})}", "use model=graph_vae")
    return entries[0]


def build_model(cfg: DictConfig, ds: MoleculeDataset, latent_dim: int) -> GraphVAE:
    """Instantiate the graph VAE of ``cfg.model`` for this dataset's vocabularies and the given latent size."""
    return hydra.utils.instantiate(vae_config(cfg), n_atom_types=len(ds.atom_types), n_bond_types=len(ds.bond_types),
                                   max_nodes=ds.max_nodes, latent_dim=latent_dim, atom_types=list(ds.atom_types),
                                   bond_types=list(ds.bond_types))


def training_settings(cfg: DictConfig, latent_dim: int) -> dict[str, object]:
    """What changes the trained VAE of one latent size, except the number of epochs (which may grow)."""
    data = {k: v for k, v in OmegaConf.to_container(cfg.data, resolve=True).items() if k not in ("cache_dir", "path")}
    # compiling changes how a step runs, not what it computes: a model trained either way is the same model;
    # settings at their neutral value (NEUTRAL_SETTINGS) compute what folders trained before they existed did
    model = {k: v for k, v in OmegaConf.to_container(vae_config(cfg), resolve=True).items()
             if k != "compile" and not (k in NEUTRAL_SETTINGS and v == NEUTRAL_SETTINGS[k])}
    settings = {"model": model, "data": data, "latent_dim": int(latent_dim),
                "batch_size": int(cfg.molecules.batch_size), "seed": int(cfg.seed)}
    # DDP's world size, accumulation, precision...: only those away from a one-process run's (older folders reused)
    step = trainer_settings(cfg.get("trainer"))
    return {**settings, "trainer": step} if step else settings


def training_epochs(cfg: DictConfig, latent_dim: int) -> int:
    """Epochs of the VAE of ``latent_dim``: ``molecules.epochs_by_latent[latent_dim]``, else ``trainer.max_epochs``.

    ``trainer.max_epochs`` is the profile's ``molecules.epochs`` unless set.  :func:`train_or_load`
    checks the fingerprint against this number and hands it to the trainer, as the images study
    does with :func:`eqlatent.studies.images.latents.epochs_for`.

    Why per latent size: at d = 4 the VAE rebuilds ~89 % of QM9 after 2 epochs, while at d = 1
    its exact rate is still climbing steeply at 4 and its seed-to-seed spread only narrows with
    more; the profiles spend the time where it buys robustness (benchmarks/vae_robustness.py).
    """
    mcfg = cfg.molecules
    by_latent = {int(k): int(v) for k, v in (mcfg.get("epochs_by_latent") or {}).items()}
    return by_latent.get(int(latent_dim), int(cfg.trainer.max_epochs))


def train_or_load(cfg: DictConfig, ds: MoleculeDataset, latent_dim: int, run_dir: Path) -> Fitted:
    """The trained VAE for ``latent_dim`` (:func:`eqlatent.studies.fitting.fit_or_reuse`): ``.model``, ``.trained``.

    If ``run_dir`` already holds latents and a last checkpoint of this run's settings, the
    checkpoint is loaded and nothing is trained; otherwise training starts (or resumes from
    ``last.ckpt``, also when a re-run asks for more epochs; its stale latents are dropped).
    """
    epochs = training_epochs(cfg, latent_dim)

    def fit() -> tuple[GraphVAE, float]:
        sub = folder_config(cfg, run_dir, f"latent{latent_dim}")
        model = build_model(sub, ds, latent_dim)
        batch = int(cfg.molecules.batch_size)
        loader_cfg = cfg.profile.get("loader")
        train = graph_loader(ds, ds.split["train"], batch, shuffle=True, seed=int(cfg.seed), loader_cfg=loader_cfg)
        val = graph_loader(ds, ds.split["val"], batch, shuffle=False, seed=int(cfg.seed), loader_cfg=loader_cfg)
        return fit_in_folder(sub, model, train, val, max_epochs=epochs, what=f"latent_dim={latent_dim}")

    return fit_or_reuse(run_dir, training_settings(cfg, latent_dim), epochs, "a VAE", fit, load=load_trained)


def load_trained(run_dir: Path) -> GraphVAE:
    """The VAE trained in ``run_dir`` (its ``last.ckpt``), on the CPU and in eval mode."""
    # our own checkpoint: it also stores callback state (numpy scalars), which weights_only=True refuses
    model = GraphVAE.load_from_checkpoint(last_checkpoint(run_dir), map_location="cpu", weights_only=False)
    return model.eval()


def train_all(cfg: DictConfig, ds: MoleculeDataset, dims: list[int], out_dir: Path) -> dict[int, Fitted]:
    """The trained VAE of every latent size, ``d -> Fitted`` (``.model``; ``.train_seconds``: 0 when reused).

    Under ``trainer=ddp`` every rank calls this with the same sizes, in the same order: each
    fit is collective, so all of them come before any rank-0-only analysis.  With
    ``molecules.parallel_fits > 1`` the sizes first train side by side in processes of their
    own (:func:`fit_side_by_side`, which checks their fingerprints there); the loop below
    then loads each one from its ``last.ckpt``.
    """
    parallel = int(cfg.molecules.parallel_fits)   # every profile sets it (configs/profile/*.yaml)
    side_by_side = fit_side_by_side(cfg, dims, out_dir, parallel) if parallel > 1 and len(dims) > 1 else {}
    fitted = {}
    for d in dims:
        folder = out_dir / f"latent{d}"
        if d in side_by_side:
            seconds, earlier = side_by_side[d]
            fitted[d] = Fitted(folder, load_trained(folder), seconds, reused=(folder / LATENTS_FILE).is_file(),
                               earlier_seconds=earlier)
            continue
        t0 = time.time()
        fitted[d] = train_or_load(cfg, ds, d, folder)
        if fitted[d].trained:  # the whole call, as the study has always reported it
            fitted[d].train_seconds = time.time() - t0
    return fitted


def apply_torch_threads(mcfg: DictConfig) -> None:
    """Use ``molecules.torch_threads`` torch threads (0: torch's default of one per core).

    Why: on a shared CPU, beside another job, one thread per core makes the many small ops of
    the equivariant layers much slower (threads spin waiting for each other).
    """
    threads = int(mcfg.get("torch_threads", 0))
    if threads > 0:
        torch.set_num_threads(threads)


def _forward_logs_to(queue: Any) -> None:
    """Pool initializer: this process's log records go to the parent, through ``queue``.

    Why: a spawned process starts with an unconfigured root logger, so the per-epoch lines of the
    sizes trained side by side were dropped and a long run showed nothing until a size finished.
    Forwarded, they are written by the parent's own handlers (Hydra's console and run log, or what
    the user configured), in the parent's format (``fit_side_by_side``'s ``QueueListener``).
    """
    from logging.handlers import QueueHandler

    root = logging.getLogger()
    root.handlers = [QueueHandler(queue)]
    root.setLevel(logging.INFO)


def _fit_in_own_process(container: dict, d: int, run_dir: str) -> tuple[float, float]:
    """One latent size's fit in a fresh process (spawned): no progress bar; the fit seeds itself (``fit_or_reuse``).

    Returns its training seconds (0 when the size was already trained: reused) and the training
    earlier processes did (``Fitted.earlier_seconds``).
    """
    from eqlatent.runtime.console import configure_console

    configure_console()
    logging.getLogger("lightning").setLevel(logging.WARNING)   # one line per fit from the parent, not three
    cfg = OmegaConf.create(container)
    apply_torch_threads(cfg.molecules)   # as in the parent (molecules.study.run): a spawned process starts afresh
    t0 = time.time()
    fitted = train_or_load(cfg, hydra.utils.instantiate(cfg.data), d, Path(run_dir))
    return (time.time() - t0 if fitted.trained else 0.0), fitted.earlier_seconds


def fit_side_by_side(cfg: DictConfig, dims: list[int], out_dir: Path,
                     parallel: int) -> dict[int, tuple[float, float]]:
    """Train the VAEs of ``dims`` in up to ``parallel`` processes at once; ``d -> (seconds, earlier seconds)``.

    ``seconds``: 0 when reused; ``earlier seconds``: as ``Fitted.earlier_seconds``.

    Why: one VAE step is thousands of small kernels, so a single fit leaves a GPU mostly
    idle; two or three fits side by side fill it (the paper profile trains sizes 1, 2 and 4).
    Each process trains one size from the run's seed, into that size's own folder, exactly as
    :func:`train_or_load` would alone; a size already trained is reused there.  So size
    ``d`` gets the model a sequential run gives the size it trains first.  Not with DDP
    (each fit already spans every device) and not on a 2-core CPU (no gain).
    """
    import multiprocessing

    if "ddp" in str(cfg.trainer.get("strategy", "auto")) or cfg.trainer.get("devices", 1) not in (1, "1", None):
        raise ConfigError("molecules.parallel_fits > 1 cannot be combined with a multi-device trainer",
                          "set molecules.parallel_fits=1 with trainer=ddp (DDP already spreads each fit)")
    # the paths are resolved here, where ${hydra:...} (a sweep's output folder) still resolves; every other
    # interpolation stays one, so each fit's folder_config() can point its logs and checkpoints at its own folder
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra", None)
    container["paths"] = OmegaConf.to_container(cfg.paths, resolve=True)
    container["trainer"]["enable_progress_bar"] = False
    (container.get("callbacks") or {}).pop("rich_progress_bar", None)
    seconds = {}
    workers, context = min(parallel, len(dims)), multiprocessing.get_context("spawn")
    records = context.Queue()   # the children's log records, written here by this process's own handlers
    listener = QueueListener(records, *logging.getLogger().handlers, respect_handler_level=True)
    listener.start()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_forward_logs_to,
                                 initargs=(records,)) as pool:
            jobs = {pool.submit(_fit_in_own_process, container, d, str(out_dir / f"latent{d}")): d for d in dims}
            log.info("training latent sizes %s side by side (%d processes at once)", ", ".join(map(str, dims)),
                     workers)
            for job in as_completed(jobs):
                d = jobs[job]
                seconds[d] = job.result()
                log.info("latent_dim=%d: %s", d, f"trained in its own process in {seconds[d][0]:.0f} s"
                         if seconds[d][0] else "already trained, reused")
    finally:
        listener.stop()
    return seconds


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


def latents_for(cfg: DictConfig, ds: MoleculeDataset, fitted: Fitted) -> dict[str, Tensor]:
    """The VAE's latents of every molecule (:func:`eqlatent.studies.fitting.latents_of`): its folder's, or encoded now.

    Saved latents of another dataset are refused in one line.
    """
    def check(saved: dict) -> None:
        if saved["smiles_head"] != ds.smiles[:5] or saved["mu"].shape[0] != len(ds):
            raise ConfigError(f"{fitted.folder / LATENTS_FILE} holds latents of a different dataset "
                              f"({saved['mu'].shape[0]} molecules)", "use another run_name (or seed) or delete that run folder")

    def encode(model: GraphVAE) -> dict:
        out = encode_all(model, ds)
        out.update(latent_dim=model.latent_dim, smiles_head=ds.smiles[:5])
        return out

    return latents_of(fitted, encode, check)
