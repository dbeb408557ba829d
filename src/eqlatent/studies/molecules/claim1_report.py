"""Turn the molecules study's measured numbers into results.md and the claim-1 verdict.

Nothing here measures anything: every number in the report comes from the ``results``
dict the study computed in the same run, and the verdict is a rule applied to those
numbers (stated in the report next to its outcome).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from eqlatent.runtime.markdown import markdown_table
from eqlatent.studies.results import Verdict, wall_time_text

#: a cross-section counts as isometric when projected and quotient distances agree to this (float64 maths
#: on float32 latents: only rounding remains)
ISOMETRY_ATOL = 1e-6


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    if isinstance(x, float):
        if x != 0 and abs(x) < 10 ** -digits:
            return f"{x:.1e}"
        return f"{x:.{digits}f}"
    return str(x)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return markdown_table(header, [[c if isinstance(c, str) else _f(c) for c in row] for row in rows])


def probe_lookup(rows: list[dict], projection: str, condition: str, probe: str) -> dict | None:
    for r in rows:
        if r["projection"] == projection and r["condition"] == condition and r["probe"] == probe:
            return r
    return None


def projection_table(res: dict) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: one row per projection with every retained-information metric."""
    probes = sorted({r["probe"] for r in res["probes"]})
    header = ["projection", "claimed", "Spearman", "Pearson", "rel. error", "max abs dev", f"kNN@{res['knn_k']}",
              "decoded exactly"] + [f"{p} R²" for p in probes] + [f"{p} MAE" for p in probes]
    rows = []
    for name, ret in res["retention"].items():
        proj = res["projection_info"][name]
        claimed = ("not invariant" if not proj["invariant"] else
                   "lossless, isometric" if proj.get("isometric") else "lossless" if proj["lossless"] else "lossy")
        dec = res["decodability"][name]["exact_match"]
        stored = [probe_lookup(res["probes"], name, "stored", p) for p in probes]
        rows.append([name, claimed, ret["spearman"], ret["pearson"], ret["rel_error"], ret["max_abs_dev"], ret["knn"],
                     dec] + [r["r2"] if r else None for r in stored] + [r["mae"] if r else None for r in stored])
    return header, rows


def claim1_verdict(results: dict) -> Verdict:
    """Apply the claim-1 rule to the d = 1 numbers (and describe d > 1).

    Rule: claim 1 holds when, at one latent number per node, (a) ``sort`` distances
    match the exact quotient distances (max |difference| <= ISOMETRY_ATOL) and (b) for
    every probe, R² on ``sort`` is higher than R² on the naive latent whose node order
    was shuffled (the naive latent's order is arbitrary for an equivariant model).  The
    comparison with the naive latent in the dataset's own node order is reported too.
    ``results`` is the JSON form (:class:`~eqlatent.studies.results.MoleculesResults`), also a seed-mean of it.
    """
    dims = results["latent_dims"]
    if "1" not in dims or not {"sort", "identity"} <= set(dims["1"]["retention"]):
        return Verdict("1", None, "Claim 1 not tested: it needs latent_dim 1 and both the sort and the identity "
                                  "projection (e.g. projection=molecules_all)")
    r1 = dims["1"]
    ret = r1["retention"]["sort"]
    isometric = ret["max_abs_dev"] <= ISOMETRY_ATOL
    probes = sorted({r["probe"] for r in r1["probes"]})
    lines, beats_shuffled, beats_stored = [], True, True
    for p in probes:
        s = probe_lookup(r1["probes"], "sort", "stored", p)
        naive_shuf = probe_lookup(r1["probes"], "identity", "shuffled", p)
        naive = probe_lookup(r1["probes"], "identity", "stored", p)
        if s is None or naive_shuf is None:
            beats_shuffled = False
            lines.append(f"- {p}: missing sort or shuffled identity probe")
            continue
        beats_shuffled &= s["r2"] > naive_shuf["r2"]
        if naive is not None:
            beats_stored &= s["r2"] > naive["r2"]
        lines.append(f"- {p}: R² sort {s['r2']:.3f} vs naive latent shuffled {naive_shuf['r2']:.3f}"
                     + (f" / in dataset order {naive['r2']:.3f}" if naive else "")
                     + (f" / shuffled at test time only "
                        f"{probe_lookup(r1['probes'], 'identity', 'shuffled_test', p)['r2']:.3f}"
                        if probe_lookup(r1["probes"], "identity", "shuffled_test", p) else ""))
    held = bool(isometric and beats_shuffled)
    head = (f"**Claim 1 {'HELD' if held else 'NOT HELD'}** at latent_dim 1: sort vs exact quotient distances over "
            f"{ret['n_pairs']:,} pairs: max |difference| {ret['max_abs_dev']:.2e} "
            f"({'<=' if isometric else '>'} {ISOMETRY_ATOL:g}), Spearman {ret['spearman']:.6f}, "
            f"relative error {ret['rel_error']:.2e}; probes on sort beat the shuffled naive latent: "
            f"{'yes' if beats_shuffled else 'no'} (and the naive latent in dataset order: "
            f"{'yes' if beats_stored else 'no'}).")
    extra = []
    for d, rd in dims.items():
        if d == "1":
            continue
        rr = rd["retention"]
        if "lex_sort" in rr and "channel_sort" in rr:
            dec = rd["decodability"]
            lex, cs = rr["lex_sort"], rr["channel_sort"]
            ident_dec = dec["identity"]["exact_match"]
            dec_text = (f"decoded exactly {_f(dec['lex_sort']['exact_match'])} vs identity {_f(ident_dec)}"
                        if ident_dec else "decodability cannot separate them here: the decoder reconstructs no "
                        "test molecule exactly even from the latent itself")
            extra.append(
                f"- latent_dim {d} ({rd['active_channels']} of {d} channels active, i.e. posterior variance < 0.5): "
                f"lex_sort is lossless -- its output lies in the input's orbit (max quotient distance "
                f"{lex.get('orbit_dev', float('nan')):.1e}) -- but not isometric (rel. error {lex['rel_error']:.3f}, "
                f"Spearman {lex['spearman']:.3f}, kNN {lex['knn']:.3f}); channel_sort is lossy in general "
                f"(counterexample in tests/projections/test_node_projections.py) yet here rel. error {cs['rel_error']:.1e}, "
                f"Spearman {cs['spearman']:.3f}, kNN {cs['knn']:.3f}; {dec_text}.")
            if rd["active_channels"] == 1 and lex["rel_error"] > cs["rel_error"]:
                extra.append(f"  With {int(d) - 1} collapsed channel(s) (near-constant, "
                             "noise only) channel_sort nearly equals sorting the one active channel, while lex_sort "
                             "orders nodes by the noise of a collapsed leading channel -- which is why it is far "
                             "from isometric here.")
    return Verdict("1", held, "\n".join([head] + lines + extra),
                   {"isometric": isometric, "beats_shuffled_naive": beats_shuffled, "beats_stored_naive": beats_stored})


def interpolation_section(results: dict) -> list[str]:
    """The interpolation table: valid and distinct shares along equivariant vs cross-section paths."""
    rows = []
    for d, rd in results["latent_dims"].items():
        it = rd.get("interpolation") or {}
        for label, kind in it.get("kinds", {}).items():
            rows.append([d, label, str(it["n_pairs"]), str(it["n_candidates"]), kind["valid"],
                         kind.get("valid_argmax"), kind["distinct"]])
    if not rows:
        return []
    steps = next(rd["interpolation"]["steps"] for rd in results["latent_dims"].values() if rd.get("interpolation"))
    return ["", "## Interpolations (test split)", "",
            f"Random pairs of test molecules that the VAE reconstructs exactly from the analysed latent; each path "
            f"decoded at {steps} evenly spaced points, end points included. 'valid' = mean share of points rdkit "
            "accepts (model's decoding; 'argmax' = without the valence repair); 'distinct' = mean share of points "
            "that are distinct valid molecules. Equivariant latent: "
            "linear in the dataset's node order; cross-section: between the two latents with nodes sorted.", ""
            ] + _table(["latent_dim", "path", "pairs", "exact test molecules", "valid", "valid (argmax)", "distinct"],
                       rows)


def results_markdown(results: dict, verdict: Verdict) -> str:
    """The full results.md text."""
    out = [f"# Molecules study: {results['dataset']['name']} -- run `{results['run_name']}`", "",
           f"Data: {results['dataset']['summary']}", "",
           f"Model: permutation-equivariant graph VAE ({results['model']}); trained {results['epochs']} epochs per "
           f"latent size; analysis latent: posterior {results['analysis_latent']}. Metrics on the test split; "
           f"distance metrics on {results['n_eval']} test molecules (all pairs). "
           f"Probe targets: {', '.join(results['probe_targets'])} (R² averaged over targets; MAE averaged in "
           "the targets' own units).", "", "## Claim 1", "", verdict.text, "",
           "## Reconstruction (test split)", ""]
    ceiling = results.get("ceiling")
    if ceiling:
        out += [f"Ceiling: {ceiling['decodable']:.1%} of the {ceiling['n_test']:,} test molecules can be decoded "
                "exactly from a posterior mean at all. An equivariant encoder gives atoms it cannot tell apart "
                "identical latents, and an equivariant decoder then bonds them alike; a molecule whose "
                "indistinguishable atoms are bonded differently (e.g. methylcyclohexane's ring) is out of reach "
                "(`eqlatent.studies.molecules.ceiling`). 'exact / ceiling' = exact graphs among the decodable ones.", ""]
    rows = []
    for d, rd in results["latent_dims"].items():
        for which, sc in rd["reconstruction"].items():
            rows.append([d, str(rd["active_channels"]), which, sc["node_acc"], sc["atom_acc"], sc["bond_acc"],
                         sc["bond_acc_real"], sc["graph_exact"], sc.get("exact_of_decodable"),
                         ceiling["decodable"] if ceiling and which == "posterior mean" else None,
                         sc["validity"], sc["valid_connected"]])
    out += _table(["latent_dim", "active channels", "decoded from", "node acc", "atom acc", "bond acc (all pairs)",
                   "bond acc (bonded)", "exact graphs", "exact / ceiling", "ceiling", "valid (rdkit)",
                   "valid, one fragment"], rows)
    out += interpolation_section(results)
    for d, rd in results["latent_dims"].items():
        header, rows = projection_table(rd)
        out += ["", f"## Retained information, latent_dim {d}", "",
                f"{rd['retention'][next(iter(rd['retention']))]['n_pairs']:,} pairs; rel. error = mean|d_proj - "
                "d_quot| / mean d_quot; 'decoded exactly' = decoder run on the projection (cross-sections "
                "un-permuted); probes use the dataset node order (invariant projections give the same features "
                "for any order: max invariance error "
                f"{max((r['invariance_error'] for r in rd['probes'] if r['projection'] != 'identity'), default=float('nan')):.1e}).",
                ""]
        out += _table(header, rows)
        naive = [r for r in rd["probes"] if r["projection"] == "identity"]
        out += ["", f"Naive latent under node-order shuffles (latent_dim {d}):", ""]
        out += _table(["condition", "probe", "R²", "MAE"], [[r["condition"], r["probe"], r["r2"], r["mae"]] for r in naive])
    first = next(iter(results["latent_dims"].values()))
    targets = results["probe_targets"]
    d0 = next(iter(results["latent_dims"]))
    out += ["", f"## Per-target test MAE, latent_dim {d0}", ""]
    out += _table(["projection", "condition", "probe"] + targets,
                  [[r["projection"], r["condition"], r["probe"]] + [r["mae_per_target"][t] for t in targets]
                   for r in first["probes"]])
    out += ["", "## Figures (in the run folder)", ""] + [f"- `figures/{Path(p).name}`" for p in results["figures"]]
    wall = wall_time_text(results["wall_time_s"], results.get("earlier_time_s", 0.0))
    out += ["", f"Wall time of this run: {wall} (training {results['train_time_s']:.0f} s; "
            "0 s training means the checkpoints were reused).", ""]
    return "\n".join(out)
