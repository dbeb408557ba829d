"""REPORT.md's section of the QM9-3D study: claim 2 on O(3), from a cell's seed-mean and seed-std metrics.

As for the other studies (:mod:`eqlatent.report.claims`), the tables and the verdict rule are the
study's own (:mod:`eqlatent.studies.molecules_3d.claim_o3_report`): the report feeds them averaged
numbers, adds ``± std`` over seeds, counts in how many seeds the claim held and states by how much.
The model's quality (test MAE per trained target, beside the published models') comes first.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from eqlatent.report.aggregate import mean_std, pm
from eqlatent.report.claims import _margin, _merge_rows, _seeds
from eqlatent.report.collect import Cell
from eqlatent.report.registry import register_section
from eqlatent.runtime.markdown import markdown_table
from eqlatent.studies.results import Molecules3DResults, Verdict

CLAIM_O3 = "Claim 2 on O(3): random invariant projections of an e3nn latent (QM9-3D)"


def _rows(per_projection: dict[str, dict[str, Any]], columns: list[str]) -> list[list[Any]]:
    return [[p] + [m.get(c, "-") for c in columns[1:]] for p, m in per_projection.items()]


def _curve_rows(curve: list[dict[str, Any]], columns: list[str]) -> list[list[Any]]:
    return [[r.get(c, "-") for c in columns] for r in curve]


def _thresholds(runs: list[Molecules3DResults]) -> SimpleNamespace | None:
    """The verdict's thresholds as the runs recorded them (every run of a cell has the same config)."""
    for r in runs:
        d = r.claim2_o3.details if r.claim2_o3 else {}
        if "min_spearman" in d and "min_k_over_dim" in d:
            return SimpleNamespace(min_spearman=d["min_spearman"], min_k_over_dim=d["min_k_over_dim"],
                                   view=d.get("view", "raw"))
    return None


@register_section(CLAIM_O3, "molecules_3d", empty="No molecules_3d runs found.")
def claim_o3_section(cell: Cell) -> tuple[list[str], list[Verdict]]:
    """Claim 2 on O(3): random invariant projections keep the O(3) quotient geometry; norms and scalars do not."""
    from eqlatent.studies.molecules_3d.claim_o3_report import CURVE_COLUMNS, PROJ_COLUMNS, decide
    from eqlatent.studies.molecules_3d.published import MODELS, published_for

    runs = [Molecules3DResults.from_json(r.metrics) for r in cell.runs]
    mean, std = mean_std([r.metrics for r in cell.runs])
    out = [f"### `{cell.study}` ({cell.profile} profile), {len(cell.runs)} seed(s): {_seeds(cell)}", ""]
    targets = sorted({t for r in runs for t in r.model.get("test_mae", {})})
    quality = []
    for t in targets:
        maes = [r.model["test_mae"][t] for r in runs if t in r.model.get("test_mae", {})]
        pub = published_for(t)
        quality.append([t, _margin(maes), *[f"{pub[m].mae_ev:.4f}" if m in pub else "-" for m in MODELS]])
    out += ["Model quality (test MAE of the e3nn regressor, mean ± std over seeds; published models' beside):", ""]
    out += markdown_table(["target", "test MAE", *MODELS], quality) + [""]

    thr = _thresholds(runs)
    view = thr.view if thr is not None else "raw"

    def numbers(r: Molecules3DResults) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return (r.metrics, r.random_k_curve) if view == "raw" else (r.balanced.get("metrics", {}),
                                                                    r.balanced.get("random_k_curve", []))

    big = [r for r in runs if thr is not None]
    lowest = [min((row["spearman"] for row in numbers(r)[1] if row["K_over_dim"] >= thr.min_k_over_dim - 1e-9),
                  default=float("nan")) for r in big]
    deciding = [[f"random_invariant, lowest Spearman at K >= {thr.min_k_over_dim:g} D" if thr else "random_invariant",
                 _margin(lowest), f">= {thr.min_spearman:g}" if thr else "-"]]
    for b in ("norm", "scalars"):
        vals = [numbers(r)[0][b]["spearman"] for r in runs if b in numbers(r)[0]]
        if vals:
            deciding.append([f"{b} Spearman", _margin(vals), f"< {thr.min_spearman:g}" if thr else "-"])
    out += [f"Deciding numbers (mean ± std over seeds; Spearman of projected against O(3) quotient distances, on the "
            f"{view} latent):", ""]
    out += markdown_table(["quantity", "measured", "needed"], deciding) + [""]

    if mean.get("metrics"):
        out += ["Projections on the raw latent (mean ± std over seeds):", ""]
        out += markdown_table(PROJ_COLUMNS, _merge_rows(_rows(mean["metrics"], PROJ_COLUMNS),
                                                        _rows(std["metrics"], PROJ_COLUMNS))) + [""]
    if mean.get("random_k_curve"):
        out += ["Random-K curve (mean ± std over seeds):", ""]
        out += markdown_table(CURVE_COLUMNS, _merge_rows(_curve_rows(mean["random_k_curve"], CURVE_COLUMNS),
                                                         _curve_rows(std["random_k_curve"], CURVE_COLUMNS))) + [""]
    balanced, balanced_std = mean.get("balanced", {}), std.get("balanced", {})
    if balanced.get("metrics"):
        cols = ["projection", "spearman", "pearson", "rel_error", "knn", "distortion"]
        out += ["Retention on the balanced latent, every irrep type at the same variance (mean ± std over seeds):", ""]
        out += markdown_table(cols, _merge_rows(_rows(balanced["metrics"], cols), _rows(balanced_std["metrics"], cols)))
        out += [""]
    per_seed = [r.claim2_o3.held if r.claim2_o3 else None for r in runs]
    views = {"raw": (mean.get("metrics", {}), mean.get("random_k_curve", [])),
             "balanced": (balanced.get("metrics", {}), balanced.get("random_k_curve", []))}
    verdict = (decide(views, thr) if thr is not None
               else Verdict("2 on O(3)", None, "Not evaluated (no run recorded the verdict's thresholds)."))
    if verdict.evaluated:
        out += [f"**Claim 2 on O(3) {'held' if verdict.held else 'did not hold'}** on the seed-mean numbers; held in "
                f"{sum(bool(h) for h in per_seed)}/{len(per_seed)} seeds. By how much ({view} latent): lowest "
                f"random_invariant Spearman at K >= {thr.min_k_over_dim:g} D {_margin(lowest)}; "
                + "; ".join(f"{row[0]} {row[1]}" for row in deciding[1:]) + ".", ""]
    out += [verdict.text, ""]
    checks = mean.get("checks", {})
    hide = checks.get("invariant_hide_orientation")
    hide_text = pm(hide, None) if isinstance(hide, bool) or hide is None else f"in {100 * hide:.0f} % of the seeds"
    if checks:
        out += [f"Checks (seed means): encoder equivariance error {pm(checks.get('encoder_max_rel_error'), None)} "
                f"(tolerance {pm(checks.get('equivariance_tolerance'), None)}); invariant projections hide the "
                f"orientation: {hide_text}.", ""]
    return out, [verdict]
