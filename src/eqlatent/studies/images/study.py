"""The images study (claims 2 and 3): ``python -m eqlatent.cli.run experiment=images``.

Pipeline: train each encoder of ``cfg.model`` on rotated MNIST (resumable; on every rank
under ``trainer=ddp``, after which the other ranks stop) -> extract latents (cached) -> apply every projection that fits the encoder's latent layout ->
quotient-distance metrics, invariance errors, class and angle probes, random-K curve ->
figures -> ``results.md`` (+ a copy in ``outputs/images/``), ``metrics.json`` and the
loggers (CSV, wandb offline with tables and images), through the shared end of a run
(:mod:`eqlatent.studies.skeleton`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig

from eqlatent.errors import ConfigError
from eqlatent.studies.images.analysis import analyse_encoder, quotient_reference, random_k_curve
from eqlatent.studies.images.figures import embedding_grid, retention_curve
from eqlatent.runtime.ranks import is_rank_zero
from eqlatent.studies.images.latents import encode_and_cache, train_or_reuse
from eqlatent.studies.images.claims23_report import claim2_verdict, claim3_verdict, results_markdown
from eqlatent.studies.results import ImagesResults
from eqlatent.studies.skeleton import Outcome, StudyRun

log = logging.getLogger(__name__)


def _encoder_configs(cfg: DictConfig) -> dict[str, DictConfig]:
    models = {k: v for k, v in (cfg.get("model") or {}).items() if v is not None}
    if not models or any("_target_" not in v for v in models.values()):
        raise ConfigError("experiment=images needs model to be a mapping of named encoders",
                          "use model=images_all or model=<one of c8, c16, so2, cnn_aug, cnn_plain>")
    return models


def _flat(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(_flat(v, key))
        elif isinstance(v, (bool, int, float, np.floating)):
            out[key] = float(v)
    return out


def _quality(encoders: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Per encoder: its test accuracy on rotated and on upright digits."""
    return {f"encoder {e}": f"test accuracy rotated {v['acc_rotated_test']:.3f}, upright {v['acc_upright_test']:.3f}"
            for e, v in encoders.items()}


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run the whole images study; returns the verdicts and per-encoder metrics."""
    study = StudyRun(cfg)
    icfg = cfg.images
    out_dir = study.out_dir
    models = _encoder_configs(cfg)
    data = hydra.utils.instantiate(cfg.data)
    log.info(data.summary())

    # collective under trainer=ddp: every rank fits every encoder first; then rank 0 alone encodes and analyses
    fitted = {name: train_or_reuse(cfg, name, mcfg, data, out_dir) for name, mcfg in models.items()}
    study.add_earlier(fitted.values())
    if not is_rank_zero():
        log.info("every encoder is trained; rank 0 encodes, analyses and writes the results")
        return {}
    caches = {name: encode_and_cache(cfg, name, enc, data) for name, enc in fitted.items()}
    reused = [name for name, enc in fitted.items() if enc.reused]

    t_latents = time.time()
    log.info("encoders ready after %.0f s", study.wall_s())
    encoders, metrics, features, curves = {}, {}, {}, {}
    for name, cache in caches.items():
        z = cache["latents"]["test"][cache["layout"]]
        encoders[name] = {"layout": cache["layout"], "parameters": cache["n_parameters"],
                          "latent_shape": "x".join(str(s) for s in z.shape[1:]),
                          "trained_on": cache.get("train_on", "rotated"), "epochs": cache.get("epochs", int(icfg.epochs)),
                          "train_s": cache.get("train_seconds", float("nan")),
                          "acc_rotated_test": cache["accuracy"]["test"], "acc_upright_test": cache["accuracy"]["test_upright"]}
        n_eval = min(int(icfg.n_eval), len(cache["labels"]["test"]))    # every projection is scored on these distances
        d_true = quotient_reference(cache["layout"], cache["latents"]["test"], n_eval)
        metrics[name], features[name] = analyse_encoder(cache, d_true, cfg.projection, cfg.probe, int(cfg.seed))
        curves[name] = random_k_curve(cache, d_true, cfg.projection, cfg.probe, list(icfg.k_multipliers), int(cfg.seed))

    log.info("projections, metrics and probes took %.0f s", time.time() - t_latents)
    labels = next(iter(caches.values()))["labels"]["test"].numpy()
    feats_np = {e: {p: f.numpy() for p, f in fs.items()} for e, fs in features.items()}
    # a figure that fails is noted in results.md, the run goes on
    figures = study.figure("pca_latents.png", embedding_grid, feats_np, labels, method="pca", seed=int(cfg.seed))
    tsne = {e: feats_np[e] for e in icfg.tsne_encoders if e in feats_np}
    if tsne:
        figures += study.figure("tsne_latents.png", embedding_grid, tsne, labels, method="tsne", n_points=800,
                                seed=int(cfg.seed))
    if any(curves.values()):
        reference = {e: {**metrics[e].get("identity_field", {})} for e in curves}
        figures += study.figure("retention_vs_k.png", retention_curve, curves, reference)

    v2 = claim2_verdict(metrics, {e: c["layout"] for e, c in caches.items()}, cfg.verdicts)
    v3 = claim3_verdict(metrics, cfg.verdicts)
    any_cache = next(iter(caches.values()))
    info = {"run_name": cfg.run_name, "profile": cfg.profile.name, "seed": int(cfg.seed), "epochs": int(icfg.epochs),
            "n_train": any_cache["sizes"]["n_train"], "n_probe_train": any_cache["sizes"]["n_probe_train"],
            "n_test": any_cache["sizes"]["n_test"], "n_eval": min(int(icfg.n_eval), any_cache["sizes"]["n_test"]),
            "n_invariance": any_cache["sizes"]["n_invariance"], "reused": ", ".join(reused) or "none",
            "wall_s": study.wall_s(), "earlier_s": study.earlier_s}
    rel_figs = [str(p.relative_to(out_dir)) for p in figures]
    md = results_markdown(info, encoders, metrics, curves, v2, v3, rel_figs)
    results = ImagesResults(info=info, encoders=encoders, metrics=metrics, random_k_curves=curves, claim2=v2, claim3=v3,
                            figures=rel_figs)
    tables = {f"{e}/projections": (["projection"] + list(next(iter(m.values())).keys()),
                                   [[p] + list(v.values()) for p, v in m.items()]) for e, m in metrics.items() if m}
    tables.update({f"{e}/random_k": (list(rows[0].keys()), [list(r.values()) for r in rows])
                   for e, rows in curves.items() if rows})
    logged = _flat({"encoders": encoders, "metrics": metrics, "claim2": v2.to_json(), "claim3": v3.to_json()})
    study.finish(Outcome(md, results, logged, tables, figures, _quality(encoders)))
    return results.to_json()
