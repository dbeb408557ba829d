"""The claim-1 verdict is a rule applied to measured numbers: check the rule on synthetic result dicts.

The dicts below are synthetic (hand-made numbers), not study outputs.
"""

from __future__ import annotations

from eqlatent.studies.molecules.claim1_report import claim1_verdict, results_markdown


def _probe(proj, cond, probe, r2):
    return {"projection": proj, "condition": cond, "probe": probe, "r2": r2, "mae": 1.0 - r2,
            "invariance_error": 0.0, "mae_per_target": {"gap": 1.0 - r2}, "r2_per_target": {"gap": r2}}


def _results(sort_dev: float, sort_r2: float) -> dict:
    ret = {name: {"spearman": 1.0, "pearson": 1.0, "rel_error": 0.0, "max_abs_dev": dev, "knn": 1.0,
                  "n_pairs": 1225} for name, dev in (("identity", 3.0), ("sort", sort_dev))}
    probes = [_probe("sort", "stored", p, sort_r2) for p in ("ridge", "mlp_regressor")]
    probes += [_probe("identity", c, p, 0.3) for c in ("stored", "shuffled") for p in ("ridge", "mlp_regressor")]
    d1 = {"retention": ret, "probes": probes, "knn_k": 10, "active_channels": 1,
          "decodability": {"identity": {"exact_match": 0.5}, "sort": {"exact_match": 0.5}},
          "projection_info": {"identity": {"invariant": False, "lossless": True},
                              "sort": {"invariant": True, "lossless": True, "isometric": True}},
          "reconstruction": {"posterior mean": {k: 0.5 for k in ("node_acc", "atom_acc", "bond_acc", "bond_acc_real",
                                                                 "graph_exact", "validity", "valid_connected")}}}
    return {"latent_dims": {"1": d1}, "run_name": "synthetic", "dataset": {"name": "synthetic", "summary": "s"},
            "model": "m", "epochs": 1, "analysis_latent": "mean", "n_eval": 50, "probe_targets": ["gap"],
            "figures": [], "wall_time_s": 1.0, "train_time_s": 0.0}


def test_verdict_holds_only_when_isometric_and_probes_win():
    assert claim1_verdict(_results(sort_dev=1e-9, sort_r2=0.6)).held is True
    assert claim1_verdict(_results(sort_dev=1e-3, sort_r2=0.6)).held is False      # not isometric
    assert claim1_verdict(_results(sort_dev=1e-9, sort_r2=0.2)).held is False      # probes lose


def test_verdict_needs_latent_dim_one():
    res = _results(1e-9, 0.6)
    res["latent_dims"] = {"2": res["latent_dims"]["1"]}
    assert claim1_verdict(res).held is None


def test_markdown_carries_the_verdict_and_the_numbers():
    res = _results(1e-9, 0.6)
    text = results_markdown(res, claim1_verdict(res))
    assert "Claim 1 HELD" in text and "| sort | lossless, isometric |" in text and "0.600" in text


def test_a_single_projection_run_is_not_tested_and_still_renders():
    # e.g. one job of `--multirun projection=...`: only the identity projection was measured
    res = _results(1e-9, 0.6)
    d1 = res["latent_dims"]["1"]
    d1["retention"].pop("sort")
    d1["probes"] = [r for r in d1["probes"] if r["projection"] == "identity"]
    verdict = claim1_verdict(res)
    assert verdict.held is None
    assert "not tested" in results_markdown(res, verdict)
