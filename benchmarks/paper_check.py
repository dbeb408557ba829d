"""Exercise the `paper` profile on this machine: ``make paper-check`` (``python benchmarks/paper_check.py``).

Why: the paper profile (all of QM9, all 50k training digits, the paper's model sizes and
epochs) is meant for a GPU, and a profile that never runs is a profile that does not
work.  This script trains every model of that profile for ONE epoch over the full data,
through the studies' own training functions (``train_encoder`` for the image encoders,
``train_or_load`` for the graph VAEs), measures the median time of a training step
(:class:`timing.StepTimer`), and projects the wall time of the whole profile here (step
time x batches per epoch x the profile's epochs, summed over the models).
Training dominates both studies; the analysis after it (projections, metrics, probes)
is not included in the projection and is stated as such.

``--fraction f`` trains on the first fraction of each epoch's batches (the step time is a
median, so fixed costs such as building the trainer are not scaled up with it); the
default 1.0 is the full epoch.  ``tests/benchmarks/test_paper_check.py`` smoke-runs it on tiny data.  Prints a
table and writes ``outputs/bench/paper_check.md``.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import StepTimer, markdown_table  # noqa: E402

from eqlatent.runtime.config import compose, project_root  # noqa: E402
from eqlatent.runtime.io import atomic_write_text  # noqa: E402


def _paper_config(experiment: str, out_root: str, fraction: float, extra: list[str]):
    overrides = [f"experiment={experiment}", "profile=paper", "logger=csv", f"paths.output_root={out_root}",
                 "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
                 f"++trainer.limit_train_batches={fraction}", "++trainer.limit_val_batches=0",
                 "+callbacks.step_timer._target_=timing.StepTimer", *extra]
    return compose(overrides, with_hydra=False)


def time_image_encoders(out_root: str, fraction: float, extra: list[str]) -> list[dict]:
    """One epoch of every image encoder of the paper profile, over the full rotated-MNIST training split."""
    import hydra

    from eqlatent.studies.images.latents import epochs_for, train_encoder

    paper = compose(["experiment=images", "profile=paper"], with_hydra=False)
    cfg = _paper_config("images", out_root, fraction,
                        ["profile.images.epochs=1", "profile.images.epochs_by_encoder=null", *extra])
    data = hydra.utils.instantiate(cfg.data)
    rows = []
    for name, mcfg in cfg.model.items():
        if mcfg is None:
            continue
        model, _ = train_encoder(cfg, name, mcfg, data, Path(out_root) / "images" / name)
        seconds = StepTimer.results.pop() * math.ceil(len(data.train) / int(cfg.images.batch_size))
        rows.append({"study": "images", "model": name, "n_train": len(data.train),
                     "parameters": sum(p.numel() for p in model.parameters()), "epoch_s": seconds,
                     "epochs": epochs_for(paper, name),  # the paper profile's own count, per encoder
                     "epochs_run": model.trainer.current_epoch})
        print(f"[paper-check] images/{name}: {seconds:.0f} s per epoch over {len(data.train)} digits", flush=True)
    return rows


def time_graph_vaes(out_root: str, fraction: float, extra: list[str]) -> list[dict]:
    """One epoch of the graph VAE for every latent size of the paper profile, over QM9's training split."""
    import hydra

    from eqlatent.studies.molecules.training import train_or_load

    paper_epochs = int(compose(["experiment=molecules", "profile=paper"], with_hydra=False).profile.molecules.epochs)
    # no validation here, so the plateau schedule (stepped once an epoch on the validation loss) has nothing to read
    cfg = _paper_config("molecules", out_root, fraction,
                        ["profile.molecules.epochs=1", "model.graph_vae.lr_schedule=constant", *extra])
    ds = hydra.utils.instantiate(cfg.data)
    rows = []
    for d in cfg.molecules.latent_dims:
        model = train_or_load(cfg, ds, int(d), Path(out_root) / "molecules" / f"latent{d}").model
        seconds = StepTimer.results.pop() * math.ceil(len(ds.split["train"]) / int(cfg.molecules.batch_size))
        rows.append({"study": "molecules", "model": f"graph VAE d={d}", "n_train": len(ds.split["train"]),
                     "parameters": sum(p.numel() for p in model.parameters()), "epoch_s": seconds,
                     "epochs": paper_epochs, "epochs_run": model.trainer.current_epoch})
        print(f"[paper-check] molecules/latent{d}: {seconds:.0f} s per epoch over {len(ds.split['train'])} molecules",
              flush=True)
    return rows


def report(rows: list[dict], fraction: float) -> str:
    """Markdown: per-model epoch time and projected training time of the paper profile on this machine."""
    table = [[r["study"], r["model"], f"{r['parameters']:,}", f"{r['n_train']:,}", r["epochs_run"], r["epoch_s"],
              r["epochs"], r["epoch_s"] * r["epochs"] / 3600] for r in rows]
    total = {s: sum(r["epoch_s"] * r["epochs"] for r in rows if r["study"] == s) / 3600 for s in {r["study"] for r in rows}}
    lines = ["# Paper profile on this machine", "",
             f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
             f"CUDA {'yes' if torch.cuda.is_available() else 'no'}. One epoch over the full training data per model"
             + ("" if fraction >= 1 else f" (trained on {fraction:g} of its batches)")
             + ": median seconds of a training step x batches per epoch.", "",
             markdown_table(["study", "model", "parameters", "training items", "epochs run here", "s / epoch",
                             "paper epochs", "projected training h"], table), ""]
    lines += [f"Projected training time of `PROFILE=paper make reproduce-{s}` here: **{h:.3g} h** "
              "(training only; the analysis after it takes minutes)." for s, h in sorted(total.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, rows_out: list[dict] | None = None) -> str:
    """Run the check; returns the markdown.  ``rows_out``: a list that receives the per-model rows."""
    parser = argparse.ArgumentParser(  # prog: the script's name, or `eqlatent paper-check` through the eqlatent command
        description="Train every paper-profile model for one epoch on this machine and project the paper profile's "
                    "training time; prints and writes outputs/bench/paper_check.md.",
        epilog="example: eqlatent paper-check --study images --fraction 0.1   (= python benchmarks/paper_check.py ...)")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of each epoch's batches to time (0, 1]")
    parser.add_argument("--study", choices=["images", "molecules", "both"], default="both",
                        help="whose models to train (default both)")
    parser.add_argument("--out", default=str(project_root() / "outputs" / "bench" / "paper_check.md"),
                        help="markdown file written (default outputs/bench/paper_check.md)")
    parser.add_argument("--images-override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for the images study (repeatable)")
    parser.add_argument("--molecules-override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for the molecules study (repeatable)")
    args = parser.parse_args(argv)
    from eqlatent.runtime.console import configure_console

    configure_console()   # one line per event, no third-party tips (as in `python -m eqlatent.cli.run`)
    # matmul_precision: set by every fit from its config (studies.fitting.fit_in_folder), so timed as a real run
    if not 0 < args.fraction <= 1:
        parser.error(f"--fraction must be in (0, 1], got {args.fraction}")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="paper_check_") as tmp:
        if args.study in ("molecules", "both"):
            rows += time_graph_vaes(tmp, args.fraction, args.molecules_override)
        if args.study in ("images", "both"):
            rows += time_image_encoders(tmp, args.fraction, args.images_override)
    if rows_out is not None:
        rows_out.extend(rows)
    md = report(rows, args.fraction)
    atomic_write_text(Path(args.out), md)
    print(md)
    return md


if __name__ == "__main__":
    main()
