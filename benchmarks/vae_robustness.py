"""Is the cpu profile's graph VAE a robust result?  Exact reconstruction per seed and per float-level change.

Why: a "competent model" whose seed-0 score moves from 50 % to 22 % with the CPU it runs on
is not a result.  This script trains the molecules study's own VAE (``train_or_load`` of
``studies/molecules/training.py``, composed from ``configs/``, the profile's epochs and sizes)
for each seed and latent size, scores the exact reconstruction of the whole QM9 test split
from the posterior mean as the study does (float64, valence decoding), and appends one row
per fit to ``outputs/vae_robustness/rows.jsonl``.  Float-level variants are separate
invocations under another ``--label``: another Adam kernel (``model.graph_vae.adam_kernel=fused``),
another thread count (``profile.molecules.torch_threads=1``) or another CPU kernel set
(``ATEN_CPU_CAPABILITY=default`` / ``avx2`` in the environment).  ``--table`` prints every row.

Trained models are kept under ``outputs/vae_robustness/<label>/seed<s>/latent<d>/`` and reused.

``--experiment molecules_zinc`` measures the ZINC study's VAE the same way (its curves of exact
rate against epochs, width and training-set size: issue "ZINC for real").

Usage::

    python benchmarks/vae_robustness.py --label base --seeds 0 1 2 --latent-dims 1 4
    ATEN_CPU_CAPABILITY=avx2 python benchmarks/vae_robustness.py --label avx2 --seeds 0
    python benchmarks/vae_robustness.py --table
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "outputs" / "vae_robustness"


def _row(label: str, seed: int, d: int, overrides: list[str], train_s: float, exact: float, valid: float,
         epochs: int) -> dict:
    import torch

    return {"label": label, "seed": seed, "latent_dim": d, "epochs": epochs, "exact": exact, "valid": valid,
            "train_s": round(train_s, 1), "overrides": overrides, "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY", "")}


def fit_and_score(label: str, seed: int, d: int, overrides: list[str], experiment: str = "molecules") -> dict:
    """Train (or reuse) one VAE of the study's config (``experiment``) and score it on the test split."""
    import hydra
    import lightning
    import torch

    from eqlatent.runtime.config import compose
    from eqlatent.studies.molecules.reconstruction import reconstruction_scores
    from eqlatent.studies.molecules.training import (apply_torch_threads, graph_loader, train_or_load,
                                                       training_epochs)

    cfg = compose([f"experiment={experiment}", f"seed={seed}", "trainer.enable_progress_bar=false", "logger=csv",
                   f"paths.output_root={OUT / label}", f"run_name=seed{seed}", *overrides])
    apply_torch_threads(cfg.molecules)
    lightning.seed_everything(seed, workers=True, verbose=False)
    ds = hydra.utils.instantiate(cfg.data)
    t0 = time.perf_counter()
    fitted = train_or_load(cfg, ds, d, OUT / label / f"seed{seed}" / f"latent{d}")
    model, trained = fitted.model, fitted.trained
    train_s = time.perf_counter() - t0 if trained else float("nan")
    test = ds.split["test"]
    model = model.double().eval()
    with torch.no_grad():   # the test split only, in the study's dtype (float64)
        mu = torch.cat([model.encode(node, bond)[0] for node, bond in
                        graph_loader(ds, test, 512, shuffle=False, seed=0, loader_cfg={"pin_memory": False})])
    scores, _ = reconstruction_scores(model, mu, ds.node_type[test], ds.bond_type[test].long(), ds.atom_types)
    return {**_row(label, seed, d, overrides, train_s, scores["graph_exact"], scores["validity"],
                   training_epochs(cfg, d)), "experiment": experiment, "n_train": len(ds.split["train"]),
            "n_test": len(test)}


def table() -> str:
    rows = [json.loads(line) for line in (OUT / "rows.jsonl").read_text().splitlines() if line.strip()]
    head = "| label | seed | d | epochs | exact | valid | train s | threads | cpu kernels | overrides |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        kernels = r["cpu_capability"] + (f" (env {r['aten_cpu_capability_env']})" if r["aten_cpu_capability_env"] else "")
        label = r["label"] if r.get("experiment", "molecules") == "molecules" else f"{r['experiment']}: {r['label']}"
        lines.append(f"| {label} | {r['seed']} | {r['latent_dim']} | {r['epochs']} | {100 * r['exact']:.1f} % | "
                     f"{100 * r['valid']:.1f} % | {r['train_s']} | {r['threads']} | {kernels} | "
                     f"{' '.join(r['overrides'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", default="base", help="name of this variant (its own model folders)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--latent-dims", type=int, nargs="+", default=[1])
    parser.add_argument("--experiment", default="molecules",
                        help="the study's experiment config: molecules (QM9) or molecules_zinc (its VAE curves)")
    parser.add_argument("--table", action="store_true", help="print every recorded row and exit")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model.graph_vae.adam_kernel=fused")
    args = parser.parse_args(argv)
    if args.table:
        print(table())
        return
    OUT.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for d in args.latent_dims:
            row = fit_and_score(args.label, seed, d, args.overrides, args.experiment)
            with open(OUT / "rows.jsonl", "a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{args.label} seed {seed} d={d}: exact {100 * row['exact']:.1f} %, valid {100 * row['valid']:.1f} %, "
                  f"{row['train_s']} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
