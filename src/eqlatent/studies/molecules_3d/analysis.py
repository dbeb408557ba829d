"""Project the e3nn latents and measure what every projection keeps, as the images study does for SO(2).

For one projection of the graph latent (``irreps`` such as ``32x0e+8x1o+4x2e``, acted on by O(3)):

* how well its distances follow the O(3) quotient distance ``min_g ||z1 - D(g) z2||`` over all pairs
  of the first ``n_eval`` test latents (:func:`eqlatent.quotient_distance`), measured by the toolkit's
  one engine (:func:`eqlatent.toolkit.retention_measure.measure_retention`): Spearman, Pearson, relative
  error, largest deviation, 10-NN consistency (and the distortion ratio, where the engine reports it);
* how far it moves when the *input* molecule is rotated (``inv_err_rotation``) or inverted
  (``inv_err_inversion``): 0 for an invariant projection of an equivariant encoder, up to the
  encoder's float32 error and the projection's own (a max over an SO(3) grid is exact only up to
  its refinement);
* what a ridge probe fitted on it reads of properties the encoder was *not* trained on (alpha, R²,
  ZPVE, mu: ``probe_<target>_r2``);
* whether it reveals the molecule's orientation: ridge probes fitted on rotated training molecules,
  scored on rotated test molecules, for where the stored frame's z axis points (``orient_axis_*_r2``)
  and for the charge dipole and quadrupole in the rotated frame (``orient_dipole_*_r2``,
  ``orient_quadrupole_*_r2``).  An invariant projection cannot know any of them (R² <= 0 up to
  noise); the raw latent can, as far as its l = 1 and l = 2 channels follow them linearly.

Every projection is built by name through the registry (:mod:`eqlatent.projections.registry`), from
the latent's ``Irreps`` -- the objects a user gets from ``eqlatent.invariant_projection(irreps, name)``.
``random_invariant`` with ``n_functionals: null`` gets K = the latent dimension D; the random-K curve
builds it again at K = multiplier x D.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from rich.progress import track
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups.quotient import quotient_distance
from eqlatent.projections.base import InvariantProjection
from eqlatent.projections.registry import build_projection, projection_class
from eqlatent.studies.probes import REGRESSION
from eqlatent.studies.projection_configs import projection_config
from eqlatent.studies.molecules_3d.orientation import rotated_targets
from eqlatent.toolkit.retention_measure import measure_retention

log = logging.getLogger(__name__)

#: the layout name of e3nn Irreps latents in the registry (a projection serving them lists it in ``layouts``)
E3NN_LAYOUT = "e3nn"
RANDOM = "random_invariant"
RAW = "identity"
#: the engine's numbers each projection row keeps
RETENTION_KEYS = ("spearman", "pearson", "rel_error", "max_abs_dev", "knn", "distortion")
#: latents projected at once (the progress bar advances per chunk)
CHUNK = 256


def irreps_of(cache: dict[str, Any]) -> Any:
    """The latent's ``e3nn.o3.Irreps`` (an Irreps alone means O(3): its parities are part of it)."""
    from e3nn import o3

    return o3.Irreps(cache["irreps"])


def resolve(projection: str, irreps: Any, kwargs: dict[str, Any]) -> InvariantProjection:
    """The projection ``projection`` for latents of ``irreps``: the registry's, as a user builds it.

    A projection that serves e3nn latents is built from the Irreps; one that takes no layout (the raw
    ``identity`` baseline) without; any other is a one-line error.
    """
    cls = projection_class(projection)
    if cls.supports(E3NN_LAYOUT):
        return build_projection(projection, irreps, **kwargs)
    if not cls.layouts:
        return build_projection(projection, None, **kwargs)
    raise ConfigError(f"projection '{projection}' does not serve e3nn latents (it serves {', '.join(cls.layouts)})",
                      "use projection=molecules_3d_all, or one of its entries, with experiment=molecules_3d")


def build_projections(proj_cfg: DictConfig | None, irreps: Any) -> list[tuple[str, InvariantProjection]]:
    """``(config name, projection)`` for every configured block (:func:`resolve`; K = D for a null ``n_functionals``)."""
    if not proj_cfg:
        raise ConfigError("no projections selected", "pass projection=molecules_3d_all (or one projection, e.g. projection=norm)")
    out = []
    for name, entry in proj_cfg.items():
        if entry is None:
            continue
        projection, kwargs = projection_config(name, entry)
        if projection == RANDOM and kwargs.get("n_functionals") is None:
            kwargs["n_functionals"] = int(irreps.dim)
        out.append((str(name), resolve(projection, irreps, kwargs)))
    return out


def quotient_reference(z: Tensor, irreps: Any) -> Tensor:
    """``[n, n]`` O(3) quotient distances of the latents ``z`` (float64, :func:`eqlatent.quotient_distance`)."""
    return quotient_distance(z.double(), None, irreps, pairwise=True)


def relative_change(moved: Tensor, ref: Tensor) -> float:
    """How far a transformation of the input moves a representation, in units of its spread.

    ``mean_i ||moved_i - ref_i|| / mean_i ||ref_i - ref_{i+1}||`` (the images study's measure): 0 means
    invariant; 1 means the transformation moves a molecule as far as swapping it for another.
    """
    a, b = moved.double().flatten(1), ref.double().flatten(1)
    spread = (b - b.roll(1, dims=0)).norm(dim=1).mean().clamp_min(1e-12)
    return float((a - b).norm(dim=1).mean() / spread)


def retention_numbers(d_true: Tensor, feats: Tensor, knn_k: int) -> dict[str, float]:
    """The engine's distance-preservation numbers of ``feats`` against the quotient distances ``d_true``."""
    got = measure_retention(d_true, feats.double(), knn_k)
    return {k: float(got[k]) for k in RETENTION_KEYS if k in got}


def instantiate_probes(probe_cfg: DictConfig | None) -> dict[str, Callable[..., dict]]:
    """``name -> partial run_probe`` of every configured regression probe."""
    probes = {name: hydra.utils.instantiate(entry) for name, entry in (probe_cfg or {}).items()
              if entry is not None and str(entry.get("kind")) in REGRESSION}
    if not probes:
        raise ConfigError("no regression probe selected", "pass probe=ridge (or probe=molecules_all)")
    return probes


def probe_targets(cfg: DictConfig, ds: Any, trained: list[str]) -> list[str]:
    """``molecules_3d.probe_targets`` minus the trained ones (checked against the dataset's columns)."""
    wanted = [str(t) for t in (cfg.molecules_3d.probe_targets or [])]
    for name in wanted:
        ds.target(name)
    dropped = [t for t in wanted if t in trained]
    if dropped:
        log.info("probe targets %s are trained targets: left out of the probes", ", ".join(dropped))
    return [t for t in wanted if t not in trained]


def project_sets(proj: InvariantProjection, lat: dict[str, Tensor], n_test: int, name: str = "") -> dict[str, Tensor]:
    """``proj`` applied (float64) to every latent set the analysis reads; ``test`` only to its first ``n_test``.

    In chunks of :data:`CHUNK` rows under one progress bar: a max over SO(3) costs tens of milliseconds
    per latent, so a whole run's projection takes minutes.
    """
    sets = {k: (v[:n_test] if k == "test" else v).double() for k, v in lat.items()}
    chunks = [(k, s) for k, v in sets.items() for s in range(0, len(v), CHUNK)]
    parts: dict[str, list[Tensor]] = {k: [] for k in sets}
    with torch.no_grad():
        for k, s in track(chunks, description=f"projecting: {name}", transient=True):
            parts[k].append(proj(sets[k][s:s + CHUNK]))
    return {k: torch.cat(v) for k, v in parts.items()}


def analyse(cache: dict[str, Any], d_true: Tensor, projections: list[tuple[str, InvariantProjection]],
            probes: dict[str, Callable[..., dict]], y_probe: dict[str, np.ndarray], targets: list[str],
            sizes: dict[str, int], knn_k: int, seed: int) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Tensor]]]:
    """Every number of every projection (module docstring); also the projected sets, for the figures.

    ``y_probe``: ``{"train", "test"}`` arrays ``[n, len(targets)]`` of the untrained properties; ``sizes``:
    ``n_eval``, ``n_probe_test``, ``n_test_used`` (test latents projected).
    """
    lat = cache["latents"]
    n_eval, n_pt = sizes["n_eval"], sizes["n_probe_test"]
    orient = {part: rotated_targets(cache["rotations"][part]) for part in ("train", "test")}
    n_orient, n_check = len(lat["rot_test"]), len(lat["inverted"])
    results, features = {}, {}
    for name, proj in projections:
        t0 = time.perf_counter()
        f = project_sets(proj, lat, sizes["n_test_used"], name)
        seconds = time.perf_counter() - t0
        m: dict[str, Any] = {"invariant": bool(proj.invariant), "lossless": bool(proj.lossless),
                             "dim": int(f["test"].shape[1]), "project_s": seconds}
        m.update(retention_numbers(d_true, f["test"][:n_eval], knn_k))
        m["inv_err_rotation"] = relative_change(f["rot_test"], f["test"][:n_orient])
        m["inv_err_inversion"] = relative_change(f["inverted"], f["test"][:n_check])
        for pname, fn in probes.items():
            if targets:
                res = fn(x_train=f["probe_train"], y_train=y_probe["train"], x_test=f["test"][:n_pt],
                         y_test=y_probe["test"], seed=seed)
                m.update({f"{pname}_{t}_r2": float(v) for t, v in zip(targets, np.atleast_1d(res["r2_per_target"]))})
                m[f"{pname}_r2_mean"] = float(res["r2"])
            for what in orient["train"]:
                res = fn(x_train=f["rot_train"], y_train=orient["train"][what], x_test=f["rot_test"],
                         y_test=orient["test"][what], seed=seed)
                m[f"orient_{what}_{pname}_r2"] = float(res["r2"])
        results[name] = m
        features[name] = {"test": f["test"], "rot_test": f["rot_test"]}
        log.info("projection %s: dim %d, Spearman %.3f, kNN %.3f, rotation change %.1e (%.1f s)", name, m["dim"],
                 m.get("spearman", float("nan")), m.get("knn", float("nan")), m["inv_err_rotation"], seconds)
    return results, features


def random_k_curve(z: Tensor, d_true: Tensor, proj_cfg: DictConfig, irreps: Any, multipliers: list[float],
                   knn_k: int, view: str = "raw") -> list[dict[str, float]]:
    """Retention of ``random_invariant`` as K grows (K = multiplier x D) on the latents ``z`` whose quotient
    distances are ``d_true``.

    Built with the configured block's other arguments (seed, ...) at each K; empty when no
    ``random_invariant`` block is configured.
    """
    entry = next(((name, e) for name, e in (proj_cfg or {}).items() if e is not None
                  and projection_config(name, e)[0] == RANDOM), None)
    if entry is None:
        return []
    _, kwargs = projection_config(*entry)
    dim = int(irreps.dim)
    rows = []
    for mult in multipliers:
        k = max(1, int(round(float(mult) * dim)))
        t0 = time.perf_counter()
        proj = resolve(RANDOM, irreps, {**kwargs, "n_functionals": k})
        with torch.no_grad():
            feats = proj(z.double())
        row = {"K": k, "K_over_dim": k / dim, **retention_numbers(d_true, feats, knn_k),
               "project_s": time.perf_counter() - t0}
        rows.append(row)
        log.info("%s latent: random_invariant K=%d (%.2g D): Spearman %.3f, kNN %.3f", view, k, k / dim,
                 row["spearman"], row["knn"])
    return rows


# --- the balanced view ------------------------------------------------------------------------------------------


def irrep_types(irreps: Any) -> dict[str, list[slice]]:
    """``"1o" -> [channel slices]``: the latent's channels of each irrep type (l, parity), in e3nn's layout."""
    out: dict[str, list[slice]] = {}
    for (mul, ir), sl in zip(irreps, irreps.slices()):
        if mul:
            out.setdefault(str(ir), []).append(sl)
    return out


def balance(z: Tensor, irreps: Any) -> tuple[Tensor, dict[str, float]]:
    """Per-channel scales ``[D]`` that give every irrep type the same variance over ``z``, and each type's share before.

    Why: distances in a latent are dominated by whichever irrep type happens to be largest (with a head on
    the 0e channels alone the l > 0 channels are an untrained read-out at the initialisation's scale); scaling
    every type to the same total variance (one number per type, which commutes with ``D(g)``, so the group
    and every projection act on the rescaled latent as on the original) asks the claim's question without
    that accident.
    """
    types = irrep_types(irreps)
    centred = z.double() - z.double().mean(0)
    var = {t: float(sum(centred[:, sl].pow(2).sum(1).mean() for sl in sls)) for t, sls in types.items()}
    total = sum(var.values()) or 1.0
    scales = torch.ones(z.shape[1], dtype=torch.float64)
    for t, sls in types.items():
        for sl in sls:
            scales[sl] = 1.0 / (len(types) * max(var[t], 1e-300)) ** 0.5
    return scales, {t: v / total for t, v in var.items()}


def retention_view(z: Tensor, irreps: Any, projections: list[tuple[str, InvariantProjection]],
                   knn_k: int) -> tuple[Tensor, dict[str, dict[str, float]]]:
    """The quotient distances of ``z`` and every projection's retention numbers against them."""
    d_true = quotient_reference(z, irreps)
    out = {}
    with torch.no_grad():
        for name, proj in projections:
            out[name] = retention_numbers(d_true, proj(z.double()), knn_k)
    return d_true, out
