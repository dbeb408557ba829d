"""Same seed, same numbers: two independent tiny runs of a study give identical metrics.

On the CPU every number is equal.  On a GPU (``pytest -m gpu``) the runs use deterministic
kernels (``trainer.deterministic: true``; every op the two studies train with has one), so they
are expected to be equal too.  The comparison there allows a relative 1e-6 (about 8 float32
ulps): the round-off of one sum taken in another order, not a difference that training
compounds (without deterministic kernels, 44 metrics of the images run differed on an H200).

(The resume tests in tests/studies/molecules/test_study.py / tests/studies/images/test_study.py add that a run killed
mid-training and resumed ends where an uninterrupted run ends.)
"""

from __future__ import annotations

import json
import math

from eqlatent.runtime.config import compose
from eqlatent.cli.run import run_study

TIMING_KEYS = ("time", "wall", "_s")
#: relative tolerance of same-seed metrics on a GPU (exact on the CPU), see the module docstring
CUDA_REL_TOL = 1e-6
ACCELERATOR = {"cpu": "cpu", "cuda": "gpu"}


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


def _same(a: dict, b: dict, rel_tol: float = 0.0) -> list[str]:
    """The metrics that differ (by more than ``rel_tol``, relative) between two metrics.json."""
    na, nb = dict(_numbers(a)), dict(_numbers(b))
    assert na.keys() == nb.keys()
    return [k for k in na
            if not (math.isclose(na[k], nb[k], rel_tol=rel_tol) or (math.isnan(na[k]) and math.isnan(nb[k])))]


def _tolerance(device: str) -> float:
    return CUDA_REL_TOL if device == "cuda" else 0.0


def test_same_helper_compares_exactly_or_within_the_tolerance():
    a, b = {"x": {"acc": 0.5, "d": [1.0, float("nan")]}}, {"x": {"acc": 0.5 * (1 + 5e-7), "d": [1.0, float("nan")]}}
    assert _same(a, b) == ["/x/acc"] and _same(a, b, CUDA_REL_TOL) == []
    assert _same(a, {"x": {"acc": 0.5001, "d": [1.0, float("nan")]}}, CUDA_REL_TOL) == ["/x/acc"]


def test_molecules_same_seed_same_metrics(tmp_path, device):
    tiny = ["experiment=molecules", "profile=cpu", "logger=csv", "seed=3", "profile.molecules.n_molecules=200",
            "profile.molecules.epochs=1", "profile.molecules.latent_dims=[1]", "model.graph_vae.hidden=8",
            "model.graph_vae.width=8", "model.graph_vae.n_layers=2", "profile.molecules.n_eval=40", "profile.molecules.tsne_points=40",
            "probe.mlp_regressor.max_iter=20", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
            f"trainer.accelerator={ACCELERATOR[device]}"]
    runs = []
    for name in ("a", "b"):
        run_study(compose(tiny + [f"paths.output_root={tmp_path / name}"]))
        runs.append(json.loads((tmp_path / name / "molecules" / "cpu-seed3" / "metrics.json").read_text()))
    assert _same(*runs, rel_tol=_tolerance(device)) == []
    assert "seed3" in runs[0]["run_name"]  # the results state their seed


def test_images_same_seed_same_metrics(tmp_path, device):
    tiny = ["experiment=images", "profile=cpu", "logger=csv", "seed=5", "model=c8", "profile.images.epochs=1",
            "profile.images.n_train=128", "profile.images.n_test=64", "profile.images.n_probe_train=64",
            "profile.images.n_eval=50", "profile.images.n_invariance=16", "profile.images.k_multipliers=[1]",
            "profile.images.tsne_encoders=[]", "callbacks.rich_progress_bar=null",
            f"trainer.accelerator={ACCELERATOR[device]}"]
    runs = []
    for name in ("a", "b"):
        run_study(compose(tiny + [f"paths.output_root={tmp_path / name}"]))
        runs.append(json.loads((tmp_path / name / "images" / "cpu-seed5" / "metrics.json").read_text()))
    assert _same(*runs, rel_tol=_tolerance(device)) == []
    assert runs[0]["info"]["seed"] == 5
