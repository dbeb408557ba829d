"""The images study's verdicts on claims 2 and 3 and its ``results.md``, computed from the numbers.

Claim 2 (per rotation-equivariant encoder, i.e. with a ``regular`` or ``irreps`` latent):
random invariant projections (K = latent dim) *keep a high degree of information*
(Spearman correlation with the quotient distances >= ``claim2_min_spearman``) and
*analysis on them beats analysis on the raw latent* (higher 10-NN consistency with the
quotient geometry, higher class-probe accuracy when trained on upright and tested on
rotated digits, angle R^2 below ``max_invariant_angle_r2``).

Claim 3 (the augmented plain CNN): its raw latent shows the same ambiguity, i.e. it
moves under input rotations (relative change >= ``claim3_min_raw_inv_err``) although
it is trained to be rotation robust, and the orbit-averaged projection removes most of
it (smaller invariance error, higher 10-NN consistency with the orbit quotient).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eqlatent.runtime.markdown import markdown_table
from eqlatent.studies.results import Verdict, wall_time_text

EQUIVARIANT_LAYOUTS = ("regular", "irreps")
RAW = "identity_field"
RANDOM = "random_invariant"
ORBIT = "orbit_average"


def _class_acc(m: dict[str, float], suffix: str) -> float:
    vals = [v for k, v in m.items() if k.endswith(suffix) and not k.startswith("angle_")]
    return float(np.mean(vals)) if vals else float("nan")


def claim2_verdict(metrics: dict[str, dict[str, dict[str, float]]], layouts: dict[str, str], thr: Any) -> Verdict:
    """Per-encoder checks of claim 2 (``details["per_encoder"]``); held if every equivariant encoder passes."""
    per = {}
    for enc, layout in layouts.items():
        if layout not in EQUIVARIANT_LAYOUTS or RAW not in metrics[enc] or RANDOM not in metrics[enc]:
            continue
        ri, raw = metrics[enc][RANDOM], metrics[enc][RAW]
        checks = {
            "spearman_random": ri["spearman"],
            "keeps_information": bool(ri["spearman"] >= thr.claim2_min_spearman),
            "knn_consistency_random": ri["knn_consistency"],
            "knn_consistency_raw": raw["knn_consistency"],
            "upright_to_rotated_acc_random": _class_acc(ri, "_acc_upright_train"),
            "upright_to_rotated_acc_raw": _class_acc(raw, "_acc_upright_train"),
            "angle_r2_random": ri.get("angle_ridge_r2", float("nan")),
            "angle_r2_raw": raw.get("angle_ridge_r2", float("nan")),
        }
        checks["beats_raw"] = bool(checks["knn_consistency_random"] > checks["knn_consistency_raw"]
                                   and checks["upright_to_rotated_acc_random"] > checks["upright_to_rotated_acc_raw"]
                                   and not checks["angle_r2_random"] > thr.max_invariant_angle_r2)
        checks["holds"] = checks["keeps_information"] and checks["beats_raw"]
        per[enc] = checks
    if not per:
        return Verdict("2", None, "Not evaluated (needs an equivariant encoder with identity_field and "
                                  "random_invariant).", {"per_encoder": per})
    held = all(c["holds"] for c in per.values())
    lines = [f"- {enc}: Spearman(random-K) = {c['spearman_random']:.3f} (keeps information: "
             f"{_fmt(c['keeps_information'])}); 10-NN consistency {c['knn_consistency_random']:.3f} vs raw "
             f"{c['knn_consistency_raw']:.3f}; upright->rotated class accuracy "
             f"{c['upright_to_rotated_acc_random']:.3f} vs raw {c['upright_to_rotated_acc_raw']:.3f}; angle R^2 "
             f"{c['angle_r2_random']:.3f} vs raw {c['angle_r2_raw']:.3f} -> "
             f"{'holds' if c['holds'] else 'does not hold'}"
             for enc, c in per.items()]
    lines += ["", f"**Claim 2 {'HOLDS' if held else 'DOES NOT HOLD'}** on this run "
                  f"({sum(c['holds'] for c in per.values())}/{len(per)} equivariant encoders)."]
    return Verdict("2", held, "\n".join(lines), {"per_encoder": per})


def claim3_verdict(metrics: dict[str, dict[str, dict[str, float]]], thr: Any, encoder: str = "cnn_aug") -> Verdict:
    """Checks of claim 3 on the augmented plain CNN (not evaluated if it or its projections are missing)."""
    if encoder not in metrics or RAW not in metrics[encoder] or ORBIT not in metrics[encoder]:
        return Verdict("3", None, "Not evaluated (needs cnn_aug with identity_field and orbit_average).")
    raw, orb = metrics[encoder][RAW], metrics[encoder][ORBIT]
    out = {
        "raw_inv_err": raw["inv_err"],
        "raw_inv_err_rot90": raw["inv_err_rot90"],
        "orbit_inv_err": orb["inv_err"],
        "knn_consistency_raw": raw["knn_consistency"],
        "knn_consistency_orbit": orb["knn_consistency"],
        "angle_r2_raw": raw.get("angle_ridge_r2", float("nan")),
        "angle_r2_orbit": orb.get("angle_ridge_r2", float("nan")),
        "upright_to_rotated_acc_raw": _class_acc(raw, "_acc_upright_train"),
        "upright_to_rotated_acc_orbit": _class_acc(orb, "_acc_upright_train"),
    }
    out["raw_latent_ambiguous"] = bool(out["raw_inv_err"] >= thr.claim3_min_raw_inv_err)
    out["orbit_projection_resolves"] = bool(out["orbit_inv_err"] < out["raw_inv_err"]
                                            and out["knn_consistency_orbit"] > out["knn_consistency_raw"])
    held = out["raw_latent_ambiguous"] and out["orbit_projection_resolves"]
    text = "\n".join([
        f"- raw latent relative change under a further random rotation: {out['raw_inv_err']:.3f} "
        f"(quarter turn: {out['raw_inv_err_rot90']:.3f}); orbit_average: {out['orbit_inv_err']:.3f}",
        f"- 10-NN consistency with the orbit quotient: raw {out['knn_consistency_raw']:.3f}, orbit_average "
        f"{out['knn_consistency_orbit']:.3f}; angle R^2 raw {out['angle_r2_raw']:.3f}, orbit_average "
        f"{out['angle_r2_orbit']:.3f}; upright->rotated class accuracy raw {out['upright_to_rotated_acc_raw']:.3f}, "
        f"orbit_average {out['upright_to_rotated_acc_orbit']:.3f}", "",
        f"**Claim 3 {'HOLDS' if held else 'DOES NOT HOLD'}** on this run (raw latent ambiguous: "
        f"{_fmt(out['raw_latent_ambiguous'])}; orbit projection resolves it: "
        f"{_fmt(out['orbit_projection_resolves'])})."])
    return Verdict("3", held, text, out)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, float):
        return "nan" if np.isnan(v) else f"{v:.3f}"
    return str(v)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A markdown table of ``rows`` (missing entries shown as ``-``)."""
    return "\n".join(markdown_table(columns, [[_fmt(r.get(c, "-")) for c in columns] for r in rows]))


PROJ_COLUMNS = ["projection", "lossless", "dim", "spearman", "rel_error", "knn_consistency", "inv_err_rot90", "inv_err",
                "logistic_acc", "logistic_acc_upright_train", "knn_acc", "knn_acc_upright_train", "angle_ridge_r2"]
CURVE_COLUMNS = ["K", "K_over_dim", "spearman", "pearson", "rel_error", "knn_consistency", "knn_acc"]


def results_markdown(info: dict[str, Any], encoders: dict[str, dict[str, Any]], metrics: dict[str, Any],
                     curves: dict[str, list[dict[str, float]]], v2: Verdict, v3: Verdict,
                     figures: list[str]) -> str:
    """The full ``results.md`` text."""
    md = [f"# Images study (rotated MNIST): results of run `{info['run_name']}`", "",
          f"Profile `{info['profile']}`, seed {info['seed']}: {info['n_train']} training digits "
          f"(epochs per encoder below), probes fitted on {info['n_probe_train']}, {info['n_test']} rotated test digits, "
          f"quotient metrics on {info['n_eval']} test digits, invariance on {info['n_invariance']}. "
          f"Wall time of this run: {wall_time_text(info['wall_s'], info.get('earlier_s', 0.0))} "
          f"(encoders reused from cache: {info['reused']}).", "",
          "## Encoders (test accuracy)", "",
          table([{"encoder": e, **v} for e, v in encoders.items()],
                ["encoder", "layout", "parameters", "latent_shape", "trained_on", "epochs", "train_s", "acc_rotated_test",
                 "acc_upright_test"]), "",
          "## Projections x metrics", "",
          "spearman / rel_error / knn_consistency: agreement of the projection's distances with the quotient "
          "distance min_g ||z1 - g z2|| (C_N exact; SO(2) on a 64-angle grid + Newton; plain CNN over its latents of "
          "rotated input copies). inv_err(_rot90): relative change of the projection when the input is rotated again "
          "by a random angle (by exactly pi/2). *_acc: class probe trained on rotated (or `_upright_train`: upright) "
          "digits, tested on rotated ones. angle_ridge_r2: R^2 of a ridge probe for (cos, sin) of the angle.", ""]
    for enc, per in metrics.items():
        md += [f"### {enc} ({encoders[enc]['layout']} latent)", "",
               table([{"projection": p, **m, "lossless": "yes" if m.get("lossless") else "no"} for p, m in per.items()],
                     PROJ_COLUMNS), ""]
    md += ["## Retained information vs K (random invariant projections)", ""]
    for enc, rows in curves.items():
        if rows:
            md += [f"### {enc}", "", table(rows, CURVE_COLUMNS), ""]
    md += ["## Verdicts", "", "### Claim 2: random invariant projections keep information and beat the raw latent", "",
           v2.text, "", "### Claim 3: a rotation-augmented plain CNN shows the same ambiguity", "", v3.text, ""]
    md += ["## Figures", ""] + [f"- `{f}`" for f in figures] + [""]
    return "\n".join(md)
