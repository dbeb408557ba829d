"""Smoke run of the images study on ~500 real rotated-MNIST digits (all five encoders, 1 epoch).

Checks that the pipeline runs end to end through the real Hydra config, writes every
output it promises (results.md with both verdicts, metrics.json, figures, cached latents,
checkpoints), that invariant projections are exactly invariant to quarter turns on real
latents, and that a re-run reuses the cached latents instead of retraining.
"""

from __future__ import annotations

import json

import pytest

from eqlatent.runtime.config import compose
from eqlatent.errors import ConfigError
from eqlatent.cli.run import run_study

TINY = ["profile.images.n_train=300", "profile.images.n_test=200", "profile.images.epochs=1",
        "profile.images.n_probe_train=200", "profile.images.n_eval=100", "profile.images.n_invariance=40",
        "profile.images.orbit_copies=4", "profile.images.k_multipliers=[0.25,1]", "profile.images.batch_size=64",
        "callbacks.rich_progress_bar=null"]

#: one small C_8 encoder: the quickest run that still draws every kind of figure and a random-K curve
SMALL_C8 = ["model=c8", "profile.images.tsne_encoders=[]", "profile.images.k_multipliers=[1]",
            "profile.images.n_train=128", "profile.images.n_test=64", "profile.images.n_probe_train=64",
            "profile.images.n_eval=50", "profile.images.n_invariance=16"]


def _cfg(tmp_path, *extra):
    return compose(["experiment=images", "profile=cpu", *TINY, "logger=csv", f"paths.output_root={tmp_path}", *extra])


@pytest.mark.slow
def test_images_study_end_to_end_and_resume(tmp_path):
    summary = run_study(_cfg(tmp_path, "profile.images.tsne_encoders=[]"))
    out = tmp_path / "images" / "cpu-seed0"
    md = (out / "results.md").read_text()
    assert (tmp_path / "images" / "results.md").read_text() == md
    for heading in ("## Encoders (test accuracy)", "### c8 (regular latent)", "### so2 (irreps latent)",
                    "### cnn_aug (vector latent)", "### Claim 2", "### Claim 3"):
        assert heading in md
    assert "Claim 2 HOLDS" in md or "Claim 2 DOES NOT HOLD" in md
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["encoders"]) == {"c8", "c16", "so2", "cnn_aug", "cnn_plain"}
    assert metrics["claim2"]["evaluated"] and metrics["claim3"]["evaluated"]
    for enc in ("c8", "c16", "so2"):
        m = metrics["metrics"][enc]
        assert m["random_invariant"]["inv_err_rot90"] < 1e-3  # exact group action on real digits
        assert m["identity_field"]["inv_err_rot90"] > 1e-2    # the raw latent is not invariant
        assert len(metrics["random_k_curves"][enc]) == 2
    assert metrics["metrics"]["cnn_aug"]["orbit_average"]["inv_err_rot90"] < 1e-3
    assert set(metrics["metrics"]["so2"]) == {"identity_field", "norm", "canonicalize", "random_invariant"}
    for fig in ("pca_latents.png", "retention_vs_k.png"):
        assert (out / "figures" / fig).stat().st_size > 10_000
    for enc in summary["encoders"]:
        assert (out / enc / "latents.pt").is_file() and (out / enc / "checkpoints" / "last.ckpt").is_file()
    assert (out / "csv" / "metrics.csv").is_file()

    # re-run with one encoder: its latents are reused, numbers identical
    again = run_study(_cfg(tmp_path, "model=c8", "profile.images.tsne_encoders=[]"))
    assert again["info"]["reused"] == "c8"
    assert again["metrics"]["c8"]["random_invariant"] == pytest.approx(summary["metrics"]["c8"]["random_invariant"])


def test_images_study_rejects_a_permutation_projection(tmp_path):
    cfg = _cfg(tmp_path, "model=c8", "projection=sort")
    from eqlatent.studies.images.analysis import build_projections
    import torch

    with pytest.raises(ConfigError, match="not an image-latent projection"):
        build_projections(cfg.projection, {"regular": torch.randn(2, 3, 8)})


def test_images_configs_select_single_entries(tmp_path):
    cfg = _cfg(tmp_path, "projection=group_pool_max", "probe=knn", "model=so2")
    assert list(cfg.projection) == ["group_pool_max"] and list(cfg.probe) == ["knn"] and list(cfg.model) == ["so2"]
    full = _cfg(tmp_path)
    assert list(full.model) == ["c8", "c16", "so2", "cnn_aug", "cnn_plain"]
    assert {"identity_field", "random_invariant", "orbit_average", "canonicalize"} <= set(full.projection)
    assert {"logistic", "knn", "ridge"} <= set(full.probe)
    assert full.trainer.max_epochs == 1


def test_figures_that_cannot_be_drawn_cost_the_figures_not_the_run(tmp_path, monkeypatch, noted_once, capsys):
    # a missing system library and a plotting failure: one line each on the console and in results.md, exit 0
    from eqlatent.studies.images import study

    def no_xrender(*args, **kwargs):
        raise ImportError("libXrender.so.1: cannot open shared object file: No such file or directory")

    def broken(*args, **kwargs):
        raise RuntimeError("simulated plotting failure")

    monkeypatch.setattr(study, "embedding_grid", no_xrender)
    monkeypatch.setattr(study, "retention_curve", broken)
    summary = run_study(_cfg(tmp_path, *SMALL_C8))
    out = tmp_path / "images" / "cpu-seed0"
    noted_once(out, {"figures/pca_latents.png": "apt-get install -y libxrender1 libxext6 (as root)",
                     "figures/retention_vs_k.png": "see the traceback with hydra.verbose="})
    md = (out / "results.md").read_text()
    assert "RuntimeError: simulated plotting failure" in md and "### Claim 2" in md
    assert summary["figures"] == [] and summary["random_k_curves"]["c8"]              # the numbers are all there
    assert (out / "csv" / "metrics.csv").is_file() and not (out / "figures" / "pca_latents.png").exists()
    assert "was not made" not in capsys.readouterr().out        # the end-of-run block does not repeat the lines


@pytest.mark.slow
def test_killed_training_resumes_from_last_checkpoint(tmp_path, device):
    """A run killed after epoch 1 and re-run finishes with the same latents as an uninterrupted run.

    On a GPU too, to the same 1e-5: its kernels are deterministic (``trainer.deterministic``), so
    nothing but the kill separates the two runs (without them the latents differed by up to 1e-4).
    """
    import torch

    one = [*SMALL_C8, "profile.images.epochs=2", f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}"]
    crash = "+callbacks.crash={_target_: tests.helpers.crash.CrashAfterEpochs, epochs: 1}"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_study(_cfg(tmp_path / "killed", *one, crash))
    enc_dir = tmp_path / "killed" / "images" / "cpu-seed0" / "c8"
    assert (enc_dir / "checkpoints" / "last.ckpt").is_file() and not (enc_dir / "latents.pt").exists()
    from eqlatent.runtime.resume import TrainingClock

    killed_seconds = torch.load(enc_dir / "checkpoints" / "last.ckpt", weights_only=False)[TrainingClock.KEY]
    resumed = run_study(_cfg(tmp_path / "killed", *one))
    # the reported training time includes the killed run's finished epoch, not only the resumed one
    assert torch.load(enc_dir / "latents.pt", weights_only=False)["train_seconds"] > killed_seconds > 0
    straight = run_study(_cfg(tmp_path / "straight", *one))
    za = torch.load(enc_dir / "latents.pt", weights_only=False)["latents"]["test"]["regular"]
    zb = torch.load(tmp_path / "straight" / "images" / "cpu-seed0" / "c8" / "latents.pt", weights_only=False)
    assert torch.allclose(za, zb["latents"]["test"]["regular"], atol=1e-5)
    assert resumed["encoders"]["c8"]["acc_rotated_test"] == straight["encoders"]["c8"]["acc_rotated_test"]
