"""Smoke run of the QM9-3D study on 400 real QM9 molecules (1 epoch, tiny widths), its reuse and resume, and its errors.

Checks properties, not numbers: every promised output exists; the trained encoder's latent
transforms by D(R) under rotation and inversion of real molecules (measured in the run); every
invariant projection stays put when the input molecule is rotated or inverted while the raw latent
moves; the verdict is decided from the run's own numbers; a re-run reuses the model and its latents;
more epochs continue the training; other settings are refused in one line.
"""

from __future__ import annotations

import json

import pytest
import torch

from eqlatent.cli.run import run_study
from eqlatent.errors import ConfigError
from eqlatent.runtime.config import compose
from tests.studies.molecules_3d import standins

#: a few hundred molecules, one epoch, a one-layer encoder with latent 8x0e+2x1o+1x2e (D = 19)
TINY = ["experiment=molecules_3d", "profile=cpu", "logger=csv", "seed=0",
        "profile.molecules_3d.n_molecules=400", "profile.molecules_3d.n_train=0", "profile.molecules_3d.n_val=0",
        "profile.molecules_3d.n_test=0", "profile.molecules_3d.epochs=1", "profile.molecules_3d.batch_size=32",
        "model.e3nn_regressor.encoder.irreps_hidden='8x0e+2x1o+1x2e'", "model.e3nn_regressor.encoder.n_layers=1",
        "model.e3nn_regressor.encoder.irreps_latent='8x0e+2x1o+1x2e'", "model.e3nn_regressor.head_hidden=16",
        "model.e3nn_regressor.encoder.radial_hidden=8", "profile.molecules_3d.n_eval=20",
        "profile.molecules_3d.n_probe_train=100", "profile.molecules_3d.n_probe_test=40",
        "profile.molecules_3d.n_orient=20", "profile.molecules_3d.n_check=8", "profile.molecules_3d.k_multipliers=[1,2]",
        "profile.molecules_3d.pca_points=20", "trainer.enable_progress_bar=false", "~callbacks.rich_progress_bar"]
INVARIANT = ("norm", "scalars", "gram", "canonicalize", "random_invariant")


def _cfg(root, *extra):
    return compose(TINY + [f"paths.output_root={root}", *extra])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    with pytest.MonkeyPatch.context() as mp:
        standins.install(mp)
        summary = run_study(_cfg(root))
    return root, root / "molecules_3d" / "cpu-seed0", summary


def test_the_run_writes_every_promised_output(smoke):
    root, run, summary = smoke
    md = (run / "results.md").read_text()
    assert (root / "molecules_3d" / "results.md").read_text() == md
    headings = ["## Model quality", "## Encoder checks", "## Projections x metrics", "## Retained information vs K",
                "## Probes on properties", "## Does the projection reveal", "## Verdict"]
    assert [md.index(h) for h in headings] == sorted(md.index(h) for h in headings)   # model quality first
    assert "| gap | eV |" in md and "SchNet" in md and "DimeNet++" in md
    metrics = json.loads((run / "metrics.json").read_text())
    assert {k: v for k, v in metrics.items() if k != "missing_artefacts"} == summary
    assert set(metrics["metrics"]) == {"identity", *INVARIANT}
    assert metrics["model"]["irreps"] == "8x0e+2x1o+1x2e" and metrics["model"]["dim"] == 19
    assert metrics["model"]["targets"] == ["gap"] and metrics["model"]["test_mae"]["gap"] > 0
    assert metrics["model"]["published_mae"]["gap"]["PaiNN"] == pytest.approx(0.0457)
    assert [r["epoch"] for r in metrics["model"]["curve"]] == [1]
    assert metrics["probe_targets"] == ["alpha", "r2", "zpve", "mu"]
    assert [r["K"] for r in metrics["random_k_curve"]] == [19, 38]
    for fig in ("retention_vs_k.png", "retention_bars.png", "pca_raw_vs_invariant.png", "learning_curve.png"):
        assert (run / "figures" / fig).stat().st_size > 5_000
    assert metrics["missing_artefacts"] == []
    for f in ("latents.pt", "fingerprint.json", "checkpoints/last.ckpt", "csv/metrics.csv"):
        assert (run / "regressor" / f).is_file()


def test_the_trained_encoder_is_equivariant_on_real_molecules(smoke):
    _, _, summary = smoke
    enc = summary["encoder_checks"]
    assert enc["n_rotated"] == 20 and enc["n_inverted"] == 8 and enc["dtype"] == "float32"
    for key in ("rotation_max_rel_error", "inversion_max_rel_error", "e3nn_max_rel_error"):
        assert 0 <= enc[key] < 1e-5, key                       # float32: ~1e-7 of the latent's largest entry
    assert set(enc["e3nn_equivariance_error"]) == {"parity0_translate0", "parity0_translate1",
                                                   "parity1_translate0", "parity1_translate1"}
    assert summary["checks"]["encoder_equivariant"] is True


def test_invariant_projections_stay_put_and_the_raw_latent_moves(smoke):
    _, _, summary = smoke
    m = summary["metrics"]
    for name in INVARIANT:
        assert m[name]["invariant"] and m[name]["inv_err_rotation"] < 1e-3 and m[name]["inv_err_inversion"] < 1e-3
    assert not m["identity"]["invariant"]
    assert m["identity"]["inv_err_rotation"] > 100 * max(m[n]["inv_err_rotation"] for n in INVARIANT)
    assert m["identity"]["inv_err_inversion"] > 100 * max(m[n]["inv_err_inversion"] for n in INVARIANT)
    for name in INVARIANT:                                      # a rotation-invariant feature cannot predict a direction
        for target in ("axis", "dipole", "quadrupole"):
            assert m[name][f"orient_{target}_ridge_r2"] < 0.05, (name, target)
    assert all(-1 <= m[n]["spearman"] <= 1 and 0 <= m[n]["knn"] <= 1 for n in m)
    assert m["scalars"]["dim"] == 8 and m["identity"]["dim"] == 19


def test_the_verdict_is_the_rule_applied_to_the_run_s_numbers(smoke):
    _, _, summary = smoke
    v = summary["claim2_o3"]
    assert v["evaluated"] and v["claim"] == "2 on O(3)" and v["view"] == "raw"   # verdicts.view's default
    for view, metrics, curve in (("balanced", summary["balanced"]["metrics"], summary["balanced"]["random_k_curve"]),
                                 ("raw", summary["metrics"], summary["random_k_curve"])):
        keeps = all(r["spearman"] >= 0.9 for r in curve if r["K_over_dim"] >= 2)
        below = all(metrics[b]["spearman"] < 0.9 for b in ("norm", "scalars"))
        decided = v if view == "raw" else v["other_views"]["balanced"]
        assert decided["held"] == (keeps and below) and decided["keeps"] == keeps
        assert decided["baselines_below"] == below


def test_the_balanced_view_equalises_the_irrep_types(smoke):
    _, run, summary = smoke
    share = summary["balanced"]["variance_share"]
    assert set(share) == {"0e", "1o", "2e"} and sum(share.values()) == pytest.approx(1.0)
    assert set(summary["balanced"]["metrics"]) == set(summary["metrics"])
    assert [r["K"] for r in summary["balanced"]["random_k_curve"]] == [19, 38]
    # the raw latent's distances follow its own rescaling: its agreement with the quotient changes
    assert summary["balanced"]["metrics"]["identity"]["spearman"] != summary["metrics"]["identity"]["spearman"]


def test_a_rerun_reuses_the_model_and_its_latents(smoke, monkeypatch):
    root, run, summary = smoke
    stamp = (run / "regressor" / "latents.pt").stat().st_mtime_ns
    standins.install(monkeypatch)
    again = run_study(_cfg(root))
    assert again["info"]["reused"] == "regressor" and again["model"]["reused"]
    assert (run / "regressor" / "latents.pt").stat().st_mtime_ns == stamp
    assert again["model"]["test_mae"] == summary["model"]["test_mae"]
    assert again["metrics"]["random_invariant"]["spearman"] == pytest.approx(summary["metrics"]["random_invariant"]["spearman"])


def test_other_training_settings_are_refused_in_one_line(smoke):
    root, _, _ = smoke
    with pytest.raises(ConfigError, match=r"trained with other settings \(changed: .*model") as err:
        run_study(_cfg(root, "model.e3nn_regressor.lr=0.001"))
    assert "\n" not in str(err.value) and "delete" in str(err.value)


def test_more_epochs_continue_the_training(tmp_path, monkeypatch):
    standins.install(monkeypatch)
    one = run_study(_cfg(tmp_path, "projection=norm", "profile.molecules_3d.k_multipliers=[]"))
    assert [r["epoch"] for r in one["model"]["curve"]] == [1]
    two = run_study(_cfg(tmp_path, "projection=norm", "profile.molecules_3d.k_multipliers=[]",
                         "profile.molecules_3d.epochs=2"))
    assert not two["model"]["reused"] and two["model"]["epochs"] == 2
    assert [r["epoch"] for r in two["model"]["curve"]] == [1, 2]          # epoch 1 was not trained again
    assert two["claim2_o3"]["evaluated"] is False                        # no random_invariant, no K-curve: not decided
    ckpt = torch.load(tmp_path / "molecules_3d" / "cpu-seed0" / "regressor" / "checkpoints" / "last.ckpt",
                      map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 1


@pytest.mark.parametrize(("override", "needle"), [
    ("molecules_3d.targets=[nope]", "unknown QM9 target 'nope'"),
    ("molecules_3d.targets=[]", "molecules_3d.targets is empty"),
    ("projection=sort", "does not serve e3nn latents"),
    ("profile.molecules_3d.n_eval=1", "molecules_3d.n_eval=1 is too small"),
    ("probe=logistic", "no regression probe selected"),
])
def test_bad_settings_are_one_line_errors(tmp_path, override, needle):
    with pytest.raises(ConfigError) as err:
        run_study(_cfg(tmp_path, override))
    assert needle in str(err.value) and "\n" not in str(err.value) and err.value.fix
    assert not (tmp_path / "molecules_3d" / "cpu-seed0" / "regressor" / "checkpoints").exists()


def test_a_model_other_than_the_e3nn_regressor_is_refused():
    from eqlatent.studies.molecules_3d.latents import regressor_config

    with pytest.raises(ConfigError, match="trains one e3nn regressor") as err:
        regressor_config(compose(["experiment=molecules_3d", "model=c8"]))
    assert err.value.fix == "use model=e3nn_regressor"


def test_an_unknown_key_is_refused_before_anything_is_written(tmp_path):
    from eqlatent.cli.run import check_command_line

    with pytest.raises(ConfigError) as err:
        check_command_line(["experiment=molecules_3d", "molecules_3d.no_such_key=1", f"paths.output_root={tmp_path}"])
    assert "no_such_key" in str(err.value) and "\n" not in str(err.value)
    assert not any(tmp_path.iterdir())


def test_the_report_shows_the_run_and_profiles_json_holds_its_mae(smoke, tmp_path):
    from eqlatent.report.build import build_report

    root, _, summary = smoke
    text = build_report(root, tmp_path / "report")
    assert "## Claim 2 on O(3)" in text and "### `molecules_3d` (cpu profile), 1 seed(s): 0" in text
    assert "| 2 on O(3) | molecules_3d | cpu | 0 |" in text
    profiles = json.loads((tmp_path / "report" / "profiles.json").read_text())
    entry = profiles["entries"]["molecules_3d/cpu"]
    assert entry["per_seed"]["0"]["metrics"]["mae.gap"] == pytest.approx(summary["model"]["test_mae"]["gap"], abs=1e-6)
    assert entry["per_seed"]["0"]["claims"] == {"2 on O(3)": summary["claim2_o3"]["held"]}
