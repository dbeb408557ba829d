"""The QM9-3D study (claim 2 on O(3)): ``eqlatent reproduce qm9_3d`` (= ``python -m eqlatent.cli.run experiment=molecules_3d``).

Pipeline: train (or reuse) an O(3)-equivariant e3nn regressor on QM9's DFT geometries, on the
configured targets (the HOMO-LUMO gap by default; resumable, fingerprinted) -> encode the graph
latents (``Irreps``, e.g. ``32x0e+8x1o+4x2e``) of test, probe and rotated / inverted molecules, with
the test MAE and the encoder's equivariance checks (cached) -> the O(3) quotient distances of
``n_eval`` test latents -> every configured projection, built by name from the registry for the
latent's Irreps (norm, scalars, gram, canonicalize, random_invariant, and the raw ``identity``):
retention, invariance under rotation and inversion of the input, probes on untrained properties,
orientation probes -> the random-K curve -> the verdict -> figures -> ``results.md`` (model quality
first), ``metrics.json`` and the loggers, through the shared end of a run (:mod:`eqlatent.studies.skeleton`).
"""

from __future__ import annotations

import logging
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig

from eqlatent.errors import ConfigError
from eqlatent.runtime.ranks import is_rank_zero
from eqlatent.studies.molecules_3d import figures
from eqlatent.studies.molecules_3d.analysis import (analyse, balance, build_projections, instantiate_probes, irreps_of,
                                                    probe_targets, quotient_reference, random_k_curve, retention_view)
from eqlatent.studies.molecules_3d.claim_o3_report import decide, model_checks, quality_line, results_markdown
from eqlatent.studies.molecules_3d.latents import (FOLDER, configured_irreps, encode_or_reuse, learning_curve,
                                                   study_rows, threads, train_or_reuse, trained_targets)
from eqlatent.studies.molecules_3d.published import published_for
from eqlatent.studies.results import Molecules3DResults
from eqlatent.studies.skeleton import Outcome, StudyRun

log = logging.getLogger(__name__)


def _block(cfg: DictConfig) -> DictConfig:
    block = cfg.get("molecules_3d")
    if block is None:
        raise ConfigError("the config has no 'molecules_3d' block", "run with experiment=molecules_3d")
    for key in ("n_eval", "n_probe_test", "knn_k"):
        if int(block[key]) < 2:
            raise ConfigError(f"molecules_3d.{key}={block[key]} is too small", f"set molecules_3d.{key} to 2 or more")
    return block


def _flat(tree: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(_flat(v, f"{prefix}/{k}" if prefix else str(k)))
    elif isinstance(tree, (bool, int, float, np.floating)) and not isinstance(tree, str):
        out[prefix] = float(tree)
    return out


def _model_info(cfg: DictConfig, cache: dict[str, Any], rows: dict, folder, reused: bool) -> dict[str, Any]:
    """The trained regressor in numbers: size, test MAE per target, published MAEs, the profile's goal, its curve."""
    targets, units = cache["targets"], dict(zip(cache["targets"], cache["units"]))
    goal = {str(k): float(v) for k, v in (cfg.molecules_3d.get("target_mae") or {}).items() if v is not None}
    return {"irreps": cache["irreps"], "dim": int(cache["latents"]["test"].shape[1]),
            "n_parameters": cache["n_parameters"], "targets": targets, "units": units,
            "test_mae": cache["test_mae"], "target_mae": goal,
            "published_mae": {t: {m: p.mae_ev for m, p in published_for(t).items()} for t in targets},
            "epochs": int(cache.get("epochs", cfg.trainer.max_epochs)), "train_s": float(cache.get("train_seconds", 0.0)),
            "n_train": len(rows["train"]), "n_val": len(rows["val"]), "n_test": len(rows["test"]),
            "reused": bool(reused), "curve": learning_curve(folder, targets)}


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run the whole QM9-3D study; returns its results as metrics.json holds them."""
    study = StudyRun(cfg)
    m = _block(cfg)
    threads(m)
    ds = hydra.utils.instantiate(cfg.data)
    rows = study_rows(cfg, ds)
    trained = trained_targets(cfg, ds)
    untrained = probe_targets(cfg, ds, trained)
    probes = instantiate_probes(cfg.get("probe"))
    # the projections are built before training, so that a projection that cannot serve this latent fails now
    projections = build_projections(cfg.get("projection"), configured_irreps(cfg))
    folder = study.out_dir / FOLDER
    fitted = train_or_reuse(cfg, ds, rows, folder)   # collective under trainer=ddp: every rank fits first
    study.add_earlier([fitted])
    if not is_rank_zero():
        log.info("the regressor is trained; rank 0 encodes, analyses and writes the results")
        return {}
    cache = encode_or_reuse(cfg, ds, rows, fitted)
    model = _model_info(cfg, cache, rows, folder, fitted.reused)
    log.info("regressor: %s", quality_line(model))

    irreps = irreps_of(cache)
    lat = cache["latents"]
    n_test = len(lat["test"])
    sizes = {"n_eval": min(int(m.n_eval), n_test), "n_probe_test": min(int(m.n_probe_test), n_test)}
    sizes["n_test_used"] = max(sizes["n_eval"], sizes["n_probe_test"], len(lat["rot_test"]), len(lat["inverted"]),
                               min(int(m.pca_points), n_test))
    log.info("O(3) quotient distances of %d test latents (%d pairs)", sizes["n_eval"],
             sizes["n_eval"] * (sizes["n_eval"] - 1) // 2)
    d_true = quotient_reference(lat["test"][: sizes["n_eval"]], irreps)
    y = {"train": ds.targets[cache["rows"]["probe_train"]], "test": ds.targets[cache["rows"]["test"][: sizes["n_probe_test"]]]}
    cols = [ds.target_names.index(t) for t in untrained]
    y_probe = {k: v[:, cols].double().numpy() for k, v in y.items()}
    metrics, features = analyse(cache, d_true, projections, probes, y_probe, untrained, sizes, int(m.knn_k),
                                int(cfg.seed))
    z_eval = lat["test"][: sizes["n_eval"]].double()
    curve = random_k_curve(z_eval, d_true, cfg.get("projection"), irreps, list(m.k_multipliers), int(m.knn_k))
    scales, share = balance(lat["test"], irreps)
    log.info("balanced latent (variance share as returned: %s)", ", ".join(f"{t} {v:.3f}" for t, v in share.items()))
    d_bal, bal_metrics = retention_view(z_eval * scales, irreps, projections, int(m.knn_k))
    bal_curve = random_k_curve(z_eval * scales, d_bal, cfg.get("projection"), irreps, list(m.k_multipliers),
                               int(m.knn_k), "balanced")
    balanced = {"variance_share": share, "metrics": bal_metrics, "random_k_curve": bal_curve}

    thr = cfg.verdicts
    verdict = decide({"raw": (metrics, curve), "balanced": (bal_metrics, bal_curve)}, thr)
    checks = model_checks(metrics, cache["encoder_checks"], thr)
    figs = []
    if curve:
        figs += study.figure("retention_vs_k.png", figures.retention_vs_k,
                             {"raw": (curve, metrics), "balanced": (bal_curve, bal_metrics)}, float(thr.min_spearman),
                             float(thr.min_k_over_dim))
    figs += study.figure("retention_bars.png", figures.retention_bars, {"raw": metrics, "balanced": bal_metrics},
                         float(thr.min_spearman))
    prop = str(m.figure_property)
    colour = ds.target(prop)[cache["rows"]["test"]].numpy()
    unit = ds.target_units[ds.target_names.index(prop)]
    feats_np = {p: {k: v.numpy() for k, v in f.items()} for p, f in features.items()}
    figs += study.figure("pca_raw_vs_invariant.png", figures.pca_raw_vs_invariant, feats_np, colour,
                         f"{prop} [{unit}]", n_points=int(m.pca_points), seed=int(cfg.seed))
    if model["curve"]:
        figs += study.figure("learning_curve.png", figures.learning_curve, model["curve"], model["test_mae"],
                             model["units"], model["published_mae"], model["target_mae"])

    n_orient = len(lat["rot_test"])
    info = {"run_name": str(cfg.run_name), "profile": str(cfg.profile.name), "seed": int(cfg.seed),
            "n_eval": sizes["n_eval"], "n_probe_train": len(lat["probe_train"]), "n_probe_test": sizes["n_probe_test"],
            "n_orient": n_orient, "n_check": len(lat["inverted"]), "reused": "regressor" if fitted.reused else "none",
            "wall_s": study.wall_s(), "earlier_s": study.earlier_s}
    rel_figs = [str(p.relative_to(study.out_dir)) for p in figs]
    md = results_markdown(info, model, checks, cache["encoder_checks"], metrics, curve, balanced, untrained, verdict,
                          rel_figs)
    results = Molecules3DResults(info=info, model=model, encoder_checks=cache["encoder_checks"], metrics=metrics,
                                 random_k_curve=curve, balanced=balanced, probe_targets=untrained, checks=checks,
                                 claim2_o3=verdict, figures=rel_figs)
    tables = {"projections": (["projection", *next(iter(metrics.values())).keys()],
                              [[p, *v.values()] for p, v in metrics.items()])} if metrics else {}
    if curve:
        tables["random_k"] = (list(curve[0].keys()), [list(r.values()) for r in curve])
    logged = _flat({"model": {"test_mae": model["test_mae"]}, "encoder_checks": cache["encoder_checks"],
                    "metrics": metrics, "balanced": bal_metrics, "claim2_o3": {"held": verdict.held}})
    study.finish(Outcome(md, results, logged, tables, figs, {"e3nn regressor": quality_line(model)}))
    return results.to_json()

