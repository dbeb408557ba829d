"""Measured speed of the pipeline: ``make bench`` (or ``python benchmarks/bench.py [--quick]``).

Prints, and writes to ``outputs/bench/bench.md``:

(a) each projection's cost against the encoder forward pass that produced its latent
    (same batch, same run, so the ratio does not depend on the machine's speed);
(b) latent-extraction throughput (molecules/s, images/s) on CPU, and on GPU when present;
(c) how cost grows with graph size, batch size and the number K of random projections;
(d) QM9 preprocessing from the shipped CSVs, cold (no cache) vs from the cache;
(e) data loading per batch (the studies' DataLoaders over the cached tensors, incl. the host
    to device copy) against one training step, to show loading is not the bottleneck;
(f) the public toolkit API (``eqlatent.invariant_projection``, ``project_nodes``) at realistic sizes
    against a forward pass of a matching escnn / PyG encoder;
(g) operators and time of one training step of each paper-profile model;
(h) ZINC at scale: building the sharded cache of 100k MOSES molecules (and, with ``--zinc-all``, of
    all 1,584,663) in a fresh process -- time and peak memory -- and one epoch of the ZINC study's VAE
    (cpu profile) per 100k molecules, fed from that cache.

Graphs of size > 9 in (c) are random (synthetic) graphs: they only time the code.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hydra
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import markdown_table, median_seconds  # noqa: E402

from eqlatent.runtime.config import compose, project_root  # noqa: E402
from eqlatent.runtime.io import atomic_write_text  # noqa: E402


def _devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@functools.lru_cache(maxsize=None)
def _experiment(name: str):
    """The config of ``experiment=<name>`` at the default (cpu) profile, composed once (every section reads it)."""
    return compose([f"experiment={name}"], with_hydra=False)


def _qm9_vocabulary(max_nodes: int = 9):
    """What the molecules study's model builder reads of its dataset: QM9's atom and bond types, ``max_nodes`` slots."""
    from types import SimpleNamespace

    from eqlatent.data.graphs import BOND_TYPES
    from eqlatent.data.qm9 import ATOM_TYPES

    return SimpleNamespace(atom_types=list(ATOM_TYPES), bond_types=list(BOND_TYPES), max_nodes=max_nodes)


def _vae(latent_dim: int, max_nodes: int = 9, device: str = "cpu"):
    from eqlatent.studies.molecules.training import build_model

    return build_model(_experiment("molecules"), _qm9_vocabulary(max_nodes), latent_dim).to(device).eval()


def _random_graphs(batch: int, n: int, device: str = "cpu", seed: int = 0):
    """SYNTHETIC random dense graphs (for timing only): node types in C/N/O/F, sparse bonds."""
    gen = torch.Generator().manual_seed(seed)
    node_type = torch.randint(0, 4, (batch, n), generator=gen)
    upper = (torch.rand(batch, n, n, generator=gen) < 3.0 / n).triu(1) * torch.randint(1, 4, (batch, n, n), generator=gen)
    return node_type.to(device), (upper + upper.transpose(1, 2)).to(device)


def _qm9_batch(batch: int, device: str = "cpu"):
    from eqlatent.data.qm9 import load_qm9

    ds = load_qm9(cache_dir=str(project_root() / "data" / "processed"), subset=max(batch, 1024))
    return ds.node_type[:batch].to(device), ds.bond_type[:batch].to(device)


def _verdict(percent: float) -> str:
    return "yes" if percent < 2.0 else "NO"


def molecule_projection_costs(batch: int, repeats: int, proj_repeats: int) -> list[list[object]]:
    from eqlatent.studies.molecules.node_retention import instantiate_projections

    rows = []
    node_type, bond_type = _qm9_batch(batch)
    proj_cfg = _experiment("molecules").projection
    for d in (1, 4):
        vae = _vae(d)
        t_enc = median_seconds(lambda: vae.encode(node_type, bond_type), repeats)
        z = vae.encode(node_type, bond_type)[0]
        meta = {"mask": node_type >= 0}
        for name, proj in instantiate_projections(proj_cfg).items():
            if hasattr(proj, "applies_to") and not proj.applies_to(d):
                continue
            t = median_seconds(lambda: proj(z, meta), proj_repeats)
            rows.append([f"QM9 VAE d={d}", name, t_enc * 1e3, t * 1e3, 100 * t / t_enc, _verdict(100 * t / t_enc)])
    return rows


def _image_encoders(names: list[str] | None = None):
    for name, mc in _experiment("images").model.items():
        if names is None or name in names:
            yield name, hydra.utils.instantiate(mc).eval()


def image_projection_costs(batch: int, repeats: int, proj_repeats: int,
                           encoders: list[str] | None) -> list[list[object]]:
    from eqlatent.data.rotated_mnist import load_rotated_mnist
    from eqlatent.data.rotation import rotate_images
    from eqlatent.projections.registry import build_projection, projection_class
    from eqlatent.studies.projection_configs import projection_config

    x = load_rotated_mnist(n_train=batch, n_test=1).train.images
    cfg = _experiment("images")
    proj_cfg, copies = cfg.projection, int(cfg.images.orbit_copies)
    rows = []
    for enc_name, enc in _image_encoders(encoders):
        t_enc = median_seconds(lambda: enc.encode(x), repeats)
        layout = enc.latent_layout
        z = enc.encode(x)
        if layout == "vector":  # plain CNN: orbit projections need the latents of M rotated copies
            angles = torch.arange(copies) * (2 * torch.pi / copies)
            xs = rotate_images(x.repeat_interleave(copies, 0), angles.repeat(batch))
            t_orbit = median_seconds(lambda: enc.encode(xs), max(1, repeats // 2))
            rows.append([enc_name, f"(encode {copies} rotated copies)", t_enc * 1e3, t_orbit * 1e3,
                         100 * t_orbit / t_enc, "n/a: encoder passes"])
            z_orbit = enc.encode(xs).reshape(batch, copies, -1)
        for name, pc in proj_cfg.items():
            projection, kwargs = projection_config(name, pc)
            cls = projection_class(projection)
            for lay, lat in ((layout, z),) + ((("orbit", z_orbit),) if layout == "vector" else ()):
                if not cls.supports(lay):
                    continue
                proj = build_projection(projection, lay, **kwargs)
                if getattr(proj, "n_functionals", 0) is None:  # random projections: K = latent dim
                    proj = proj.with_k(lat[0].numel())
                t = median_seconds(lambda: proj(lat), proj_repeats)
                rows.append([enc_name, f"{name} [{lay}]", t_enc * 1e3, t * 1e3, 100 * t / t_enc, _verdict(100 * t / t_enc)])
    return rows


def extraction_throughput(repeats: int, encoders: list[str] | None, batch: int) -> list[list[object]]:
    from eqlatent.data.rotated_mnist import load_rotated_mnist

    rows = []
    for device in _devices():
        node_type, bond_type = _qm9_batch(batch, device)
        vae = _vae(1, device=device)
        t = median_seconds(lambda: vae.encode(node_type, bond_type), repeats, device=device)
        rows.append(["QM9 graph VAE (d=1)", device, batch, batch / t])
        x = load_rotated_mnist(n_train=batch, n_test=1).train.images.to(device)
        for name, enc in _image_encoders(encoders):
            enc = enc.to(device)
            t = median_seconds(lambda: enc.encode(x), repeats, device=device)
            rows.append([f"rotated MNIST {name}", device, batch, batch / t])
    return rows


def scaling(repeats: int, quick: bool) -> tuple[list[list[object]], list[list[object]], list[list[object]]]:
    from eqlatent.projections.lex_sort import LexSort
    from eqlatent.projections.sort import Sort

    sizes = (9, 16) if quick else (9, 16, 32, 64)
    by_n = []
    for n in sizes:
        vae = _vae(1, max_nodes=n)
        nt, bt = _random_graphs(64, n)
        t_enc = median_seconds(lambda: vae.encode(nt, bt), repeats)
        z = vae.encode(nt, bt)[0]
        z4 = torch.randn(64, n, 4)
        by_n.append([n, t_enc * 1e3, median_seconds(lambda: Sort()(z), repeats) * 1e3,
                     median_seconds(lambda: LexSort()(z4), repeats) * 1e3])
    by_batch = []
    vae = _vae(1)
    for b in ((32, 128) if quick else (32, 128, 512, 2048)):
        nt, bt = _random_graphs(b, 9)
        t = median_seconds(lambda: vae.encode(nt, bt), repeats)
        by_batch.append([b, t * 1e3, b / t])
    by_k = []
    from eqlatent.projections.random_invariant import RandomInvariant

    z = torch.randn(256, 12, 8)  # a C_8 regular latent of 12 fields (dimension 96)
    dim = 12 * 8
    for mult in ((0.25, 1) if quick else (0.0625, 0.25, 1, 2, 4)):
        k = max(1, int(mult * dim))
        proj = RandomInvariant(n_functionals=k, layout="regular")
        by_k.append([k, median_seconds(lambda: proj(z), repeats) * 1e3])
    return by_n, by_batch, by_k


def qm9_preprocessing() -> list[list[object]]:
    from eqlatent.data.qm9 import load_qm9

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        load_qm9(cache_dir=tmp)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        ds = load_qm9(cache_dir=tmp)
        warm = time.perf_counter() - t0
    return [["cold (CSV -> rdkit -> graphs, then cache)", len(ds), cold], ["cached (checksum + torch.load)", len(ds), warm]]


def _epoch_ms_per_batch(loader, device: str, repeats: int) -> float:
    def one_epoch() -> None:
        for batch in loader:
            for t in batch:
                t.to(device, non_blocking=True)

    return median_seconds(one_epoch, max(1, repeats // 2), device=device) / len(loader) * 1e3


def _train_step_ms(model, batch, device: str, repeats: int) -> float:
    import warnings

    model = model.to(device).train()
    batch = [t.to(device) for t in batch]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # self.log() outside a Trainer only warns
            opt.zero_grad()
            model.training_step(batch, 0).backward()
            opt.step()

    return median_seconds(step, repeats, device=device) * 1e3


def loading_vs_training(repeats: int, quick: bool) -> list[list[object]]:
    from eqlatent.data.loaders import tensor_loader
    from eqlatent.data.qm9 import load_qm9
    from eqlatent.data.rotated_mnist import load_rotated_mnist
    from eqlatent.studies.molecules.training import graph_loader

    cfg = _experiment("images")
    loader_cfg, bs = cfg.profile.loader, int(cfg.images.batch_size)
    ds = load_qm9(cache_dir=str(project_root() / "data" / "processed"), subset=1024 if quick else 4000)
    mols = graph_loader(ds, ds.split["train"], int(cfg.profile.molecules.batch_size), True, 0, loader_cfg)
    imgs = load_rotated_mnist(n_train=512 if quick else int(cfg.images.n_train), n_test=1).train
    images = tensor_loader((imgs.images, imgs.labels), bs, 0, loader_cfg)
    rows = []
    for device in _devices():
        cases = [("QM9 graph VAE d=1", _vae(1), mols)]
        cases += [(f"rotated MNIST {name}", enc, images) for name, enc in _image_encoders(["c8", "cnn_aug"])]
        for label, model, loader in cases:
            load_ms = _epoch_ms_per_batch(loader, device, repeats)
            step_ms = _train_step_ms(model, next(iter(loader)), device, repeats)
            rows.append([label, device, loader.batch_size, load_ms, step_ms, 100 * load_ms / step_ms])
    return rows


def api_costs(repeats: int, quick: bool) -> list[list[object]]:
    """(f) The public toolkit API on realistic sizes, against a forward pass of a matching encoder.

    escnn: a C_8 CNN (random weights, SYNTHETIC 15x15 inputs) whose 1x1 latent has 64 mixed fields
    (32 regular, 16 + 8 irreps, 8 trivial), batch 1,024, K = 256.  PyG: a 2-layer GCN (random weights)
    on 100k nodes in 4k SYNTHETIC graphs (ring + random chords), d = 8 per node.
    """
    import eqlatent
    from eqlatent.groups.field_types import import_escnn

    escnn = import_escnn()
    from escnn import gspaces, nn

    batch, k = (64, 32) if quick else (1024, 256)
    r2 = gspaces.rot2dOnR2(8)
    in_type = nn.FieldType(r2, [r2.trivial_repr])
    hidden = nn.FieldType(r2, 16 * [r2.regular_repr])
    out_type = nn.FieldType(r2, 32 * [r2.regular_repr] + 16 * [r2.irrep(1)] + 8 * [r2.irrep(3)] + 8 * [r2.trivial_repr])
    enc = nn.SequentialModule(nn.R2Conv(in_type, hidden, 7), nn.ReLU(hidden), nn.R2Conv(hidden, out_type, 9)).eval()
    x = nn.GeometricTensor(torch.randn(batch, 1, 15, 15), in_type)
    t_enc = median_seconds(lambda: enc(x), max(1, repeats // 2))
    z = enc(x)
    rows = []
    for method, kk in (("random_invariant", k), ("norm", None), ("canonicalize", None)):
        proj = eqlatent.invariant_projection(out_type, method, n_functionals=kk)
        t = median_seconds(lambda: proj(z), repeats)
        rows.append([f"escnn C8, {len(out_type)} mixed fields (D={out_type.size}), batch {batch}",
                     f"invariant_projection {method}" + (f" K={kk}" if kk else ""), t_enc * 1e3, t * 1e3,
                     100 * t / t_enc, _verdict(100 * t / t_enc)])
    rows += _so2_api_costs(repeats, quick)
    from torch_geometric.nn import GCNConv

    n_graphs, n_nodes = (200, 5000) if quick else (4000, 100_000)
    gen = torch.Generator().manual_seed(0)
    batch_vec = torch.randint(n_graphs, (n_nodes,), generator=gen).sort().values
    ring = torch.stack([torch.arange(n_nodes), torch.arange(n_nodes).roll(-1)])
    ring = ring[:, batch_vec[ring[0]] == batch_vec[ring[1]]]
    chords = torch.randint(n_nodes, (2, n_nodes), generator=gen)
    chords = chords[:, batch_vec[chords[0]] == batch_vec[chords[1]]]
    edges = torch.cat([ring, chords], 1)
    edges = torch.cat([edges, edges.flip(0)], 1)
    feats = torch.randn(n_nodes, 16, generator=gen)
    conv1, conv2 = GCNConv(16, 64), GCNConv(64, 8)
    gcn = lambda: conv2(conv1(feats, edges).relu(), edges)  # noqa: E731
    t_enc = median_seconds(gcn, max(1, repeats // 2))
    h = gcn().detach()
    for method in ("lex_sort", "channel_sort", "sum_pool", "mean_pool", "max_pool"):
        t = median_seconds(lambda: eqlatent.project_nodes(h, batch_vec, method, num_graphs=n_graphs), repeats)
        rows.append([f"PyG GCN, {n_nodes:,} nodes in {n_graphs:,} graphs, d=8", f"project_nodes {method}",
                     t_enc * 1e3, t * 1e3, 100 * t / t_enc, _verdict(100 * t / t_enc)])
    return rows


def _so2_api_costs(repeats: int, quick: bool) -> list[list[object]]:
    """(f) SO(2) ``random_invariant`` at K = 512 and 2,048 (Newton-refined, the toolkit's default).

    An SO(2) CNN (band limit 3, random weights, SYNTHETIC 15x15 inputs) whose 1x1 latent is 16 copies
    of the irreps 0..3 (D = 112), 4,096 latents (64 with --quick), under ``torch.no_grad``.  The
    refinement's cost is linear in K (issue 22: it was superlinear).
    """
    import eqlatent
    from eqlatent.groups.field_types import import_escnn

    import_escnn()
    from escnn import gspaces, nn

    batch = 64 if quick else 4096
    so2 = gspaces.rot2dOnR2(-1, maximum_frequency=3)
    irreps = [so2.irrep(k) for k in range(4)]
    in_type, hidden = nn.FieldType(so2, [so2.trivial_repr]), nn.FieldType(so2, 4 * irreps)
    out_type = nn.FieldType(so2, 16 * irreps)
    enc = nn.SequentialModule(nn.R2Conv(in_type, hidden, 7), nn.NormNonLinearity(hidden),
                              nn.R2Conv(hidden, out_type, 9)).eval()
    x = nn.GeometricTensor(torch.randn(batch, 1, 15, 15), in_type)
    rows = []
    with torch.no_grad():
        t_enc = median_seconds(lambda: enc(x), max(1, repeats // 2))
        z = enc(x)
        for kk in (512, 2048):
            proj = eqlatent.invariant_projection(out_type, "random_invariant", n_functionals=kk)
            t = median_seconds(lambda: proj(z), max(1, repeats // 2))
            rows.append([f"escnn SO(2), {len(out_type)} irreps fields 0..3 (D={out_type.size}), batch {batch}",
                         f"invariant_projection random_invariant K={kk}", t_enc * 1e3, t * 1e3, 100 * t / t_enc,
                         _verdict(100 * t / t_enc)])
    return rows


def paper_training_steps(quick: bool, device: str = "cpu") -> list[list[object]]:
    """One row per `paper`-profile model: operators per training step (torch.profiler) and step time.

    Each model trains a few batches of SYNTHETIC inputs of the paper's shapes (random QM9-sized
    graphs, random 29x29 images; timing only) inside a real Lightning fit, so the step holds
    everything a study's step holds: forward, loss, logging, backward and the optimiser.
    """
    import warnings

    import lightning as L
    from timing import StepProfile

    from eqlatent.data.loaders import tensor_loader
    from eqlatent.studies.molecules.training import build_model

    mol_cfg = compose(["experiment=molecules", "profile=paper"], with_hydra=False)
    img_cfg = compose(["experiment=images", "profile=paper"], with_hydra=False)
    timed = 2 if quick else 5
    cases = []
    mol_batch = 32 if quick else int(mol_cfg.molecules.batch_size)
    for d in ([1] if quick else list(mol_cfg.molecules.latent_dims)):
        model = build_model(mol_cfg, _qm9_vocabulary(), int(d))
        cases.append((f"paper graph VAE d={d}", model, _random_graphs(mol_batch * (3 + timed), 9), mol_batch))
    img_batch = 8 if quick else int(img_cfg.images.batch_size)
    gen = torch.Generator().manual_seed(0)
    for name, mc in img_cfg.model.items():
        if mc is None or (quick and name != "c8"):
            continue
        n = img_batch * (3 + timed)
        images = torch.rand(n, 1, 29, 29, generator=gen)
        cases.append((f"paper {name}", hydra.utils.instantiate(mc), (images, torch.randint(0, 10, (n,), generator=gen)), img_batch))
    rows = []
    for label, model, tensors, batch in cases:
        prof = StepProfile(profile_at=2)
        trainer = L.Trainer(accelerator=device, devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                            callbacks=[prof])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # Lightning's advice on workers and val loaders: not what is measured
            trainer.fit(model, tensor_loader(tensors, batch))
        rows.append([label, device, batch, f"{sum(p.numel() for p in model.parameters()):,}", prof.ops,
                     prof.step_seconds() * 1e3])
    return rows


#: what one child process runs for a row of (h): build (or check) the sharded ZINC cache, report time and memory
_PREPARE_ZINC = """
import json, re, resource, sys, time
from pathlib import Path
import torch, rdkit.Chem
from eqlatent.data.zinc import load_zinc
status = Path("/proc/self/status")
rss = re.search(r"VmRSS:\\s+(\\d+)", status.read_text()) if status.is_file() else None
base = int(rss.group(1)) if rss else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
t0 = time.perf_counter()
ds = load_zinc(cache_dir=sys.argv[1], subset=sys.argv[2], storage="shards")
use = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_s": use.ru_utime + use.ru_stime - cpu0,
                  "peak_kb": use.ru_maxrss, "base_kb": base, "read": ds.n_source, "kept": len(ds), "dropped": ds.dropped}))
"""


def zinc_prepare_row(cache_dir: str | Path, subset: int | str) -> list[object]:
    """(h) Build the sharded ZINC cache of ``subset`` MOSES molecules (``"all"``) in a fresh single-threaded process.

    Its CPU seconds beside the wall time: on a shared machine the wall time says more about the neighbours.
    Peak memory is that process's ``ru_maxrss`` (the resident peak, what an out-of-memory kill sees); its
    resident memory after the imports (torch, rdkit, eqlatent) is the floor, shown apart.  A cache
    already complete is only checked.
    """
    from eqlatent.data.zinc_shards import SHARD_SIZE

    built_before = any(Path(cache_dir).glob("zinc-*-shards/manifest.json"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _PREPARE_ZINC, str(cache_dir), str(subset)], env=env,
                          capture_output=True, text=True, check=True)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    drops = "; ".join(f"{n:,} x {why}" for why, n in sorted(r["dropped"].items())) or "none"
    how = "checked (already built)" if built_before else f"built, shards of {SHARD_SIZE:,}"
    return [f"{r['read']:,}", how, f"{r['kept']:,}", r["seconds"], r["cpu_s"], r["read"] / max(r["cpu_s"], 1e-9),
            r["peak_kb"] / 1024, r["base_kb"] / 1024, drops]


def zinc_epoch_row(cache_dir: str | Path, subset: int | str, n_train: int) -> list[object]:
    """(h) One epoch of the ZINC study's VAE (cpu profile, its batch size) over ``n_train`` molecules, per 100k.

    Fed by the study's own loader from the sharded cache (bonds densified per batch); timed from the
    epoch's start to its end inside a Lightning fit (no trainer set-up, no checkpoint), scaled to 100k.
    """
    import warnings

    import lightning as L
    from lightning.pytorch.callbacks import Callback

    from eqlatent.data.zinc import load_zinc
    from eqlatent.runtime.console import configure_console
    from eqlatent.studies.molecules.training import build_model, graph_loader

    configure_console()   # also when called on its own, not through main(): no third-party tips

    class EpochTimer(Callback):
        def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: ANN001
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            self.seconds = time.perf_counter() - self.t0

    cfg = _experiment("molecules_zinc")
    ds = load_zinc(cache_dir=str(cache_dir), subset=subset, storage="shards")
    rows = ds.split["train"][:n_train]
    batch, d = int(cfg.molecules.batch_size), int(list(cfg.molecules.latent_dims)[-1])
    model = build_model(cfg, ds, d)
    timer = EpochTimer()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, callbacks=[timer])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # Lightning's advice on workers and val loaders: not what is measured
        trainer.fit(model, graph_loader(ds, rows, batch, True, 0))
    steps = -(-len(rows) // batch)
    return [f"ZINC graph VAE d={d} (cpu profile)", f"{len(rows):,}", batch, timer.seconds / steps * 1e3,
            timer.seconds * 100_000 / len(rows) / 60]


def zinc_at_scale(quick: bool, whole: bool) -> str:
    """(h) The rows of ZINC at scale: prepare 100k (500 with --quick) and, with ``whole``, all 1.58 M; an epoch."""
    n = 500 if quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        prepare = [zinc_prepare_row(tmp, n)]
        epoch = [zinc_epoch_row(tmp, n, 128 if quick else 3_200)]
    if whole:   # into data/processed, where `eqlatent reproduce zinc data.subset=all` finds it afterwards
        prepare.append(zinc_prepare_row(project_root() / "data" / "processed", "all"))
    return ("## (h) ZINC at scale\n\nBuilding the sharded cache of MOSES molecules in a fresh process, one thread "
            "(`data.subset=all` builds all 1,584,663: `eqlatent bench --zinc-all`):\n\n" + markdown_table(
                ["molecules read", "cache", "kept", "seconds", "CPU seconds", "molecules per CPU s", "peak RSS MB",
                 "RSS after imports MB",
                 "dropped"], prepare)
            + "\n\nOne epoch of the ZINC study's VAE, fed from that cache by the study's loader:\n\n" + markdown_table(
                ["model", "molecules timed", "batch", "ms per step", "epoch minutes per 100k molecules"], epoch))


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(  # prog: the script's name, or `eqlatent bench` when run through the eqlatent command
        description="Time the pipeline: each projection against its encoder, latent-extraction throughput, scaling, "
                    "QM9 preprocessing, data loading, the toolkit API; prints and writes outputs/bench/bench.md.",
        epilog="example: eqlatent bench --quick   (= make bench ARGS=--quick = python benchmarks/bench.py --quick)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, no cold QM9 build (smoke test)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (default 7; 2 with --quick)")
    ap.add_argument("--zinc-all", action="store_true",
                    help="also build the sharded cache of all 1,584,663 MOSES molecules into data/processed "
                         "(~1.5-2 h on one core; a cache already there is only checked)")
    ap.add_argument("--out", default=str(project_root() / "outputs" / "bench" / "bench.md"),
                    help="markdown file written (default outputs/bench/bench.md)")
    args = ap.parse_args(argv)
    from eqlatent.runtime.console import configure_console

    configure_console()   # one line per event, no third-party tips (as in `python -m eqlatent.cli.run`)
    repeats = args.repeats or (2 if args.quick else 7)
    proj_repeats = 5 * repeats  # projections take well under a millisecond: more runs for a stable median
    batch = 32 if args.quick else 256
    encoders = ["c8", "cnn_aug"] if args.quick else None
    torch.manual_seed(0)

    parts = [f"# eqlatent benchmarks\n\nMachine: {platform.processor() or platform.machine()}, "
             f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, devices: {', '.join(_devices())}. "
             f"Median of {repeats} runs after warm-up ({proj_repeats} for the sub-millisecond projections); "
             f"{'--quick sizes' if args.quick else 'full sizes'}.\n"]
    proj_rows = (molecule_projection_costs(batch, repeats, proj_repeats)
                 + image_projection_costs(batch, repeats, proj_repeats, encoders))
    over = [f"{r[0]} {r[1]}" for r in proj_rows if r[5] == "NO"]
    verdict = ("every projection is under the 2% target" if not over
               else f"{len(over)} projection(s) over the 2% target: " + "; ".join(over))
    parts.append(f"## (a) Projection cost vs encoder forward (batch {batch}, CPU)\n\n" + markdown_table(
        ["encoder", "projection", "encoder ms", "projection ms", "% of encoder", "< 2%"], proj_rows)
        + f"\n\n{verdict}.  The orbit projections of the plain CNNs need the latents of M rotated input "
        "copies: that is M extra encoder passes, listed on their own row, not a projection cost.")
    parts.append("## (b) Latent-extraction throughput\n\n" + markdown_table(
        ["encoder", "device", "batch", "items/s"], extraction_throughput(repeats, encoders, batch)))
    by_n, by_batch, by_k = scaling(repeats, args.quick)
    parts.append("## (c) Scaling\n\nGraph size (batch 64, random graphs):\n\n" + markdown_table(
        ["nodes n", "VAE encode ms", "sort ms (d=1)", "lex_sort ms (d=4)"], by_n))
    parts.append("Batch size (QM9-sized random graphs, VAE encode):\n\n" + markdown_table(
        ["batch", "ms", "molecules/s"], by_batch))
    parts.append("K random invariant functionals (C_8 latent, 12 fields = dim 96, batch 256):\n\n" + markdown_table(
        ["K", "ms"], by_k))
    if not args.quick:
        parts.append("## (d) QM9 preprocessing from the shipped CSVs\n\n" + markdown_table(
            ["path", "molecules", "seconds"], qm9_preprocessing()))
    parts.append("## (e) Data loading vs a training step\n\n" + markdown_table(
        ["training", "device", "batch", "loading ms/batch", "train step ms", "loading % of step"],
        loading_vs_training(repeats, args.quick))
        + "\n\nLoading = one epoch of the study's DataLoader over the cached tensors (incl. the copy to the device) "
        "divided by its batches; train step = forward, backward and Adam step on one batch.")
    parts.append("## (f) Toolkit API on your own model's sizes (CPU)\n\n" + markdown_table(
        ["encoder (synthetic inputs)", "API call", "encoder ms", "projection ms", "% of encoder", "< 2%"],
        api_costs(repeats, args.quick))
        + "\n\nRun this section alone: `.venv/bin/python -c \"import sys; sys.path.insert(0, 'benchmarks'); "
        "import bench; print(bench.api_costs(7, False))\"`.")
    parts.append("## (g) Paper-profile training steps\n\n" + markdown_table(
        ["model", "device", "batch", "parameters", "ops per step", "step ms"],
        [row for device in _devices() for row in paper_training_steps(args.quick, device)])
        + "\n\nOps = every torch.profiler event of one training step inside a Lightning fit (forward, loss, logging, "
        "backward, optimiser; nested events included), on synthetic inputs of the paper's shapes.  On a GPU these small "
        "models are bound by that count (kernel launches), so it tracks GPU cost on any machine.")
    parts.append(zinc_at_scale(args.quick, args.zinc_all))
    text = "\n\n".join(parts) + "\n"
    atomic_write_text(args.out, text)
    print(text)
    print(f"written to {args.out}")
    return text


if __name__ == "__main__":
    main()
