"""The molecules study (claim 1): equivariant graph VAE on QM9 -> projections -> what they keep.

``run(cfg)`` is what ``make reproduce-molecules`` calls (via ``eqlatent.cli.run``).  It first
trains (or reuses) one VAE per ``molecules.latent_dims`` entry -- on every rank under
``trainer=ddp``, after which the other ranks stop -- then, for each, extracts latents, applies
every configured projection, measures retained information (quotient-distance
preservation, kNN consistency, decodability), runs property probes (also on
node-shuffled latents), draws the figures, and writes ``results.md`` + ``metrics.json``
to the run folder (``results.md`` also to ``outputs/<task_name>/results.md``).  Every
metric is also sent to the configured loggers (CSV, wandb offline); the end of the run is
the shared :mod:`eqlatent.studies.skeleton`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from eqlatent.errors import ConfigError
from eqlatent.projections.identity import Identity
from eqlatent.studies.molecules.figures import embedding_figure, interpolation_figure
from eqlatent.studies.molecules.property_probes import run_probes
from eqlatent.studies.molecules.ceiling import decodable_mask
from eqlatent.studies.molecules.interpolation import interpolation_stats, random_pairs
from eqlatent.studies.molecules.reconstruction import exact_matches, posterior_sample, reconstruction_scores
from eqlatent.studies.molecules.claim1_report import claim1_verdict, projection_table, results_markdown
from eqlatent.studies.molecules.node_retention import (applies, decodability, distance_retention,
                                                      instantiate_projections, random_node_permutations)
from eqlatent.runtime.ranks import is_rank_zero
from eqlatent.studies.fitting import Fitted
from eqlatent.studies.molecules.training import apply_torch_threads, latents_for, train_all, training_epochs, vae_config
from eqlatent.studies.results import MoleculesResults
from eqlatent.studies.skeleton import Outcome, StudyRun
from eqlatent.projections.node_projection import gather_nodes

log = logging.getLogger(__name__)


def _analysis_latent(lat: dict, which: str, seed: int) -> torch.Tensor:
    if which == "mean":
        return lat["mu"]
    if which == "sample":
        return posterior_sample(lat["mu"], lat["logvar"], seed)
    raise ConfigError(f"molecules.analysis_latent={which!r} is not known", "use 'mean' or 'sample'")


def _projection_info(proj: Any, latent_dim: int) -> dict[str, Any]:
    lossless_for = getattr(proj, "lossless_for", None)
    lossless = lossless_for(latent_dim) if lossless_for is not None else proj.lossless
    # a per-channel sort of one channel *is* the sort: lossless and isometric there
    isometric = getattr(proj, "isometric", False) or (lossless_for is not None and lossless and latent_dim == 1)
    return {"invariant": proj.invariant, "lossless": bool(lossless), "isometric": bool(isometric),
            "group": proj.group}


def _cross_section(projections: dict) -> str | None:
    return "sort" if "sort" in projections else "lex_sort" if "lex_sort" in projections else None


def _embedding(cfg: DictConfig, ds, z: torch.Tensor, d: int, projections: dict, eval_rows: torch.Tensor,
               path: Path) -> Path:
    """PCA / t-SNE of the naive latent (stored and shuffled node order) and of the cross-section, saved to ``path``."""
    mcfg = cfg.molecules
    cross = _cross_section(projections)
    rows = eval_rows[: int(mcfg.tsne_points)]
    prop = str(mcfg.figure_property)
    colour = ds.target(prop)[rows]
    zz = z[rows].double()
    shuffled = gather_nodes(zz, random_node_permutations(len(zz), zz.shape[1], int(cfg.seed) + 2))
    panels = {"naive latent (dataset order)": Identity()(zz), "naive latent (nodes shuffled)": Identity()(shuffled)}
    if cross:
        panels[f"{cross} (either order)"] = projections[cross](zz)
    unit = ds.target_units[ds.target_names.index(prop)]
    return embedding_figure(panels, colour, f"{prop} [{unit}]", path, int(cfg.seed),
                            f"{ds.name} test molecules, latent_dim {d}, coloured by {prop}")


def _interpolations(cfg: DictConfig, ds, model, z: torch.Tensor, d: int, projections: dict, exact_rows: torch.Tensor,
                    study: StudyRun) -> tuple[list[str], dict]:
    """Interpolation statistics over random exactly-reconstructed test pairs, and a figure of a few paths.

    The statistics are numbers of the study; the figure (rdkit drawings) is an optional artefact.
    """
    mcfg = cfg.molecules
    cross = _cross_section(projections)
    if cross is None:
        return [], {}
    pairs = random_pairs(exact_rows, int(mcfg.interpolation_pairs), int(cfg.seed) + 3)
    stats = interpolation_stats(model, z.double(), pairs, projections[cross], cross, int(mcfg.interpolation_steps),
                                ds.atom_types)
    stats["n_candidates"] = len(exact_rows)
    if not pairs:
        return [], stats
    shown = min(3, len(pairs))
    paths = [{label: kind["paths"][k] for label, kind in stats["kinds"].items()} for k in range(shown)]
    names = [(ds.smiles[a], ds.smiles[b]) for a, b in pairs[:shown]]
    made = study.figure(f"interpolation_latent{d}.png", interpolation_figure, paths, names,
                        int(mcfg.interpolation_steps))
    return [str(p) for p in made], stats


def analyse_latent_dim(cfg: DictConfig, ds, d: int, fitted: Fitted, projections: dict, probes: dict,
                       decodable: torch.Tensor, study: StudyRun) -> dict:
    """Measure everything for the VAE of latent size ``d``: ``fitted`` is its folder after the training phase.

    ``decodable``: ``[n_test]`` mask of test molecules an equivariant VAE can decode exactly
    from its posterior mean at all (the ceiling, :mod:`eqlatent.studies.molecules.ceiling`).
    Figures are built through ``study.figure``: one that fails is noted, the measurements stand.
    """
    mcfg = cfg.molecules
    model, train_s = fitted.model.double().eval(), fitted.train_seconds   # latents are encoded in float64 too
    lat = latents_for(cfg, ds, fitted)
    z = _analysis_latent(lat, str(mcfg.analysis_latent), int(cfg.seed)).double()
    test = ds.split["test"]
    eval_rows = test[: int(mcfg.n_eval)]
    node_t, bond_t = ds.node_type[test], ds.bond_type[test].long()
    mean_scores, mean_exact = reconstruction_scores(model, lat["mu"][test].double(), node_t, bond_t, ds.atom_types,
                                                    decodable)
    sample_scores, _ = reconstruction_scores(
        model, posterior_sample(lat["mu"][test], lat["logvar"][test], int(cfg.seed)).double(), node_t, bond_t,
        ds.atom_types)
    recon = {"posterior mean": mean_scores, "posterior sample": sample_scores}
    # channels the VAE actually uses: posterior variance well below the prior's 1 (the rest collapsed to the prior)
    post_var = lat["logvar"][test].exp().flatten(0, 1).mean(0)
    active = int((post_var < 0.5).sum())
    projs = {k: v for k, v in projections.items() if applies(v, d)}
    log.info("latent_dim=%d: distances over %d molecules for %s", d, len(eval_rows), ", ".join(projs))
    retention = distance_retention(z[eval_rows], projs, int(mcfg.knn_k))
    decod = decodability(model, z[eval_rows], ds.node_type[eval_rows], ds.bond_type[eval_rows].long(), projs)
    same = str(mcfg.analysis_latent) == "mean"
    exact_rows = test[mean_exact if same else exact_matches(model, z[test], node_t, bond_t)]
    log.info("latent_dim=%d: probes", d)
    probe_rows = run_probes(z, ds, projs, probes, list(mcfg.probe_targets), list(mcfg.probe_conditions),
                            int(cfg.seed), int(mcfg.get("n_probe_train", 0)), int(mcfg.get("n_probe_test", 0)))
    figs = [str(p) for p in study.figure(f"embedding_latent{d}.png", _embedding, cfg, ds, z, d, projs, eval_rows)]
    interp_figs, interp = _interpolations(cfg, ds, model, z, d, projs, exact_rows, study)
    figs += interp_figs
    return {"reconstruction": recon, "retention": retention, "decodability": decod, "probes": probe_rows,
            "projection_info": {k: _projection_info(v, d) for k, v in projs.items()}, "knn_k": int(mcfg.knn_k),
            "interpolation": interp, "active_channels": active,
            "posterior_var_per_channel": post_var.tolist(), "figures": figs, "train_time_s": train_s,
            "epochs_trained": training_epochs(cfg, d)}


def _flat_metrics(results: dict) -> dict[str, float]:
    flat: dict[str, float] = {}
    for d, rd in results["latent_dims"].items():
        for which, sc in rd["reconstruction"].items():
            for k, v in sc.items():
                flat[f"latent{d}/recon_{which.replace(' ', '_')}/{k}"] = v
        for name, ret in rd["retention"].items():
            for k in ("spearman", "pearson", "rel_error", "max_abs_dev", "knn"):
                flat[f"latent{d}/{name}/{k}"] = ret[k]
            dec = rd["decodability"][name]["exact_match"]
            if dec is not None:
                flat[f"latent{d}/{name}/decoded_exactly"] = dec
        for r in rd["probes"]:
            for k in ("r2", "mae"):
                flat[f"latent{d}/{r['projection']}/{r['condition']}/{r['probe']}/{k}"] = r[k]
    return {k: float(v) for k, v in flat.items() if v is not None}


def _tables(results: dict) -> dict[str, tuple[list, list]]:
    """One projection table per latent size, for wandb (missing numbers as NaN)."""
    cell = lambda c: c if isinstance(c, str) else float("nan") if c is None else float(c)  # noqa: E731
    tables = {}
    for d, rd in results["latent_dims"].items():
        header, rows = projection_table(rd)
        tables[f"latent{d}/projections"] = (header, [[cell(c) for c in row] for row in rows])
    return tables


def _quality(results: dict) -> dict[str, str]:
    """Per latent size: how well the VAE rebuilds test molecules from the posterior mean."""
    out = {}
    for d, rd in results["latent_dims"].items():
        sc = rd["reconstruction"]["posterior mean"]
        out[f"VAE latent_dim {d}"] = (f"exact graphs {sc['graph_exact']:.3f}, valid {sc['validity']:.3f}, "
                                      f"valid one fragment {sc['valid_connected']:.3f} (test, posterior mean)")
    return out


def run(cfg: DictConfig) -> dict:
    """Run the whole molecules study and return its headline metrics (flat dict)."""
    study = StudyRun(cfg)
    mcfg = cfg.get("molecules")
    if mcfg is None:
        raise ConfigError("the config has no 'molecules' block", "run with experiment=molecules")
    dims = [int(d) for d in mcfg.latent_dims]
    if not dims or any(d < 1 for d in dims):
        raise ConfigError(f"molecules.latent_dims={list(mcfg.latent_dims)} must list positive integers",
                          "e.g. molecules.latent_dims=[1,2,4]")
    apply_torch_threads(mcfg)
    ds = hydra.utils.instantiate(cfg.data)
    projections = instantiate_projections(cfg.get("projection"))
    if not cfg.get("probe"):
        raise ConfigError("no probes selected", "pass probe=molecules_all or probe=ridge")
    probes = {name: hydra.utils.instantiate(spec) for name, spec in cfg.probe.items()}
    out_dir = study.out_dir
    fitted = train_all(cfg, ds, dims, out_dir)   # collective under trainer=ddp: every rank fits every VAE first
    study.add_earlier(fitted.values())
    if not is_rank_zero():
        log.info("every VAE is trained; rank 0 encodes, analyses and writes the results")
        return {}
    test = ds.split["test"]
    decodable = decodable_mask(ds.node_type[test], ds.bond_type[test].long())
    latent_dims = {str(d): analyse_latent_dim(cfg, ds, d, fitted[d], projections, probes, decodable, study)
                   for d in dims}
    results = MoleculesResults(
        run_name=str(cfg.run_name), dataset={"name": ds.name, "summary": ds.summary(), "n": len(ds)},
        model=", ".join(f"{k}={v}" for k, v in vae_config(cfg).items() if not str(k).startswith("_")),
        epochs=int(cfg.trainer.max_epochs), analysis_latent=str(mcfg.analysis_latent),
        n_eval=min(int(mcfg.n_eval), len(test)), probe_targets=list(mcfg.probe_targets), latent_dims=latent_dims,
        ceiling={"decodable": float(decodable.float().mean()), "n_test": len(test)},
        figures=[f for rd in latent_dims.values() for f in rd["figures"]],
        train_time_s=sum(rd["train_time_s"] for rd in latent_dims.values()), wall_time_s=study.wall_s(),
        earlier_time_s=study.earlier_s,
        claim1=claim1_verdict({"latent_dims": latent_dims}))     # the rule reads the measurements alone
    verdict = results.claim1
    as_json = results.to_json()
    summary = _flat_metrics(as_json)
    summary["claim1_held"] = float(bool(verdict.held))
    study.finish(Outcome(results_markdown(as_json, verdict), results, summary, _tables(as_json), results.figures,
                         _quality(as_json)))
    return summary
