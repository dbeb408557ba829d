"""The QM9-3D study's verdict and its ``results.md``, computed from the numbers alone.

Claim 2 on O(3) (the paper's claim 2, shown for SO(2) on images, here for 3-D e3nn latents):
**random invariant projections keep the quotient geometry where norms and the l = 0 slice do not.**
Decided on one run by

* *keeps*: ``random_invariant``'s distances rank the pairs like the O(3) quotient distance,
  Spearman >= ``verdicts.min_spearman`` at every K >= ``verdicts.min_k_over_dim`` x D of the random-K
  curve (the paper's "K of the order of the dimension"; D the latent's dimension);
* *where the others do not*: ``norm`` and ``scalars`` (the l = 0 slice, what MACE's
  ``invariants_only`` returns) stay below that Spearman.

Not evaluated when the curve has no K >= that bound or neither baseline ran.  The rule is applied to
two views of the latent (:func:`decide`): ``raw``, as the encoder returns it, and ``balanced``, every
irrep type rescaled to the same variance (:func:`eqlatent.studies.molecules_3d.analysis.balance`): a
regressor trained on invariant targets reads only its 0e channels, so the scale of its l > 0 channels
is the initialisation's, and in the raw latent that accident decides how much the scalars dominate the
distances.  ``verdicts.view`` names the view that decides; the other's outcome is stated beside it.  Beside it, the
checks the verdict stands on are reported, not folded in: the encoder's equivariance on real
molecules, every invariant projection's invariance under rotation and inversion of the input,
and which projections reveal the molecule's orientation.  The model's quality comes first in
``results.md``: its test MAE beside the published models' on the same target.
"""

from __future__ import annotations

import math
from typing import Any

from eqlatent.runtime.markdown import markdown_table
from eqlatent.studies.molecules_3d.published import MODELS, published_for, sources
from eqlatent.studies.results import Verdict, wall_time_text

CLAIM = "2 on O(3)"
RANDOM, RAW = "random_invariant", "identity"
BASELINES = ("norm", "scalars")
#: the latents the rule can be applied to, in words
VIEWS = {"raw": "as the encoder returns it",
         "balanced": "every irrep type rescaled to the same variance, so no irrep type dominates by scale alone"}
#: probes' R² columns are added per target; these come first
PROJ_COLUMNS = ["projection", "invariant", "lossless", "dim", "spearman", "pearson", "rel_error", "knn", "distortion",
                "inv_err_rotation", "inv_err_inversion", "project_s"]
CURVE_COLUMNS = ["K", "K_over_dim", "spearman", "pearson", "rel_error", "knn", "distortion", "project_s"]


def fmt(v: Any) -> str:
    """A cell: yes/no, integers, 3 decimals, small numbers in scientific notation, '-' for missing."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.1e}" if v != 0 and abs(v) < 1e-3 else f"{v:.3f}"
    return str(v)


def table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    return markdown_table(columns, [[fmt(r.get(c)) for c in columns] for r in rows])


def claim_verdict(metrics: dict[str, dict[str, Any]], curve: list[dict[str, float]], thr: Any) -> Verdict:
    """Claim 2 on O(3) from the projections' numbers and the random-K curve (module docstring)."""
    need = float(thr.min_spearman)
    big = [r for r in curve if r["K_over_dim"] >= float(thr.min_k_over_dim) - 1e-9]
    base = {b: metrics[b]["spearman"] for b in BASELINES if b in metrics and "spearman" in metrics[b]}
    details: dict[str, Any] = {"min_spearman": need, "min_k_over_dim": float(thr.min_k_over_dim),
                               "random_at_large_k": {str(r["K"]): r["spearman"] for r in big},
                               "baselines": base}
    if not big or not base:
        why = ("no K >= {:g} D in the random-K curve".format(float(thr.min_k_over_dim)) if not big
               else "neither norm nor scalars was projected")
        return Verdict(CLAIM, None, f"Not evaluated ({why}).", details)
    keeps = all(r["spearman"] >= need for r in big)
    others_do_not = all(v < need for v in base.values())
    details.update(keeps=keeps, baselines_below=others_do_not)
    held = keeps and others_do_not
    lo = min(r["spearman"] for r in big)
    lines = [f"- random_invariant keeps the quotient geometry: Spearman >= {need:g} at every K >= "
             f"{float(thr.min_k_over_dim):g} D? {'yes' if keeps else 'no'} (lowest {lo:.3f}, over K = "
             + ", ".join(str(r["K"]) for r in big) + ")",
             "- norms and the l = 0 slice do not: " + ", ".join(f"{b} Spearman {v:.3f}" for b, v in base.items())
             + f" -> all below {need:g}? {'yes' if others_do_not else 'no'}", "",
             f"**Claim 2 on O(3) {'HOLDS' if held else 'DOES NOT HOLD'}** on this run."]
    return Verdict(CLAIM, held, "\n".join(lines), details)


def decide(views: dict[str, tuple[dict[str, dict[str, Any]], list[dict[str, float]]]], thr: Any) -> Verdict:
    """The verdict on the view ``verdicts.view`` names (``raw`` or ``balanced``); the other views' outcomes in its text.

    ``views``: view -> (projection numbers, random-K curve), each as :func:`claim_verdict` reads them.
    """
    chosen = str(thr.view)
    if chosen not in views:
        return Verdict(CLAIM, None, f"Not evaluated (verdicts.view={chosen!r} is not one of {', '.join(views)}).")
    verdict = claim_verdict(*views[chosen], thr)
    others = {v: claim_verdict(*numbers, thr) for v, numbers in views.items() if v != chosen}
    verdict.details["view"] = chosen
    verdict.details["other_views"] = {v: {"held": o.held, **{k: o.details.get(k) for k in
                                                               ("keeps", "baselines_below", "baselines",
                                                                "random_at_large_k")}} for v, o in others.items()}
    lines = [f"Decided on the {chosen} latent ({VIEWS[chosen]}):", "", verdict.text]
    for v, o in others.items():
        lines += ["", f"On the {v} latent ({VIEWS[v]}) the same rule gives: "
                  + ("not evaluated" if o.held is None else "holds" if o.held else "does not hold") + "."]
        lines += [line for line in o.text.splitlines() if line.startswith("- ")]
    verdict.text = "\n".join(lines)
    return verdict


def model_checks(metrics: dict[str, dict[str, Any]], encoder_checks: dict[str, Any], thr: Any) -> dict[str, Any]:
    """The checks the verdict stands on: encoder equivariance, projections' invariance, orientation probes."""
    tol = float(thr.max_equivariance_error)
    enc = max(encoder_checks["rotation_max_rel_error"], encoder_checks["inversion_max_rel_error"],
              encoder_checks["e3nn_max_rel_error"])
    invariant = {p: max(m["inv_err_rotation"], m["inv_err_inversion"]) for p, m in metrics.items() if m["invariant"]}
    orient = {p: max((v for k, v in m.items() if k.startswith("orient_") and k.endswith("_r2")), default=float("nan"))
              for p, m in metrics.items()}
    max_r2 = float(thr.max_invariant_orientation_r2)
    return {
        "encoder_equivariant": bool(enc <= tol), "encoder_max_rel_error": enc, "equivariance_tolerance": tol,
        "invariant_change": invariant, "max_change": float(thr.max_invariant_change), "max_r2": max_r2,
        "invariant_projections_invariant": bool(all(v <= float(thr.max_invariant_change) for v in invariant.values())),
        "orientation_r2": orient,
        "invariant_hide_orientation": bool(all(not orient[p] > max_r2 for p in invariant)),
        "raw_reveals_orientation": (bool(orient[RAW] > max_r2) if RAW in orient else None),
    }


def quality_rows(model: dict[str, Any]) -> list[list[str]]:
    """One row per trained target: this run's test MAE beside the published models' (same unit)."""
    rows = []
    for t, mae in model["test_mae"].items():
        unit = model["units"][t]
        pub = published_for(t)
        rows.append([t, unit, f"{mae:.4f}", *[f"{pub[m].mae_ev:.4f}" if m in pub and unit == "eV" else "-"
                                              for m in MODELS]])
    return rows


def quality_line(model: dict[str, Any]) -> str:
    """The console summary's line on the model: test MAE per target, with the best published one."""
    parts = []
    for t, mae in model["test_mae"].items():
        pub = published_for(t)
        best = min(pub.values(), key=lambda p: p.mae_mev) if pub else None
        ref = f" (published best: {best.model} {best.mae_ev:.4f})" if best else ""
        parts.append(f"{t} {mae:.4f} {model['units'][t]}{ref}")
    return f"test MAE {', '.join(parts)} after {model['epochs']} epochs on {model['n_train']:,} molecules"


def _target_line(model: dict[str, Any]) -> list[str]:
    goal = model.get("target_mae")
    if not goal:
        return []
    lines = []
    for t, want in goal.items():
        if t in model["test_mae"]:
            got = model["test_mae"][t]
            lines.append(f"- profile target for {t}: test MAE <= {want:g} {model['units'][t]}: "
                         f"{'met' if got <= want else 'NOT met'} ({got:.4f})")
    return lines


def results_markdown(info: dict[str, Any], model: dict[str, Any], checks: dict[str, Any], enc: dict[str, Any],
                     metrics: dict[str, dict[str, Any]], curve: list[dict[str, float]], balanced: dict[str, Any],
                     probe_targets: list[str], verdict: Verdict, figures: list[str]) -> str:
    """The full ``results.md``: model quality first, then the encoder checks, projections, K-curve, probes, verdict."""
    md = [f"# QM9-3D study (e3nn, O(3)): results of run `{info['run_name']}`", "",
          f"Profile `{info['profile']}`, seed {info['seed']}: an O(3)-equivariant e3nn encoder ({model['n_parameters']:,} "
          f"parameters, latent `{model['irreps']}`, D = {model['dim']}) trained on {model['n_train']:,} QM9 molecules "
          f"(hydrogens, DFT geometries) for {model['epochs']} epochs ({model['train_s']:.0f} s of training); "
          f"quotient metrics over all pairs of {info['n_eval']} test latents; probes fitted on {info['n_probe_train']} "
          f"training and scored on {info['n_probe_test']} test molecules; orientation on {info['n_orient']} rotated "
          f"molecules. Wall time of this run: {wall_time_text(info['wall_s'], info.get('earlier_s', 0.0))} "
          f"(model reused: {info['reused']}).", "",
          "## Model quality (test MAE, whole test split of this run)", ""]
    md += markdown_table(["target", "unit", f"this run ({model['n_test']:,} test molecules)", *MODELS],
                         quality_rows(model)) + [""]
    md += _target_line(model)
    md += ["", "Published: " + "; ".join(f"{m}: {s}" for m, s in sources().items()) + ". Those models trained on "
           "~110,000 molecules for hundreds of epochs; this run's size is the profile's.", ""]
    if model.get("curve"):
        cols = [c for c in model["curve"][0] if c != "epoch"]
        md += ["Learning curve (MAE per epoch, from the model folder's csv/metrics.csv):", ""]
        md += table(model["curve"], ["epoch", *cols]) + [""]
    md += ["## Encoder checks (measured on the trained model, real molecules)", "",
           f"`|z(Rx) - D(R) z(x)| / max|z|` with e3nn's `D_from_matrix`: rotations (each of {enc['n_rotated']} test "
           f"molecules its own R) {fmt(enc['rotation_max_rel_error'])} (median {fmt(enc['rotation_median_rel_error'])}); "
           f"inversion ({enc['n_inverted']} molecules) {fmt(enc['inversion_max_rel_error'])}; e3nn's "
           f"`equivariance_error` (rotations, parity, translation) {fmt(enc['e3nn_max_rel_error'])}; in {enc['dtype']}. "
           f"Tolerance {fmt(checks['equivariance_tolerance'])}: "
           f"{'equivariant' if checks['encoder_equivariant'] else 'NOT equivariant to that tolerance'}.", "",
           "## Projections x metrics", "",
           "spearman / pearson / rel_error / knn (10-NN consistency) / distortion: the projection's distances against "
           "the O(3) quotient distance min_g ||z1 - D(g) z2|| over all pairs (toolkit engine). inv_err_rotation / "
           "_inversion: how far the projection moves when the input molecule is rotated / inverted, in units of the "
           "distance between two molecules (0: invariant). project_s: seconds to project every set.", ""]
    md += table([{"projection": p, **m} for p, m in metrics.items()], PROJ_COLUMNS) + [""]
    md += ["## Retained information vs K (random invariant projections)", ""]
    md += (table(curve, CURVE_COLUMNS) if curve else ["No random_invariant projection was configured."]) + [""]
    if balanced:
        share = ", ".join(f"{t} {100 * v:.1f} %" for t, v in balanced["variance_share"].items())
        md += ["## The balanced latent: every irrep type at the same variance", "",
               f"Share of the test latents' variance per irrep type as the encoder returns them: {share}. The regressor "
               "has the irrep types at the scales training (or, with a head on the 0e channels alone, the initialisation) "
               "left them; rescaling each type to the same variance (one number per type: it commutes with "
               "D(g)) asks how much of the *relative orientation* each projection keeps when no type dominates. Same "
               "projections, same pairs, quotient distances of the rescaled latents:", ""]
        md += table([{"projection": p, **m} for p, m in balanced["metrics"].items()],
                    ["projection", "spearman", "pearson", "rel_error", "knn", "distortion"]) + [""]
        if balanced.get("random_k_curve"):
            md += table(balanced["random_k_curve"], CURVE_COLUMNS) + [""]
    probe_cols = sorted({k for m in metrics.values() for k in m if k.endswith("_r2") and not k.startswith("orient_")})
    md += ["## Probes on properties the encoder was not trained on (test R²)", "",
           f"Targets: {', '.join(probe_targets) or 'none'}.", ""]
    if probe_cols:
        md += table([{"projection": p, **m} for p, m in metrics.items()], ["projection", *probe_cols]) + [""]
    orient_cols = sorted({k for m in metrics.values() for k in m if k.startswith("orient_")})
    md += ["## Does the projection reveal the molecule's orientation?", "",
           "Probes fitted on rotated training molecules, scored on rotated test molecules (R²): `axis` = where the "
           "stored frame's z axis points after the rotation; `dipole` / `quadrupole` = the charge dipole "
           "sum_i Z_i d_i and traceless quadrupole sum_i Z_i (d_i d_i^T - |d_i|^2 I / 3) (d_i = r_i - centroid) in "
           "the rotated frame: an l = 1 and an l = 2 quantity. Invariant projections must predict none of them "
           f"(R² <= {fmt(checks.get('max_r2'))}).", ""]
    md += table([{"projection": p, **m} for p, m in metrics.items()], ["projection", "invariant", *orient_cols]) + [""]
    raw = checks.get("raw_reveals_orientation")
    md += [f"- invariant projections hide the orientation: {fmt(checks['invariant_hide_orientation'])}; the raw "
           f"latent reveals it: {fmt(raw) if raw is not None else 'not measured (no identity)'}",
           f"- every invariant projection invariant on real latents (relative change <= "
           f"{fmt(checks.get('max_change'))}): {fmt(checks['invariant_projections_invariant'])}", ""]
    md += ["## Verdict", "", "### Claim 2 on O(3): random invariant projections keep the quotient geometry where "
           "norms and the l = 0 slice do not", "", verdict.text, ""]
    md += ["## Figures", ""] + [f"- `{f}`" for f in figures] + [""]
    return "\n".join(md)
