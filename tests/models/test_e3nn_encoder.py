"""The e3nn encoder: its latent transforms by D(R) under rotations and inversion, ignores atom order, and trains.

Tolerances (measured: float64 ~4e-16, float32 ~4e-7 of the latent's largest entry, over
random rotations, reflections and translations of real QM9 molecules):
``EQUIV_TOL = {float64: 1e-12, float32: 1e-5}``, relative to ``max |latent|``.
"""

from __future__ import annotations

import contextlib

import lightning as L
import pytest
import torch
from e3nn import o3
from e3nn.util.test import assert_equivariant

from eqlatent.data.qm9_3d import load_qm9_3d
from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.models.e3nn_encoder import E3nnEncoder, bessel_basis
from eqlatent.models.e3nn_regressor import E3nnRegressor
from eqlatent.models.radius_graph import radius_graph

EQUIV_TOL = {torch.float64: 1e-12, torch.float32: 1e-5}
HIDDEN, LATENT = "16x0e+4x1o+2x2e", "8x0e+4x1o+2x2e"


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """e3nn builds its Clebsch-Gordan and Wigner matrices in torch's default dtype: float64 needs it switched."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


@pytest.fixture(scope="module")
def qm9_3d(data_cache_dir):
    return load_qm9_3d(cache_dir=str(data_cache_dir))


@pytest.fixture(scope="module")
def molecules(qm9_3d):
    """Twelve real QM9 molecules (5 to 27 atoms, hydrogens included) as one batch."""
    return qm9_3d.collate(list(range(0, 120_000, 10_000)))


def encoder(dtype: torch.dtype = torch.float32, **kw) -> E3nnEncoder:
    with default_dtype(dtype):
        torch.manual_seed(0)
        return E3nnEncoder(HIDDEN, LATENT, n_layers=2, **kw)


def wigner(irreps, R: torch.Tensor) -> torch.Tensor:
    with default_dtype(torch.float64):
        return o3.Irreps(irreps).D_from_matrix(R.double())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_latent_transforms_by_D_under_rotation_inversion_and_translation(molecules, dtype):
    enc = encoder(dtype)
    pos, z, batch = molecules.pos.to(dtype), molecules.z, molecules.batch
    out = enc(pos, z, batch)
    scale = out.abs().max()
    g = torch.Generator().manual_seed(1)
    for k in range(6):
        R = o3.rand_matrix(dtype=torch.float64) * (-1) ** k       # odd k: a rotation times the inversion
        moved = (pos.double() @ R.T + 10 * torch.randn(1, 3, generator=g, dtype=torch.float64)).to(dtype)
        expected = out.double() @ wigner(LATENT, R).T
        err = (enc(moved, z, batch).double() - expected).abs().max()
        assert err <= EQUIV_TOL[dtype] * scale, (k, float(err / scale))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_e3nn_assert_equivariant_agrees(molecules, dtype):
    enc = encoder(dtype)
    pos, z, batch = molecules.pos.to(dtype), molecules.z, molecules.batch
    scale = float(enc(pos, z, batch).detach().abs().max())
    with default_dtype(dtype):
        errors = assert_equivariant(lambda p: enc(p, z, batch), args_in=[pos], irreps_in=["cartesian_points"],
                                    irreps_out=[enc.irreps_latent], tolerance=EQUIV_TOL[dtype] * scale, ntrials=2)
    assert set(errors) == {(0, False), (0, True), (1, False), (1, True)}  # rotations and reflections, with translation


def test_the_check_can_fail_l1_parts_rotate_and_flip(molecules):
    """Controls: the l > 0 channels really move (a constant or invariant latent would pass the D(R) test vacuously)."""
    enc = encoder(torch.float64)
    pos = molecules.pos.double()
    out = enc(pos, molecules.z, molecules.batch)
    vec = slice(8, 8 + 12)                                            # the 4x1o block of LATENT
    flipped = enc(-pos, molecules.z, molecules.batch)
    assert torch.allclose(flipped[:, vec], -out[:, vec], atol=1e-12) and out[:, vec].abs().max() > 1e-3
    R = o3.rand_matrix(dtype=torch.float64)
    rotated = enc(pos @ R.T, molecules.z, molecules.batch)
    assert (rotated - out).abs().max() > 1e-3                        # not invariant ...
    assert torch.allclose(rotated[:, :8], out[:, :8], atol=1e-12)     # ... except its 0e block
    wrong = out @ wigner(LATENT, R.T).T                               # D(R^-1) instead of D(R)
    assert (rotated - wrong).abs().max() > 1e-3


def test_graph_latent_ignores_atom_order_and_follows_molecule_order(qm9_3d, molecules):
    enc = encoder(torch.float64)
    pos, z, batch = molecules.pos.double(), molecules.z, molecules.batch
    out = enc(pos, z, batch)
    counts = torch.bincount(batch)
    start = torch.cumsum(counts, 0) - counts
    g = torch.Generator().manual_seed(2)
    perm = torch.cat([s + torch.randperm(int(n), generator=g) for s, n in zip(start, counts)])  # within molecules
    assert torch.allclose(enc(pos[perm], z[perm], batch), out, atol=1e-12)
    rows = molecules.rows.flip(0)
    flipped = qm9_3d.collate(rows)
    assert torch.allclose(enc(flipped.pos.double(), flipped.z, flipped.batch), out.flip(0), atol=1e-12)


def test_radius_graph_matches_all_pairs(molecules):
    pos, batch = molecules.pos.double(), molecules.batch
    edges = radius_graph(pos, batch, cutoff=3.0)
    d = torch.cdist(pos, pos)
    brute = (d < 3.0) & (batch[:, None] == batch[None, :]) & ~torch.eye(len(pos), dtype=torch.bool)
    src, dst = brute.nonzero(as_tuple=True)
    assert sorted(zip(edges[0].tolist(), edges[1].tolist())) == sorted(zip(dst.tolist(), src.tolist()))
    assert edges.shape[1] > len(pos)  # a real graph, not a handful of edges


def test_messages_vanish_smoothly_at_the_cutoff():
    r = torch.tensor([0.5, 4.999, 5.0, 6.0], dtype=torch.float64, requires_grad=True)
    basis = bessel_basis(r, 8, 5.0)
    assert basis[0].abs().max() > 0.1 and basis[1].abs().max() < 1e-6 and (basis[2:] == 0).all()
    (grad,) = torch.autograd.grad(basis.sum(), r)
    assert torch.isfinite(grad).all() and grad[1].abs() < 1e-4


def test_model_runs_where_its_inputs_are(molecules, device):
    enc = encoder().to(device)
    out = enc(molecules.pos.to(device), molecules.z.to(device), molecules.batch.to(device))
    assert out.device.type == device and out.shape == (12, enc.irreps_latent.dim) and torch.isfinite(out).all()


def test_two_encoders_share_no_state(molecules):
    a, b = encoder(), encoder()
    before = b(molecules.pos, molecules.z, molecules.batch)
    with torch.no_grad():
        for p in a.parameters():
            p.add_(1.0)
    assert torch.equal(b(molecules.pos, molecules.z, molecules.batch), before)


def test_regressor_trains_on_real_molecules_and_logs_mae_in_ev(qm9_3d):
    ds = qm9_3d
    rows = ds.split["train"][:96]
    col = ds.target_names.index("gap")
    y = ds.targets[rows, col]
    model = E3nnRegressor(dict(irreps_hidden=HIDDEN, irreps_latent=LATENT, n_layers=1), [col], ["gap"], ["eV"],
                          [float(y.mean())], [float(y.std())], head_hidden=16, lr=3e-3)
    loader = torch.utils.data.DataLoader(rows.tolist(), batch_size=32, collate_fn=ds.collate)
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, loader, loader)
    mae = trainer.callback_metrics["val/mae_gap"]
    assert torch.isfinite(mae) and 0 < mae < 3 * y.std()  # eV, of the order of the gap's spread, not of Hartree
    pred = model(ds.collate(rows[:4]))
    assert pred.shape == (4, 1) and (pred - y[:4, None]).abs().max() < 5 * y.std()


def test_bad_input_is_a_one_line_error(molecules):
    enc = encoder()
    cases = [
        (LatentShapeError, "expected \\[atoms, 3\\]", lambda: enc(molecules.pos[:, :2], molecules.z, molecules.batch)),
        (LatentShapeError, "embeds 1..9", lambda: enc(molecules.pos, molecules.z + 10, molecules.batch)),
        (LatentShapeError, "not sorted", lambda: enc(molecules.pos, molecules.z, molecules.batch.flip(0))),
        (ConfigError, "unknown pool", lambda: E3nnEncoder(HIDDEN, LATENT, pool="max")),
        (ConfigError, "pseudo-scalars", lambda: E3nnEncoder("8x0e+4x0o+2x1o", LATENT)),
        (ConfigError, "unknown loss", lambda: E3nnRegressor({}, [4], ["gap"], ["eV"], [6.8], [1.3], loss="huber")),
    ]
    for kind, match, call in cases:
        with pytest.raises(kind, match=match) as err:
            call()
        assert "\n" not in str(err.value) and "fix:" in str(err.value)


def test_a_head_on_the_invariants_trains_the_l_gt_0_channels():
    """head_input='invariants' reads the 0e channels and every l > 0 copy's norm: those channels get gradients."""
    from e3nn import o3

    from eqlatent.models.e3nn_regressor import E3nnRegressor

    torch.manual_seed(0)
    enc = dict(irreps_hidden="4x0e+2x1o+1x2e", irreps_latent="4x0e+2x1o+1x2e", n_layers=1)
    grads = {}
    for head_input in ("scalars", "invariants"):
        model = E3nnRegressor(enc, [0], ["gap"], ["eV"], [0.0], [1.0], head_hidden=8, head_input=head_input)
        pos, z = torch.randn(5, 3), torch.tensor([6, 1, 1, 8, 1])
        latent = model.encoder(pos, z, torch.zeros(5, dtype=torch.long), 1)
        inv = model.encoder.invariants(latent)
        assert inv.shape == (1, 4 + 3) and torch.isfinite(inv).all()
        R = o3.rand_matrix()   # invariants of the rotated molecule's latent are the same numbers
        inv_r = model.encoder.invariants(model.encoder(pos @ R.T, z, torch.zeros(5, dtype=torch.long), 1))
        assert torch.allclose(inv, inv_r, atol=1e-5)
        pred = model.head(inv if head_input == "invariants" else model.encoder.scalars(latent))
        pred.sum().backward()
        grads[head_input] = model.encoder.readout.weight.grad.abs().sum().item()
    assert grads["invariants"] > grads["scalars"] > 0
    zero = torch.zeros(1, 4 + 6 + 5, requires_grad=True)
    model.encoder.invariants(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()
