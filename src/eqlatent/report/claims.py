"""One section per paper claim, built from a cell's seed-mean and seed-std metrics.

Tables and verdict rules are the studies' own (``studies.molecules.claim1_report``, ``studies.images.claims23_report``):
the report only feeds them averaged numbers, adds ``± std`` over seeds, counts in how
many seeds each claim held, and states the margin by which it held or failed.  Each
section is registered (:mod:`eqlatent.report.registry`) for the studies whose runs it shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eqlatent.runtime.markdown import markdown_table
from eqlatent.report.aggregate import mean_std, pm
from eqlatent.report.collect import Cell
from eqlatent.report.registry import register_section
from eqlatent.studies.results import ImagesResults, MoleculesResults, Verdict

CLAIM1 = "Claim 1: a lossless (isometric) invariant projection for permutation-equivariant graph latents"
CLAIMS23 = "Claims 2 and 3: random invariant projections (escnn) and the rotation-augmented CNN"


def _merge_rows(mean_rows: list[list[Any]], std_rows: list[list[Any]]) -> list[list[str]]:
    return [[pm(m, s) for m, s in zip(mr, sr)] for mr, sr in zip(mean_rows, std_rows)]


def _margin(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "n/a"
    return pm(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0)


def _seeds(cell: Cell) -> str:
    return ", ".join(str(s) for s in cell.seeds)


@register_section(CLAIM1, "molecules", "molecules_zinc", empty="No molecules runs found.")
def claim1_section(cell: Cell) -> tuple[list[str], list[Verdict]]:
    """Claim 1 (molecules): sort at d = 1 is an isometric cross-section, and probes on it beat the naive latent."""
    from eqlatent.studies.molecules.claim1_report import claim1_verdict, probe_lookup, projection_table

    runs = [MoleculesResults.from_json(r.metrics) for r in cell.runs]
    mean, std = mean_std([r.metrics for r in cell.runs])
    out = [f"### `{cell.study}` ({cell.profile} profile), {len(cell.runs)} seed(s): {_seeds(cell)}", ""]
    detail = []
    for d, m_ld in mean.get("latent_dims", {}).items():
        header, m_rows = projection_table(m_ld)
        _, s_rows = projection_table(std["latent_dims"][d])
        detail += [f"latent_dim {d} (mean ± std over seeds):", ""] + markdown_table(header, _merge_rows(m_rows, s_rows))
        detail += [""]
    per_seed = [r.claim1.held if r.claim1 else None for r in runs]
    verdict = claim1_verdict(mean)
    margins = []
    for res in runs:
        d1 = res.latent_dims.get("1")
        if not d1:
            continue
        for probe in sorted({p["probe"] for p in d1["probes"]}):
            s = probe_lookup(d1["probes"], "sort", "stored", probe)
            n = probe_lookup(d1["probes"], "identity", "shuffled", probe)
            if s and n:
                margins.append((probe, s["r2"] - n["r2"]))
    devs = [r.latent_dims["1"]["retention"]["sort"]["max_abs_dev"] for r in runs
            if "sort" in r.latent_dims.get("1", {}).get("retention", {})]
    held = verdict.held
    deciding = [["sort vs exact quotient distance, max abs difference (d = 1)", _margin(devs), "≤ 1e-6"]]
    deciding += [[f"{p} R²: sort minus shuffled naive latent (d = 1)", _margin([m for q, m in margins if q == p]), "> 0"]
                 for p in sorted({p for p, _ in margins})]
    out += ["Deciding numbers (mean ± std over seeds):", ""]
    out += markdown_table(["quantity", "measured", "needed"], deciding) + [""]
    out += ["Model quality (test split, posterior mean):", ""] + _vae_quality(cell) + [""]
    out += detail
    out += [f"**Claim 1 {'held' if held else 'did not hold'}** on the seed-mean numbers; held in "
            f"{sum(bool(h) for h in per_seed)}/{len(per_seed)} seeds. By how much: sort vs exact quotient distance, "
            f"max |difference| {_margin(devs)}; R² of probes on sort minus R² on the shuffled naive latent: "
            + ", ".join(f"{p} {_margin([m for q, m in margins if q == p])}" for p in sorted({p for p, _ in margins}))
            + ".", "", verdict.text, ""]
    return out, [verdict]


def _vae_quality(cell: Cell) -> list[str]:
    """Reconstruction of the trained VAEs per latent size: a claim read off a VAE that cannot decode means little."""
    rows = []
    dims = sorted({d for r in cell.runs for d in r.metrics.get("latent_dims", {})}, key=int)
    for d in dims:
        per = [r.metrics["latent_dims"][d] for r in cell.runs if d in r.metrics.get("latent_dims", {})]
        rec = [p.get("reconstruction", {}).get("posterior mean", {}) for p in per]
        epochs = sorted({str(p.get("epochs_trained", "?")) for p in per})
        rows.append([d, "/".join(epochs)] + [_margin([x.get(k, float("nan")) for x in rec]) for k in
                                             ("graph_exact", "exact_of_decodable", "validity", "valid_connected")])
    return markdown_table(["latent_dim", "epochs", "exact graphs", "exact / ceiling", "valid (rdkit)",
                           "valid, one fragment"], rows)


def _image_rows(metrics: dict, enc: str, columns: list[str]) -> list[list[Any]]:
    def cell(m: dict, c: str) -> Any:
        v = m.get(c, "-")
        return bool(v) if c == "lossless" and v in (0, 1) else v  # a property of the projection: yes / no

    return [[p] + [cell(m, c) for c in columns[1:]] for p, m in metrics[enc].items()]


def _claim2_margins(c2: list[dict]) -> dict[str, tuple[str, str, str]]:
    """Per equivariant encoder, over seeds: Spearman(random-K), 10-NN consistency gain and upright->rotated gain."""
    out = {}
    for e in sorted({e for c in c2 for e in c.get("per_encoder", {})}):
        per = [c["per_encoder"][e] for c in c2 if e in c.get("per_encoder", {})]
        out[e] = (_margin([p["spearman_random"] for p in per]),
                  _margin([p["knn_consistency_random"] - p["knn_consistency_raw"] for p in per]),
                  _margin([p["upright_to_rotated_acc_random"] - p["upright_to_rotated_acc_raw"] for p in per]))
    return out


def _claim3_margins(evaluated: list[dict]) -> tuple[str, str, str]:
    """Over seeds: the raw latent's and orbit_average's relative change under rotation, and the 10-NN gain."""
    return (_margin([c["raw_inv_err"] for c in evaluated]), _margin([c["orbit_inv_err"] for c in evaluated]),
            _margin([c["knn_consistency_orbit"] - c["knn_consistency_raw"] for c in evaluated]))


def _claims23_deciding(m2: dict[str, tuple[str, str, str]], m3: tuple[str, str, str] | None) -> list[str]:
    """One compact table per cell with the numbers the claim 2 and 3 verdicts are decided on."""
    if not m2 and m3 is None:
        return []
    out = ["Deciding numbers (mean ± std over seeds). Claim 2 needs, per equivariant encoder, random-K distances "
           "ranked like the quotient distance and better analysis than on the raw latent:", ""]
    out += markdown_table(["claim: encoder", "Spearman(random-K, quotient)", "10-NN consistency gain over raw",
                           "upright→rotated accuracy gain"], [[f"2: {e}", *m] for e, m in m2.items()]) + [""]
    if m3 is not None:
        out += ["Claim 3 needs the augmented CNN's raw latent to move under rotation and orbit averaging to fix it:", ""]
        out += markdown_table(["claim: encoder", "raw latent: relative change under rotation",
                               "orbit_average: relative change", "10-NN consistency gain of orbit_average"],
                              [["3: cnn_aug", *m3]]) + [""]
    return out


@register_section(CLAIMS23, "images", empty="No images runs found.")
def claims23_section(cell: Cell) -> tuple[list[str], list[Verdict]]:
    """Claims 2 and 3 (rotated MNIST): random invariant projections keep information; augmented CNN is ambiguous."""
    from eqlatent.studies.images.claims23_report import PROJ_COLUMNS

    runs = [ImagesResults.from_json(r.metrics) for r in cell.runs]
    mean, std = mean_std([r.metrics for r in cell.runs])
    out = [f"### `{cell.study}` ({cell.profile} profile), {len(cell.runs)} seed(s): {_seeds(cell)}", ""]
    c2 = [r.claim2 or Verdict("2", None) for r in runs]
    c3 = [r.claim3 or Verdict("3", None) for r in runs]
    evaluated3 = [c.details for c in c3 if c.evaluated]
    m2, m3 = _claim2_margins([c.details for c in c2]), _claim3_margins(evaluated3) if evaluated3 else None
    out += _claims23_deciding(m2, m3)
    enc_cols = ["acc_rotated_test", "acc_upright_test"]
    out += ["Model quality (test accuracy, mean ± std over seeds):", ""]
    out += markdown_table(["encoder", "layout"] + enc_cols,
                  [[e, str(v.get("layout", ""))] + [pm(v.get(c), std["encoders"][e].get(c)) for c in enc_cols]
                   for e, v in mean.get("encoders", {}).items()]) + [""]
    for enc in mean.get("metrics", {}):
        out += [f"{enc} (mean ± std over seeds):", ""]
        out += markdown_table(PROJ_COLUMNS, _merge_rows(_image_rows(mean["metrics"], enc, PROJ_COLUMNS),
                                                _image_rows(std["metrics"], enc, PROJ_COLUMNS))) + [""]
    held2 = all(c.held for c in c2) if any(c.evaluated for c in c2) else None
    held3 = all(c.held for c in c3) if any(c.evaluated for c in c3) else None
    if held2 is not None:
        parts = [f"{e}: Spearman(random-K) {rho}, 10-NN consistency gain over raw {knn}, upright->rotated accuracy gain "
                 f"{acc}" for e, (rho, knn, acc) in m2.items()]
        out += [f"**Claim 2 {'held' if held2 else 'did not hold'}** in every seed: "
                f"{sum(bool(c.held) for c in c2)}/{len(c2)} seeds. By how much: " + "; ".join(parts) + ".", ""]
    if held3 is not None:
        raw, orbit, knn = m3
        out += [f"**Claim 3 {'held' if held3 else 'did not hold'}** in every seed: "
                f"{sum(bool(c.held) for c in c3)}/{len(c3)} seeds. By how much: raw latent relative change "
                f"under rotation {raw} vs orbit_average {orbit}; 10-NN consistency gain of orbit_average over raw "
                f"{knn}.", ""]
    return out, [Verdict("2", held2), Verdict("3", held3)]
