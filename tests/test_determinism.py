"""Same seed, same numbers: two independent tiny runs of a study give identical metrics on CPU.

(The resume tests in test_molecules_study.py / test_images_study.py add that a run killed
mid-training and resumed ends where an uninterrupted run ends.)
"""

from __future__ import annotations

import json
import math

from eqlatent.config import compose
from eqlatent.run import run_study

TIMING_KEYS = ("time", "wall", "_s")


def _numbers(obj, prefix=""):
    """Every numeric leaf of a metrics.json, keyed by its path (timings left out)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{prefix}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{prefix}/{i}")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        if not any(t in prefix.rsplit("/", 1)[-1] for t in TIMING_KEYS):
            yield prefix, float(obj)


def _same(a: dict, b: dict) -> list[str]:
    na, nb = dict(_numbers(a)), dict(_numbers(b))
    assert na.keys() == nb.keys()
    return [k for k in na if not (na[k] == nb[k] or (math.isnan(na[k]) and math.isnan(nb[k])))]


def test_molecules_same_seed_same_metrics(tmp_path):
    tiny = ["experiment=molecules", "profile=cpu", "logger=csv", "seed=3", "profile.molecules.n_molecules=200",
            "profile.molecules.epochs=1", "profile.molecules.latent_dims=[1]", "profile.molecules.hidden=8",
            "profile.molecules.width=8", "profile.molecules.n_layers=2", "profile.molecules.n_eval=40", "profile.molecules.tsne_points=40",
            "probe.mlp_regressor.max_iter=20", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false"]
    runs = []
    for name in ("a", "b"):
        run_study(compose(tiny + [f"paths.output_root={tmp_path / name}"]))
        runs.append(json.loads((tmp_path / name / "molecules" / "cpu-seed3" / "metrics.json").read_text()))
    assert _same(*runs) == []
    assert "seed3" in runs[0]["run_name"]  # the results state their seed


def test_images_same_seed_same_metrics(tmp_path):
    tiny = ["experiment=images", "profile=cpu", "logger=csv", "seed=5", "model=c8", "profile.images.epochs=1",
            "profile.images.n_train=128", "profile.images.n_test=64", "profile.images.n_probe_train=64",
            "profile.images.n_eval=50", "profile.images.n_invariance=16", "profile.images.k_multipliers=[1]",
            "profile.images.tsne_encoders=[]", "callbacks.rich_progress_bar=null"]
    runs = []
    for name in ("a", "b"):
        run_study(compose(tiny + [f"paths.output_root={tmp_path / name}"]))
        runs.append(json.loads((tmp_path / name / "images" / "cpu-seed5" / "metrics.json").read_text()))
    assert _same(*runs) == []
    assert runs[0]["info"]["seed"] == 5
