"""One training epoch of the cpu profile's graph VAE on QM9, timed: compare two checkouts of eqlatent.

Why a script of its own: a refactor must not make training slower, and the machines are too
noisy to compare two timings taken at different moments.  Run this script once per checkout
(``PYTHONPATH=<checkout>/src``), in turn, with a whole-process timer pairing the two commands;
each run also prints the seconds ``Trainer.fit`` itself took, which leaves out imports and data
loading.  The model, data and batches are the study's own (``train_or_load`` of
``studies/molecules/training.py``, composed from the checkout's ``configs/``), trained into a
temporary folder that is removed afterwards.

Usage::

    python benchmarks/vae_epoch.py [--molecules 8000] [--latent-dim 1] [--data-dir data] [key=value ...]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--molecules", type=int, default=8000, help="QM9 molecules (80 %% train; default 8000)")
    parser.add_argument("--latent-dim", type=int, default=1)
    parser.add_argument("--data-dir", default=None, help="folder holding processed/ (default: the checkout's data/)")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides, e.g. trainer.deterministic=false")
    args = parser.parse_args(argv)

    import hydra
    import torch

    from eqlatent.runtime.config import compose
    from eqlatent.studies.molecules.training import train_or_load

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        overrides = ["experiment=molecules", f"profile.molecules.n_molecules={args.molecules}",
                     "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "logger=csv",
                     f"paths.output_root={tmp}", *args.overrides]
        if args.data_dir:
            overrides.append(f"paths.data_dir={Path(args.data_dir).resolve()}")
        cfg = compose(overrides)
        torch.manual_seed(int(cfg.seed))
        ds = hydra.utils.instantiate(cfg.data)
        t0 = time.perf_counter()
        train_or_load(cfg, ds, args.latent_dim, Path(tmp) / f"latent{args.latent_dim}")
        seconds = time.perf_counter() - t0
    print(f"one epoch, {args.molecules} QM9 molecules, latent_dim={args.latent_dim}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads: fit {seconds:.2f} s")
    return seconds


if __name__ == "__main__":
    main(sys.argv[1:])
