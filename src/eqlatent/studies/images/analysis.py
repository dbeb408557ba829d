"""Project each encoder's latents and measure what every projection keeps.

For one encoder and one projection the analysis reports:

* how well its distances follow the quotient distances ``min_g ||z1 - g z2||``
  (Spearman / Pearson / relative error) and how many of the 10 nearest neighbours survive
  (``knn_consistency``), measured by the toolkit's engine (:mod:`eqlatent.toolkit.retention_measure`);
* how invariant it is to a *further* rotation of the input: exact quarter turns
  (``inv_err_rot90``) and random angles (``inv_err``, limited by pixel interpolation);
* what probes still read: the class (logistic / kNN, trained on rotated or on upright
  digits, tested on rotated ones) and the rotation angle (ridge on (cos, sin), R^2; it
  must vanish for invariant projections).

For random invariant projections the same distance metrics and the kNN class probe are
also computed as a function of K (the retained-information-vs-K curve).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import hydra
import torch
from omegaconf import DictConfig
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups.quotient import orbit_quotient_distances, quotient_distance
from eqlatent.studies.probes import CLASSIFICATION, REGRESSION
from eqlatent.projections.field_projection import FieldProjection
from eqlatent.projections.registry import build_projection, projection_class
from eqlatent.studies.projection_configs import projection_config
from eqlatent.toolkit.retention_measure import measure_retention

log = logging.getLogger(__name__)

KNN_K = 10


def build_projections(proj_cfg: DictConfig, latents: dict[str, Tensor]) -> list[tuple[str, FieldProjection, str]]:
    """Build every configured projection that supports one of the encoder's latent layouts.

    Returns ``(config name, projection, layout it is applied to)``; each config block is resolved by
    name in :mod:`eqlatent.projections.registry` (:func:`projection_config`); ``random_invariant`` with
    ``n_functionals: null`` gets K = the latent dimension.
    """
    out = []
    for name, entry in (proj_cfg or {}).items():
        if entry is None:
            continue
        projection, kwargs = projection_config(name, entry)
        target = projection_class(projection)
        if not issubclass(target, FieldProjection):
            raise ConfigError(f"projection '{name}' ({projection}) is not an image-latent projection",
                              "use projection=images_all or one of its entries with experiment=images")
        layout = next((lay for lay in latents if target.supports(lay)), None)
        if layout is None:
            continue
        proj = build_projection(projection, layout, **kwargs)
        if getattr(proj, "n_functionals", 0) is None:
            proj = proj.with_k(int(latents[layout][0].numel()))
        out.append((name, proj, layout))
    return out


def quotient_reference(layout: str, latents: dict[str, Tensor], n_eval: int) -> Tensor:
    """``[n_eval, n_eval]`` quotient distances of the first ``n_eval`` test latents (:func:`eqlatent.quotient_distance`)."""
    if layout == "regular":
        z = latents["regular"][:n_eval]
        return quotient_distance(z, None, f"C{z.shape[-1]}", pairwise=True)
    if layout == "irreps":
        return quotient_distance(latents["irreps"][:n_eval], None, "SO2", pairwise=True)
    return orbit_quotient_distances(latents["vector"][:n_eval], latents["orbit"][:n_eval])


def distance_metrics(d_true: Tensor, feats: Tensor) -> dict[str, float]:
    """Spearman / Pearson / relative error of pair distances, and kNN consistency, vs the quotient (all pairs).

    Measured by the toolkit's engine (:func:`eqlatent.toolkit.retention_measure.measure_retention`).
    """
    got = measure_retention(d_true, feats, KNN_K)
    return {"spearman": got["spearman"], "pearson": got["pearson"], "rel_error": got["rel_error"],
            "knn_consistency": got["knn"]}


def relative_change(moved: Tensor, ref: Tensor) -> float:
    """How far a further input rotation moves a representation, in units of its spread.

    ``mean_i ||moved_i - ref_i|| / mean_i ||ref_i - ref_{i+1}||``: the displacement of each
    sample relative to the typical distance between two different samples (so a constant
    offset shared by all latents, e.g. from ReLUs, does not make it look small).  0 means
    invariant; 1 means a rotation moves a digit as far as swapping it for another digit.
    """
    a, b = moved.double().flatten(1), ref.double().flatten(1)
    spread = (b - b.roll(1, dims=0)).norm(dim=1).mean().clamp_min(1e-12)
    return float((a - b).norm(dim=1).mean() / spread)


def angle_targets(angles: Tensor) -> Tensor:
    """``[n, 2]`` (cos, sin) of the rotation angle: a regression target without the 2pi wrap-around."""
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def probe_metrics(probes: dict[str, tuple[str, Callable[..., dict]]], f_train: Tensor, f_train_up: Tensor, f_test: Tensor,
                  cache: dict[str, Any], seed: int) -> dict[str, float]:
    """Class probes (rotated and upright training digits -> rotated test) and angle probes (R^2)."""
    out: dict[str, float] = {}
    y_tr, y_te = cache["labels"]["train"], cache["labels"]["test"]
    for pname, (kind, fn) in probes.items():
        if kind in CLASSIFICATION:
            out[f"{pname}_acc"] = fn(x_train=f_train, y_train=y_tr, x_test=f_test, y_test=y_te, seed=seed)["accuracy"]
            out[f"{pname}_acc_upright_train"] = fn(x_train=f_train_up, y_train=y_tr, x_test=f_test, y_test=y_te,
                                                   seed=seed)["accuracy"]
        elif kind in REGRESSION:
            res = fn(x_train=f_train, y_train=angle_targets(cache["angles"]["train"]), x_test=f_test,
                     y_test=angle_targets(cache["angles"]["test"]), seed=seed)
            out[f"angle_{pname}_r2"] = res["r2"]
    return out


def instantiate_probes(probe_cfg: DictConfig) -> dict[str, tuple[str, Callable[..., dict]]]:
    """``name -> (kind, partial run_probe)`` for every configured probe."""
    return {name: (str(entry.kind), hydra.utils.instantiate(entry)) for name, entry in (probe_cfg or {}).items()
            if entry is not None}


def analyse_encoder(cache: dict[str, Any], d_true: Tensor, proj_cfg: DictConfig, probe_cfg: DictConfig,
                    seed: int = 0) -> tuple[dict[str, dict[str, float]], dict[str, Tensor]]:
    """All metrics of every applicable projection for one encoder.

    ``d_true``: :func:`quotient_reference` of the first ``n_eval`` test latents, which the
    distance metrics compare every projection with.  Returns ``(metrics[projection][metric],
    test features of each projection)``, the latter for the figures.
    """
    lat = cache["latents"]
    projections = build_projections(proj_cfg, lat["test"])
    n_eval = len(d_true)
    probes = instantiate_probes(probe_cfg)
    n_inv = len(cache["angles"]["inv"])
    results, features = {}, {}
    for name, proj, layout in projections:
        feats = {split: proj(lat[split][layout]) for split in ("train", "train_upright", "test", "inv", "inv90")}
        m = {"lossless": float(proj.lossless), "dim": int(feats["test"].shape[1])}
        m.update(distance_metrics(d_true, feats["test"][:n_eval]))
        m["inv_err"] = relative_change(feats["inv"], feats["test"][:n_inv])
        m["inv_err_rot90"] = relative_change(feats["inv90"], feats["test"][:n_inv])
        m.update(probe_metrics(probes, feats["train"], feats["train_upright"], feats["test"], cache, seed))
        results[name] = m
        features[name] = feats["test"]
        log.debug("%s/%s: %s", cache["encoder"], name, ", ".join(f"{k}={v:.3f}" for k, v in m.items()))
    return results, features


def random_k_curve(cache: dict[str, Any], d_true: Tensor, proj_cfg: DictConfig, probe_cfg: DictConfig,
                   multipliers: list[float], seed: int = 0) -> list[dict[str, float]]:
    """Retained information of ``random_invariant`` as K grows (K = multiplier x latent dim).

    ``d_true``: the encoder's quotient distances, as for :func:`analyse_encoder`.
    """
    lat = cache["latents"]
    base = [p for name, p, _ in build_projections(proj_cfg, lat["test"]) if name == "random_invariant"]
    if not base:
        return []
    base = base[0]
    layout = base.latent_layout
    dim = int(lat["test"][layout][0].numel())
    n_eval = len(d_true)
    probes = {k: v for k, v in instantiate_probes(probe_cfg).items() if v[0] == "knn"}
    rows = []
    for mult in multipliers:
        k = max(1, int(round(mult * dim)))
        proj = base.with_k(k)
        f_tr, f_te = proj(lat["train"][layout]), proj(lat["test"][layout])
        row = {"K": k, "K_over_dim": k / dim}
        row.update(distance_metrics(d_true, f_te[:n_eval]))
        for pname, (_, fn) in probes.items():
            row[f"{pname}_acc"] = fn(x_train=f_tr, y_train=cache["labels"]["train"], x_test=f_te,
                                     y_test=cache["labels"]["test"], seed=seed)["accuracy"]
        rows.append(row)
        log.debug("%s/random K=%d: spearman=%.3f knn=%.3f", cache["encoder"], k, row["spearman"],
                  row["knn_consistency"])
    return rows

