"""The numbers the README's and docs/results.md's profile tables show, computed from the runs: ``profiles.json``.

Why a file of its own: the tables in the docs used to be typed by hand from each run's
``results.md``, and drifted.  ``eqlatent report`` now writes, beside REPORT.md, one entry per
study and profile (``"images/cpu"``) holding exactly those numbers, per seed and as
min / max / mean over seeds; :mod:`eqlatent.report.measured` merges them into the committed
``docs/measured.json`` and renders the tables from it.

One entry is one study at one profile *as configured*: runs whose Hydra overrides change what
the profile computes (``profile.images.n_train=300``, a sweep's ``model=c4``) are another
experiment and are listed under ``skipped``, never written over the profile's numbers.  If
several configurations of one profile remain (the config changed between runs), the newest
is kept and the others are skipped.

Per seed: ``metrics`` (flat names below), ``claims`` (paper claim -> held), ``device``::

    acc.<encoder>            images: test accuracy on rotated digits
    exact.d<k>, valid.d<k>   molecules, latent size k: test graphs rebuilt exactly from the posterior mean; rdkit-valid
    exact_of_ceiling.d<k>    the same among the test molecules an equivariant decoder can rebuild at all
    mae.<target>             molecules_3d: the e3nn regressor's test MAE of a trained target, in its unit (eV for gap)
    ceiling                  the fraction of test molecules an equivariant decoder can rebuild at all
    wall_s, train_s          seconds of the whole run; of its training (molecules only)
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from eqlatent.runtime.io import atomic_write_text
from eqlatent.report.collect import Cell, Run
from eqlatent.studies.results import ImagesResults, Molecules3DResults, MoleculesResults, StudyResults

SCHEMA = 1
MEASURED = "measured: eqlatent report over the runs under outputs/"
#: override keys that say how or where a run executed, not what it computed: they keep a run in its profile
EXECUTION_KEYS = frozenset({"seed", "experiment", "profile", "matmul_precision", "run_name", "model.compile",
                            "model.graph_vae.compile", "profile.molecules.torch_threads", "profile.molecules.compile",
                            "profile.molecules_3d.torch_threads", "molecules_3d.torch_threads",
                            # side-by-side fits train each size exactly as alone (studies/molecules/training.py)
                            "profile.molecules.parallel_fits", "molecules.parallel_fits"})
#: ... and every key under these
EXECUTION_GROUPS = ("trainer", "paths", "hydra", "logger", "callbacks", "profile.loader")
#: a Lightning log line of a run that trained on a GPU
_GPU_LOG = re.compile(r"GPU available: True \(\w+\), used: True")


def _fraction(x: Any) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 6)


def _seconds(x: Any) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 1)


def images_metrics(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Test accuracy on rotated digits per encoder, and the run's wall time."""
    out = {f"acc.{enc}": _fraction(e.get("acc_rotated_test")) for enc, e in metrics.get("encoders", {}).items()}
    out["wall_s"] = _seconds(metrics.get("info", {}).get("wall_s"))
    return out


def molecules_metrics(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Exact and valid reconstructions from the posterior mean per latent size, the ceiling, the run's times."""
    out: dict[str, float | None] = {}
    for d, ld in sorted(metrics.get("latent_dims", {}).items(), key=lambda kv: int(kv[0])):
        rec = ld.get("reconstruction", {}).get("posterior mean", {})
        out[f"exact.d{d}"] = _fraction(rec.get("graph_exact"))
        out[f"valid.d{d}"] = _fraction(rec.get("validity"))
        out[f"exact_of_ceiling.d{d}"] = _fraction(rec.get("exact_of_decodable"))
    out["ceiling"] = _fraction((metrics.get("ceiling") or {}).get("decodable"))
    out["wall_s"] = _seconds(metrics.get("wall_time_s"))
    out["train_s"] = _seconds(metrics.get("train_time_s"))
    return out


def molecules_3d_metrics(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The regressor's test MAE per trained target, the run's wall time and its training time."""
    model = metrics.get("model", {})
    out: dict[str, float | None] = {f"mae.{t}": (None if v is None or not math.isfinite(float(v)) else
                                                 round(float(v), 6)) for t, v in model.get("test_mae", {}).items()}
    out["wall_s"] = _seconds(metrics.get("info", {}).get("wall_s"))
    out["train_s"] = _seconds(model.get("train_s"))
    return out


#: study (task_name) -> (its results type, the numbers the docs show of one run)
STUDIES: dict[str, tuple[type[StudyResults], Callable[[dict[str, Any]], dict[str, float | None]]]] = {
    "images": (ImagesResults, images_metrics),
    "molecules": (MoleculesResults, molecules_metrics),
    "molecules_zinc": (MoleculesResults, molecules_metrics),
    "molecules_3d": (Molecules3DResults, molecules_3d_metrics),
}


def run_device(run: Run, cfg: dict[str, Any]) -> str:
    """``"gpu"`` or ``"cpu"``: the trainer's accelerator, or for ``auto`` what Lightning logged in the run folder."""
    accel = str((cfg.get("trainer") or {}).get("accelerator", "auto")).lower()
    if accel in ("gpu", "cuda"):
        return "gpu"
    if accel == "auto":
        for log in run.path.glob("*.log"):
            try:
                if _GPU_LOG.search(log.read_text(errors="replace")):
                    return "gpu"
            except OSError:
                continue
    return "cpu"


def run_overrides(run: Run) -> list[str]:
    """The run's Hydra overrides that change what it computes (``[]`` for a plain ``eqlatent reproduce``)."""
    path = run.path / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    listed = OmegaConf.to_container(OmegaConf.load(path)) or []
    return sorted(item for item in map(str, listed) if not _executes_only(item))  # type: ignore[arg-type]


def _executes_only(override: str) -> bool:
    key = override.lstrip("+~").split("=", 1)[0].replace("/", ".")   # hydra/launcher=slurm -> hydra.launcher
    return key in EXECUTION_KEYS or any(key == g or key.startswith(g + ".") for g in EXECUTION_GROUPS)


def seed_numbers(run: Run) -> dict[str, Any]:
    """One run's row of ``per_seed``: device, metrics, claims, and where it came from."""
    from omegaconf import OmegaConf

    results_type, metrics_of = STUDIES[run.study]
    hydra_cfg = run.path / ".hydra" / "config.yaml"
    cfg = OmegaConf.to_container(OmegaConf.load(hydra_cfg), resolve=False) if hydra_cfg.is_file() else {}
    claims = {v.claim: v.held for v in results_type.from_json(run.metrics).verdicts() if v.held is not None}
    finished = datetime.fromtimestamp((run.path / "metrics.json").stat().st_mtime, timezone.utc)
    return {"device": run_device(run, cfg),  # type: ignore[arg-type]
            "metrics": {k: v for k, v in metrics_of(run.metrics).items() if v is not None},
            "claims": claims, "finished": finished.strftime("%Y-%m-%d")}


def summarize(per_seed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Min, max and mean over seeds of every metric, and in how many seeds each claim held."""
    names = sorted({k for row in per_seed.values() for k in row["metrics"]})
    out: dict[str, Any] = {}
    for name in names:
        vals = [row["metrics"][name] for row in per_seed.values() if name in row["metrics"]]
        out[name] = {"min": min(vals), "max": max(vals), "mean": round(sum(vals) / len(vals), 6), "n": len(vals)}
    claims = sorted({c for row in per_seed.values() for c in row.get("claims", {})})
    out["claims"] = {c: {"held": sum(bool(row.get("claims", {}).get(c)) for row in per_seed.values()),
                         "evaluated": sum(c in row.get("claims", {}) for row in per_seed.values())} for c in claims}
    return out


def entry_key(study: str, profile: str) -> str:
    """``"images/cpu"``: the key of one study at one profile in profiles.json and docs/measured.json."""
    return f"{study}/{profile}"


def _newest(cell: Cell) -> float:
    return max((r.path / "metrics.json").stat().st_mtime for r in cell.runs)


def profile_entries(cells: list[Cell], output_root: Path, commit: str | None,
                    date: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(entries, skipped)`` of profiles.json from the report's cells."""
    entries: dict[str, Any] = {}
    skipped: list[dict[str, Any]] = []
    chosen: dict[str, Cell] = {}

    def skip(cell: Cell, why: str) -> None:
        skipped.append({"study": cell.study, "profile": cell.profile, "seeds": cell.seeds, "why": why})

    for cell in sorted(cells, key=_newest, reverse=True):
        if cell.study not in STUDIES:
            skip(cell, "no docs table shows this study")
            continue
        overrides = sorted({o for r in cell.runs for o in run_overrides(r)})
        if overrides:
            skip(cell, "overrides change what the profile computes: " + " ".join(overrides))
            continue
        key = entry_key(cell.study, cell.profile)
        if key in chosen:
            skip(cell, "an older configuration of this profile (a newer one is reported)")
            continue
        runs = [r for r in cell.runs if r.seed is not None]
        if not runs:
            skip(cell, "no seed recorded")
            continue
        chosen[key] = cell
        per_seed = {str(r.seed): {**seed_numbers(r), "run": str(r.path.relative_to(output_root))
                                  if r.path.is_relative_to(output_root) else str(r.path)} for r in runs}
        entries[key] = {"study": cell.study, "profile": cell.profile, "source": MEASURED, "commit": commit,
                        "date": date, "seeds": [r.seed for r in runs], "per_seed": per_seed,
                        "summary": summarize(per_seed)}
    return dict(sorted(entries.items())), skipped


def git_commit(root: Path) -> str | None:
    """The checkout's short commit, or ``None`` outside git (an installed package)."""
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=7", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def write_profiles(cells: list[Cell], output_root: Path, report_dir: Path, root: Path) -> Path:
    """Write ``<report_dir>/profiles.json`` (atomically) and return its path; ``root``: the checkout (its commit)."""
    now = datetime.now(timezone.utc)
    commit = git_commit(root)
    entries, skipped = profile_entries(cells, output_root, commit, now.strftime("%Y-%m-%d"))
    doc = {"schema": SCHEMA, "generated": now.strftime("%Y-%m-%d %H:%M UTC"), "commit": commit,
           "outputs": str(output_root), "entries": entries, "skipped": skipped}
    return atomic_write_text(report_dir / "profiles.json", json.dumps(doc, indent=1) + "\n")
