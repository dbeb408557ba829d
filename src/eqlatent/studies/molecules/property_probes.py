"""Property probes on each latent representation, with and without a node-order shuffle.

Why the shuffle: the naive latent inherits the dataset's atom order (rdkit's), which an
equivariant model never promised.  Re-ordering the nodes of each molecule at random --
at test time only, or at train and test time -- gives latents that are *equally valid*
outputs of the same model; a probe that breaks under it was reading the arbitrary order,
not the molecule.  Invariant projections give identical features either way (checked and
reported as ``invariance_error``), so they are probed once.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from eqlatent.data.molecules import MoleculeDataset
from eqlatent.errors import ConfigError
from eqlatent.projections.base import InvariantProjection
from eqlatent.projections.node_projection import gather_nodes
from eqlatent.studies.molecules.node_retention import random_node_permutations

#: node order of (train, test) latents per condition; "stored" = the dataset's order
SHUFFLE_CONDITIONS = {"stored": (False, False), "shuffled_test": (False, True), "shuffled": (True, True)}


def target_matrix(ds: MoleculeDataset, names: Sequence[str]) -> Tensor:
    """``[N, len(names)]`` targets; unknown names give a one-line ConfigError."""
    missing = [t for t in names if t not in ds.target_names]
    if missing:
        raise ConfigError(f"probe targets {missing} are not in {ds.name} (has {', '.join(ds.target_names)})",
                          "set molecules.probe_targets to names the dataset provides")
    return torch.stack([ds.target(t) for t in names], dim=1)


def run_probes(z: Tensor, ds: MoleculeDataset, projections: Mapping[str, InvariantProjection],
               probes: Mapping[str, Callable[..., dict]], targets: Sequence[str], conditions: Sequence[str],
               seed: int, n_train: int = 0, n_test: int = 0) -> list[dict[str, Any]]:
    """One row per (projection, condition, probe) with test MAE / R^2 (mean and per target).

    ``z`` is ``[N, n, d]`` for the whole dataset; probes train on the first ``n_train`` of
    ``ds.split["train"]`` and are scored on the first ``n_test`` of ``ds.split["test"]``
    (0 = all; the splits are already in seeded random order).  Why the caps: the VAE
    trains on all of QM9 in the larger profiles, while an MLP probe per projection and
    node order on 100k molecules would cost more than the VAE itself.
    """
    bad = [c for c in conditions if c not in SHUFFLE_CONDITIONS]
    if bad:
        raise ConfigError(f"unknown probe shuffle condition(s) {bad}", f"use some of {list(SHUFFLE_CONDITIONS)}")
    y = target_matrix(ds, targets).double().numpy()
    tr, te = ds.split["train"], ds.split["test"]
    tr, te = tr[: n_train or len(tr)], te[: n_test or len(te)]
    z_shuffled = gather_nodes(z, random_node_permutations(len(z), z.shape[1], seed + 1))
    rows = []
    for pname, proj in projections.items():
        feats = proj(z.double())
        feats_shuffled = proj(z_shuffled.double())
        inv_err = float((feats - feats_shuffled).abs().max())
        conds = ["stored"] if proj.invariant else conditions   # shuffling cannot change invariant features
        for cond in conds:
            shuf_train, shuf_test = SHUFFLE_CONDITIONS[cond]
            x_train = (feats_shuffled if shuf_train else feats)[tr].numpy()
            x_test = (feats_shuffled if shuf_test else feats)[te].numpy()
            for probe_name, probe in probes.items():
                res = probe(x_train=x_train, y_train=y[tr], x_test=x_test, y_test=y[te], seed=seed)
                rows.append({
                    "projection": pname, "condition": cond, "probe": probe_name, "invariance_error": inv_err,
                    "mae": float(res["mae"]), "r2": float(res["r2"]),
                    "mae_per_target": dict(zip(targets, np.asarray(res["mae_per_target"]).tolist())),
                    "r2_per_target": dict(zip(targets, np.asarray(res["r2_per_target"]).tolist())),
                })
    return rows
