"""The ZINC study trains and analyses from a sharded cache exactly as from the in-memory tensors.

200 real MOSES molecules, written to a small CSV; the study's whole pipeline (training from the
loader, latents, reconstruction, ceiling, decodability, probes, interpolations) runs on both
storages and must give the same numbers and the same latents.
"""

from __future__ import annotations

import gzip
import math

import torch

from eqlatent.runtime.config import compose
from eqlatent.data import zinc
from eqlatent.cli.run import run_study
from tests.studies.molecules.test_study import TINY


def test_the_study_gives_the_same_numbers_from_shards_and_from_memory(tmp_path):
    with gzip.open(zinc.moses_train_csv(), "rt") as f:
        lines = [next(f).strip() for _ in range(201)]            # header and 200 molecules
    csv = tmp_path / "moses200.csv"
    csv.write_text("\n".join(lines) + "\n")
    tiny = [o.replace("experiment=molecules", "experiment=molecules_zinc") for o in TINY
            if not o.startswith(("profile.molecules.n_molecules", "profile.molecules.latent_dims"))]
    summaries, latents = {}, {}
    for storage in ("memory", "shards"):
        cfg = compose(tiny + ["data.subset=all", f"data.path={csv}", f"+data.storage={storage}", "+data.shard_size=64",
                              f"data.cache_dir={tmp_path / 'cache'}", "profile.molecules.epochs=1",
                              "molecules.n_eval=20", "molecules.latent_dims=[1]", "molecules.n_probe_train=0",
                              f"paths.output_root={tmp_path / storage}"])
        summaries[storage] = run_study(cfg)
        latents[storage] = torch.load(tmp_path / storage / "molecules_zinc" / cfg.run_name / "latent1" / "latents.pt")
    assert any((tmp_path / "cache").glob("zinc-*-shards/manifest.json"))    # the second run read shards
    a, b = summaries["memory"], summaries["shards"]
    assert a.keys() == b.keys() and "latent1/recon_posterior_mean/graph_exact" in a
    assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a), \
        [k for k in a if a[k] != b[k]]
    assert torch.equal(latents["memory"]["mu"], latents["shards"]["mu"])
