"""Rotations and inversions of the input molecules: the encoder's equivariance check and the orientation targets.

Why a module of its own: both read the encoder through rotated copies of real molecules.  The check
(:func:`encoder_checks`) measures how exactly the trained latent transforms by e3nn's ``D(R)``; the
targets (:func:`rotated_targets`) are what an orientation probe tries to predict from a projection:
quantities that turn with the molecule, which an invariant projection cannot know.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eqlatent.data.qm9_3d import Batch3D, Molecules3D
from eqlatent.groups.o3 import irreps_action
from eqlatent.models.e3nn_regressor import E3nnRegressor


def random_rotations(n: int, seed: int) -> Tensor:
    """``[n, 3, 3]`` float64 rotations, uniform on SO(3) (normalised Gaussian quaternions), from ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    q = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    w, x, y, z = (q / q.norm(dim=1, keepdim=True)).unbind(1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], dim=1).view(n, 3, 3)


def moved(batch: Batch3D, R: Tensor | None) -> Batch3D:
    """``batch`` with molecule ``b``'s atoms moved by ``R[b]`` (``[B, 3, 3]``, an O(3) matrix each); None: unmoved."""
    if R is None:
        return batch
    pos = torch.einsum("aij,aj->ai", R[batch.batch].to(torch.float64), batch.pos.double()).to(batch.pos.dtype)
    return Batch3D(pos, batch.z, batch.batch, batch.y, batch.rows, batch.num_graphs)


def charge_moments(ds: Molecules3D, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Per molecule, float64: the charge dipole ``sum_i Z_i (r_i - c)`` ``[n, 3]`` (e Å) and the traceless charge
    quadrupole ``sum_i Z_i (d_i d_i^T - |d_i|^2 I / 3)``, ``d_i = r_i - c`` ``[n, 3, 3]`` (e Å²), ``c`` the centroid.

    Orientation targets: an l = 1 and an l = 2 quantity that turn with the molecule (``R a``, ``R Q R^T``), so
    no invariant representation can predict them, while an equivariant latent's l = 1 and l = 2 channels can
    follow them linearly.  The quadrupole has no sign to lose: it says where the molecule's axes lie.
    """
    dip = torch.zeros(len(rows), 3, dtype=torch.float64)
    quad = torch.zeros(len(rows), 3, 3, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    for k, r in enumerate(rows.tolist()):
        z, pos = ds.molecule(r)
        d = pos.double() - pos.double().mean(0)
        q = z.double()
        dip[k] = (q[:, None] * d).sum(0)
        quad[k] = torch.einsum("a,ai,aj->ij", q, d, d) - (q * d.pow(2).sum(1)).sum() * eye / 3
    return dip, quad


def encoder_checks(model: E3nnRegressor, ds: Molecules3D, test_rows: Tensor, z_test: Tensor, rot: dict[str, Tensor],
                   z_inverted: Tensor, n_check: int) -> dict[str, Any]:
    """How exactly the trained encoder's latent transforms by ``D(R)`` under rotations and the inversion of the input.

    Relative to ``max |latent|`` of the test molecules: the largest ``|z(R x) - D(R) z(x)|`` over the rotated
    test molecules (each its own R) and over the inverted ones (``D(-I)``: l = 1 flips, l = 0, 2 stay), with
    e3nn's matrices (``irreps.D_from_matrix``, :mod:`eqlatent.groups.o3`); and e3nn's own
    ``equivariance_error`` (random rotations, with and without parity and translation) on ``n_check`` molecules.
    """
    from e3nn.util.test import equivariance_error

    irreps = model.encoder.irreps_latent
    action = irreps_action(irreps, "O3")
    scale = float(z_test.abs().max().clamp_min(1e-30))
    n = len(rot["latents"])
    expect = torch.einsum("nij,nj->ni", action.matrix(rot["R"]), z_test[:n].double())
    rot_err = (rot["latents"].double() - expect).abs().amax(1) / scale
    inv_expect = z_test[:len(z_inverted)].double() @ action.matrix(-torch.eye(3, dtype=torch.float64)).T
    inv_err = (z_inverted.double() - inv_expect).abs().amax(1) / scale
    batch = ds.collate(test_rows[:n_check])
    enc = copy.deepcopy(model.encoder).cpu()   # e3nn's check draws its transformations on the CPU
    with torch.no_grad():
        errors = equivariance_error(lambda p: enc(p, batch.z, batch.batch, batch.num_graphs), args_in=[batch.pos],
                                    irreps_in=["cartesian_points"], irreps_out=[irreps], ntrials=2)
    e3nn = {f"parity{k}_translate{int(t)}": float(torch.as_tensor(v).max()) / scale for (k, t), v in errors.items()}
    return {"irreps": str(irreps), "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
            "scale_max_abs_latent": scale, "n_rotated": n, "n_inverted": len(z_inverted),
            "rotation_max_rel_error": float(rot_err.max()) if n else float("nan"),
            "rotation_median_rel_error": float(rot_err.median()) if n else float("nan"),
            "inversion_max_rel_error": float(inv_err.max()) if len(inv_err) else float("nan"),
            "e3nn_equivariance_error": e3nn, "e3nn_max_rel_error": max(e3nn.values()) if e3nn else float("nan")}


def rotated_targets(rot: dict[str, Tensor]) -> dict[str, np.ndarray]:
    """The orientation targets of a rotated set, each ``[n, k]``: where the stored frame's z axis points
    (``R e_z``), the charge dipole (``R a``) and the six entries of the charge quadrupole (``R Q R^T``) in the
    rotated frame."""
    R = rot["R"]
    quad = torch.einsum("nij,njk,nlk->nil", R, rot["charge_quadrupole"], R)
    i, j = torch.triu_indices(3, 3)
    return {"axis": R[:, :, 2].numpy(), "dipole": torch.einsum("nij,nj->ni", R, rot["charge_dipole"]).numpy(),
            "quadrupole": quad[:, i, j].numpy()}
