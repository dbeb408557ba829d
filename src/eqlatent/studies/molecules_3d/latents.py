"""Train (or reuse) the e3nn property regressor on QM9's DFT geometries and encode what the analysis needs, once.

Why a module of its own: training and encoding are the study's only slow, stateful steps.  The
model lives in ``<run>/regressor/`` with ``checkpoints/last.ckpt`` (a killed run resumes from it),
``fingerprint.json`` (the settings it was trained with: other settings are refused in one line, more
epochs continue the training; :mod:`eqlatent.studies.fingerprint`) and ``latents.pt`` (written
atomically once encoded; a re-run with the same settings reuses it and trains nothing), through the
studies' one fit-or-reuse helper (:mod:`eqlatent.studies.fitting`).

What is encoded (graph latents ``[n, irreps.dim]``, float32 as the model computes them):

* ``test``: the first ``n_test`` molecules of the test split (0 = all 13,083), with the model's
  predictions of its trained targets -- the test MAE is measured on all of them;
* ``probe_train``: the first ``n_probe_train`` of the training split (the property probes' fit);
* ``rot_test`` / ``rot_train``: the first ``n_orient`` test / training molecules, each rotated by its
  own seeded random rotation ``R_i`` (stored, with the molecules' charge dipoles and quadrupoles): the
  encoder's rotation check, and the orientation probes;
* ``inverted``: the first ``n_check`` test molecules through the inversion ``x -> -x``.

The encoder checks run here too, on the trained model
(:func:`eqlatent.studies.molecules_3d.orientation.encoder_checks`), so that a reused folder reports the
numbers its model was checked with.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from rich.progress import track
from torch import Tensor
from torch.utils.data import DataLoader

from eqlatent.data.qm9_3d import Molecules3D
from eqlatent.errors import ConfigError
from eqlatent.models.e3nn_regressor import E3nnRegressor
from eqlatent.runtime.io import settings_digest
from eqlatent.runtime.resume import EpochSeededSampler
from eqlatent.studies.fingerprint import trainer_settings
from eqlatent.studies.fitting import Fitted, fit_in_folder, fit_or_reuse, folder_config, latents_of
from eqlatent.studies.molecules_3d.orientation import charge_moments, encoder_checks, moved, random_rotations

log = logging.getLogger(__name__)

CACHE_VERSION = 1
#: the model folder inside the run folder
FOLDER = "regressor"
ENCODE_BATCH = 256


def regressor_config(cfg: DictConfig) -> DictConfig:
    """The one model node of ``cfg.model`` (``model.e3nn_regressor``): the study trains one regressor."""
    entries = [v for v in (cfg.get("model") or {}).values() if v is not None]
    target = str(entries[0].get("_target_", "")) if len(entries) == 1 else ""
    cls = hydra.utils.get_class(target) if target else None
    if not (isinstance(cls, type) and issubclass(cls, E3nnRegressor)):
        raise ConfigError(f"the molecules_3d study trains one e3nn regressor, got model {sorted(cfg.get('model') or {})}",
                          "use model=e3nn_regressor")
    return entries[0]


def configured_irreps(cfg: DictConfig) -> Any:
    """The ``e3nn.o3.Irreps`` of the graph latent the configured regressor will return (``encoder.irreps_latent``)."""
    from e3nn import o3

    spec = (regressor_config(cfg).get("encoder") or {}).get("irreps_latent")
    try:
        return o3.Irreps(str(spec))
    except (ValueError, AssertionError) as err:
        raise ConfigError(f"model encoder.irreps_latent={spec!r} is not an e3nn Irreps ({err})",
                          "write e.g. 32x0e+8x1o+4x2e (mul x l parity)") from None


def trained_targets(cfg: DictConfig, ds: Molecules3D) -> list[str]:
    """``molecules_3d.targets``, checked against the dataset's columns (one-line error naming them)."""
    names = [str(t) for t in (cfg.molecules_3d.targets or [])]
    if not names:
        raise ConfigError("molecules_3d.targets is empty", "train at least one QM9 target, e.g. molecules_3d.targets=[gap]")
    for name in names:
        ds.target(name)   # unknown: "unknown QM9 target 'x' -- fix: use one of mu, alpha, ..."
    if len(set(names)) != len(names):
        raise ConfigError(f"molecules_3d.targets lists a target twice: {names}", "name each target once")
    return names


def study_rows(cfg: DictConfig, ds: Molecules3D) -> dict[str, Tensor]:
    """The molecules of each role: the first ``n_train`` / ``n_val`` / ``n_test`` of the seeded split (0 = all)."""
    m = cfg.molecules_3d

    def head(part: str, n: int) -> Tensor:
        rows = ds.split[part]
        if n < 0:
            raise ConfigError(f"molecules_3d.n_{part}={n} is negative", f"set molecules_3d.n_{part}=0 (all) or a count")
        return rows if n == 0 else rows[:n]

    rows = {"train": head("train", int(m.n_train)), "val": head("val", int(m.n_val)), "test": head("test", int(m.n_test))}
    for part, r in rows.items():
        if len(r) < 2:
            raise ConfigError(f"the {part} split holds {len(r)} molecule(s) of {len(ds)} loaded",
                              "load more molecules (profile.molecules_3d.n_molecules=0 loads all) or raise "
                              f"molecules_3d.n_{part}")
    return rows


def build_regressor(cfg: DictConfig, ds: Molecules3D, rows: dict[str, Tensor]) -> E3nnRegressor:
    """The configured regressor for the trained targets, standardised with the training molecules' mean and std."""
    names = trained_targets(cfg, ds)
    columns = [ds.target_names.index(n) for n in names]
    y = ds.targets[rows["train"]][:, columns].double()
    return hydra.utils.instantiate(regressor_config(cfg), target_columns=columns, target_names=names,
                                   target_units=[ds.target_units[c] for c in columns],
                                   target_mean=y.mean(0).tolist(), target_std=y.std(0).tolist(), _convert_="all")


def row_loader(ds: Molecules3D, rows: Tensor, batch_size: int, shuffle_seed: int | None = None) -> DataLoader:
    """Batches (:class:`~eqlatent.data.qm9_3d.Batch3D`) of the molecules ``rows``.

    Shuffled orders depend on ``(seed, epoch)`` only (:class:`~eqlatent.runtime.resume.EpochSeededSampler`), so a
    run resumed from ``last.ckpt`` sees the batches an uninterrupted one does.
    """
    rows = rows.tolist()
    sampler = None if shuffle_seed is None else EpochSeededSampler(len(rows), int(shuffle_seed))
    # no workers: gathering a batch is a few index operations (~1 ms); Batch3D is moved by Lightning
    return DataLoader(rows, batch_size=batch_size, sampler=sampler, collate_fn=ds.collate)


def training_settings(cfg: DictConfig) -> dict[str, Any]:
    """What changes the trained regressor, except the number of epochs (which may grow)."""
    data = {k: v for k, v in OmegaConf.to_container(cfg.data, resolve=True).items() if k not in ("cache_dir", "path")}
    m = cfg.molecules_3d
    settings = {"model": OmegaConf.to_container(regressor_config(cfg), resolve=True), "data": data,
                "targets": [str(t) for t in m.targets], "n_train": int(m.n_train), "n_val": int(m.n_val),
                "batch_size": int(m.batch_size), "seed": int(cfg.seed)}
    step = trainer_settings(cfg.get("trainer"))   # DDP world size, precision ...: only away from a plain run's
    return {**settings, "trainer": step} if step else settings


def extraction_settings(cfg: DictConfig) -> dict[str, Any]:
    """What a ``latents.pt`` was made with besides the model: which molecules, how many rotated copies."""
    m = cfg.molecules_3d
    return {"train": settings_digest({**training_settings(cfg), "epochs": int(cfg.trainer.max_epochs)}),
            "n_test": int(m.n_test), "n_probe_train": int(m.n_probe_train), "n_orient": int(m.n_orient),
            "n_check": int(m.n_check), "version": CACHE_VERSION}


def train_or_reuse(cfg: DictConfig, ds: Molecules3D, rows: dict[str, Tensor], folder: Path) -> Fitted:
    """The training phase (:func:`eqlatent.studies.fitting.fit_or_reuse`): the folder's latents, or the model fitted.

    If only the extraction settings changed, the checkpoint is loaded without training (the fit
    finds its epochs done) and the latents are encoded again by :func:`encode_or_reuse`.
    """
    epochs = int(cfg.trainer.max_epochs)
    digest = settings_digest(extraction_settings(cfg))

    def cached(path: Path) -> dict[str, Any] | None:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        return saved if saved.get("fingerprint") == digest else None

    def fit() -> tuple[E3nnRegressor, float]:
        log.info("regressor: training %d epochs on %d molecules (targets %s)", epochs, len(rows["train"]),
                 ", ".join(trained_targets(cfg, ds)))
        sub = folder_config(cfg, folder, FOLDER)
        model = build_regressor(sub, ds, rows)
        bs = int(cfg.molecules_3d.batch_size)
        train = row_loader(ds, rows["train"], bs, int(cfg.seed))
        val = row_loader(ds, rows["val"], ENCODE_BATCH)
        return fit_in_folder(sub, model, train, val, max_epochs=epochs, what="regressor")

    return fit_or_reuse(folder, training_settings(cfg), epochs, "a regressor", fit, cached=cached)


# --- encoding ---------------------------------------------------------------------------------------------------

@torch.no_grad()
def encode_rows(model: E3nnRegressor, ds: Molecules3D, rows: Tensor, R: Tensor | None = None,
                desc: str = "encoding") -> tuple[Tensor, Tensor]:
    """Latents ``[n, D]`` and predictions ``[n, T]`` (targets' units) of molecules ``rows``, each moved by ``R[i]``."""
    device = next(model.parameters()).device
    zs, preds = [], []
    for s in track(range(0, len(rows), ENCODE_BATCH), description=desc, transient=True):
        batch = moved(ds.collate(rows[s:s + ENCODE_BATCH]), None if R is None else R[s:s + ENCODE_BATCH]).to(device)
        z = model.latent(batch)
        zs.append(z.cpu())
        preds.append(model.predict_from_latent(z).cpu())
    return torch.cat(zs), torch.cat(preds)


def extract(cfg: DictConfig, model: E3nnRegressor, ds: Molecules3D, rows: dict[str, Tensor]) -> dict[str, Any]:
    """Encode every set the analysis needs (module docstring), measure the test MAE and run the encoder checks."""
    m = cfg.molecules_3d
    model = model.float().eval()
    seed = int(cfg.seed)
    test = rows["test"]
    probe_train = rows["train"][: int(m.n_probe_train) or len(rows["train"])]
    n_orient = min(int(m.n_orient), len(test), len(rows["train"]))
    n_check = max(1, min(int(m.n_check), len(test)))
    z_test, pred = encode_rows(model, ds, test, desc="test molecules")
    y = ds.targets[test][:, model.columns.cpu()]
    mae = (pred - y).abs().double().mean(0)
    log.info("test MAE on %d molecules: %s", len(test), ", ".join(f"{n} {float(v):.4f} {u}" for n, v, u in
                                                                  zip(model.names, mae, model.units)))
    z_probe, _ = encode_rows(model, ds, probe_train, desc="probe-training molecules")
    rot = {}
    for k, part in enumerate(("test", "train")):
        r = rows[part][:n_orient]
        R = random_rotations(n_orient, seed * 1009 + 17 + k)
        dipole, quadrupole = charge_moments(ds, r)
        rot[part] = {"rows": r, "R": R, "latents": encode_rows(model, ds, r, R, desc=f"rotated {part} molecules")[0],
                     "charge_dipole": dipole, "charge_quadrupole": quadrupole}
    inv_R = -torch.eye(3, dtype=torch.float64).expand(n_check, 3, 3)
    z_inv, _ = encode_rows(model, ds, test[:n_check], inv_R, desc="inverted molecules")
    checks = encoder_checks(model, ds, test, z_test, rot["test"], z_inv, n_check)
    log.info("encoder check: |z(Rx) - D(R) z(x)| / max|z| <= %.1e (rotations), %.1e (inversion), e3nn %.1e",
             checks["rotation_max_rel_error"], checks["inversion_max_rel_error"], checks["e3nn_max_rel_error"])
    return {
        "version": CACHE_VERSION, "irreps": str(model.encoder.irreps_latent),
        "targets": list(model.names), "units": list(model.units),
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "test_mae": {n: float(v) for n, v in zip(model.names, mae)},
        "latents": {"test": z_test, "probe_train": z_probe, "rot_test": rot["test"]["latents"],
                    "rot_train": rot["train"]["latents"], "inverted": z_inv},
        "rows": {"test": test, "probe_train": probe_train},
        "rotations": {part: {k: v for k, v in r.items() if k != "latents"} for part, r in rot.items()},
        "predictions": pred, "encoder_checks": checks,
        "sizes": {"n_train": len(rows["train"]), "n_val": len(rows["val"]), "n_test": len(test),
                  "n_probe_train": len(probe_train), "n_orient": n_orient, "n_check": n_check},
    }


def encode_or_reuse(cfg: DictConfig, ds: Molecules3D, rows: dict[str, Tensor], fitted: Fitted) -> dict[str, Any]:
    """The folder's latents (:func:`eqlatent.studies.fitting.latents_of`), or the trained model's, encoded now and saved."""
    digest = settings_digest(extraction_settings(cfg))

    def encode(model: E3nnRegressor) -> dict[str, Any]:
        before = torch.get_float32_matmul_precision()
        if torch.cuda.is_available() and str(cfg.trainer.get("accelerator", "auto")) in ("auto", "gpu", "cuda"):
            model = model.cuda()   # Lightning hands the model back on the CPU; encode on the GPU it trained on
            # full float32 products while encoding: TF32 (matmul_precision: high) would put ~1e-3 into the
            # equivariance check, a rounding of the GPU's, not the encoder's
            torch.set_float32_matmul_precision("highest")
        try:
            out = extract(cfg, model, ds, rows)
        finally:
            if torch.cuda.is_available():
                torch.set_float32_matmul_precision(before)
        out.update(fingerprint=digest, train_seconds=fitted.train_seconds, epochs=int(cfg.trainer.max_epochs))
        return out

    def check(saved: dict[str, Any]) -> None:
        if saved["rows"]["test"].shape != rows["test"].shape or not torch.equal(saved["rows"]["test"], rows["test"]):
            raise ConfigError(f"{fitted.folder / 'latents.pt'} holds latents of other test molecules",
                              "use another run_name (or seed), or delete that run folder")

    return latents_of(fitted, encode, check)


def learning_curve(folder: Path, targets: list[str]) -> list[dict[str, float]]:
    """Per epoch: the training and validation MAE of each target, read from the model folder's ``csv/metrics.csv``.

    Empty when the run logged no CSV (``logger=null``).  Rows of a resumed run's every attempt are in
    the file; the last value logged for an epoch wins.
    """
    path = folder / "csv" / "metrics.csv"
    if not path.is_file():
        return []
    import pandas as pd

    df = pd.read_csv(path)
    if "epoch" not in df.columns:
        return []
    curve = []
    for epoch, part in df.groupby("epoch", sort=True):
        row: dict[str, float] = {"epoch": int(epoch) + 1}
        for t in targets:
            for stage in ("train", "val"):
                col = f"{stage}/mae_{t}"
                vals = part[col].dropna() if col in part.columns else []
                if len(vals):
                    row[f"{stage}_mae_{t}"] = float(vals.iloc[-1])
        if len(row) > 1:
            curve.append(row)
    return curve


def threads(mcfg: DictConfig) -> None:
    """``molecules_3d.torch_threads`` torch threads (0: torch's default); denormals flushed.

    Why flush: the radial envelope's tails near the cutoff produce denormal float32 numbers, which
    are slow on x86 (benchmarks/qm9_3d_train.py does the same).
    """
    n = int(mcfg.get("torch_threads", 0))
    if n > 0:
        torch.set_num_threads(n)
    torch.set_flush_denormal(True)


