"""Train the e3nn encoder on QM9's DFT geometries on the CPU and print its learning curve (temporary home).

Why a script before the study: the QM9-3D study needs an encoder that is competent within
the cpu profile's budget (gap test MAE <= 0.30 eV in <= 15 min on 2 cores); this finds the
configuration.  Each run prints one line per epoch (train and validation MAE of each target in
its unit, wall and CPU time) and appends its settings, curve and test MAE to a JSON-lines file.

The training molecules are the first ``--n-train`` of the seeded training split (the 2-D QM9
study's split), validation the first ``--n-val`` of its validation split, and the test MAE is
measured on the first ``--n-test`` (0 = all 13,083) of its test split, with the last epoch's
weights (no selection on the test set).

Example::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/qm9_3d_train.py --n-train 2000 --epochs 3 --label smoke
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import torch

from eqlatent.data.qm9_3d import load_qm9_3d
from eqlatent.runtime.io import atomic_write_json
from eqlatent.models.e3nn_regressor import E3nnRegressor

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a = p.add_argument
    a("--label", default="run", help="name of the run in the JSON-lines record")
    a("--targets", default="gap", help="comma-separated QM9 targets (e.g. gap or gap,homo,lumo)")
    a("--n-train", type=int, default=10000)
    a("--n-val", type=int, default=1000)
    a("--n-test", type=int, default=0, help="0 = the whole test split (13,083)")
    a("--epochs", type=int, default=10)
    a("--batch-size", type=int, default=64)
    a("--lr", type=float, default=5e-3)
    a("--weight-decay", type=float, default=0.0)
    a("--schedule", default="cosine", choices=["cosine", "onecycle", "constant"])
    a("--warmup", type=float, default=0.05)
    a("--loss", default="l1", choices=["l1", "mse"])
    a("--irreps-hidden", default="32x0e+8x1o+4x2e")
    a("--irreps-latent", default="32x0e+8x1o+4x2e")
    a("--layers", type=int, default=3)
    a("--lmax", type=int, default=2)
    a("--cutoff", type=float, default=5.0)
    a("--n-basis", type=int, default=8)
    a("--radial-hidden", type=int, default=32)
    a("--avg-neighbors", type=float, default=12.0)
    a("--pool", default="mean", choices=["mean", "sum"])
    a("--head-hidden", type=int, default=64)
    a("--threads", type=int, default=2, help="torch threads (the cpu profile's 2 cores)")
    a("--max-minutes", type=float, default=0, help="stop training after this wall time (0 = no limit)")
    a("--seed", type=int, default=0)
    a("--out", default=str(ROOT / "outputs" / "qm9_3d_runs" / "runs.jsonl"))
    return p.parse_args(argv)


class EpochLine(L.Callback):
    """One console line per epoch: train/val MAE per target, wall and CPU seconds since the start."""

    def __init__(self, names: list[str], units: list[str], t0: float, c0: float, partial: Path | None = None,
                 header: dict | None = None) -> None:
        self.names, self.units, self.t0, self.c0, self.curve = names, units, t0, c0, []
        self.partial, self.header = partial, header or {}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        m = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1, "wall_s": round(time.time() - self.t0, 1),
               "cpu_s": round(time.process_time() - self.c0, 1)}
        parts = []
        for name, unit in zip(self.names, self.units):
            tr, va = m.get(f"train/mae_{name}"), m.get(f"val/mae_{name}")
            row[f"train_mae_{name}"] = None if tr is None else float(tr)
            row[f"val_mae_{name}"] = None if va is None else float(va)
            parts.append(f"{name} train {row[f'train_mae_{name}'] or float('nan'):.4f} "
                         f"val {row[f'val_mae_{name}'] or float('nan'):.4f} {unit}")
        self.curve.append(row)
        if self.partial is not None:  # the curve so far survives a killed run
            atomic_write_json(self.partial, {**self.header, "status": "running", "curve": self.curve})
        print(f"epoch {row['epoch']:3d}  {'  '.join(parts)}  wall {row['wall_s']:.0f} s  cpu {row['cpu_s']:.0f} s",
              flush=True)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no device/tip banners: one line per epoch
    torch.set_flush_denormal(True)  # envelope tails near the cutoff otherwise slow float32 math on x86
    L.seed_everything(args.seed, verbose=False)
    t0, c0 = time.time(), time.process_time()

    ds = load_qm9_3d(cache_dir=str(ROOT / "data" / "processed"))
    names = [t.strip() for t in args.targets.split(",") if t.strip()]
    for n in names:
        ds.target(n)  # a one-line error naming the available targets if n is unknown
    columns = [ds.target_names.index(n) for n in names]
    units = [ds.target_units[c] for c in columns]
    part = {"train": ds.split["train"][:args.n_train], "val": ds.split["val"][:args.n_val],
            "test": ds.split["test"][:args.n_test] if args.n_test else ds.split["test"]}
    ds.split = part
    y = ds.targets[part["train"]][:, columns]
    model = E3nnRegressor(
        encoder=dict(irreps_hidden=args.irreps_hidden, irreps_latent=args.irreps_latent, n_layers=args.layers,
                     lmax=args.lmax, cutoff=args.cutoff, n_basis=args.n_basis, radial_hidden=args.radial_hidden,
                     avg_neighbors=args.avg_neighbors, pool=args.pool),
        target_columns=columns, target_names=names, target_units=units, target_mean=y.mean(0).tolist(),
        target_std=y.std(0).tolist(), head_hidden=args.head_hidden, lr=args.lr, weight_decay=args.weight_decay,
        schedule=args.schedule, warmup=args.warmup, loss=args.loss)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"qm9_3d: train {len(part['train']):,} / val {len(part['val']):,} / test {len(part['test']):,} molecules; "
          f"targets {', '.join(names)}; {n_params:,} parameters; latent {model.encoder.irreps_latent}; "
          f"{args.threads} threads", flush=True)

    partial = Path(args.out).with_name(f"{args.label}.partial.json")
    lines = EpochLine(names, units, t0, c0, partial, {"label": args.label, "settings": vars(args), "n_params": n_params})
    trainer = L.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[lines],
                        max_time={"minutes": args.max_minutes} if args.max_minutes else None)
    trainer.fit(model, ds.loader("train", args.batch_size, shuffle=True, seed=args.seed),
                ds.loader("val", 256))
    fit_wall, fit_cpu = time.time() - t0, time.process_time() - c0
    test = trainer.test(model, ds.loader("test", 256), verbose=False)[0]
    test_mae = {n: float(test[f"test/mae_{n}"]) for n in names}
    wall, cpu = time.time() - t0, time.process_time() - c0
    print("test MAE  " + "  ".join(f"{n} {v:.4f} {u}" for (n, v), u in zip(test_mae.items(), units))
          + f"  (train+val {fit_wall:.0f} s wall, {fit_cpu:.0f} s cpu; with test {wall:.0f} s wall, {cpu:.0f} s cpu)",
          flush=True)
    record = {
        "label": args.label, "settings": vars(args), "n_params": n_params, "curve": lines.curve,
        "test_mae": test_mae, "units": dict(zip(names, units)), "epochs_done": trainer.current_epoch,
        "fit_wall_s": round(fit_wall, 1), "fit_cpu_s": round(fit_cpu, 1), "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1), "load_avg": os.getloadavg(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as f:
        f.write(json.dumps(record) + "\n")
    partial.unlink(missing_ok=True)
    return record


if __name__ == "__main__":
    main(sys.argv[1:])
