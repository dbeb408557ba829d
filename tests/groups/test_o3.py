"""SO(3) / O(3) on e3nn latents: the action is e3nn's representation, the quotient distance is the true minimum.

Why these checks: the action must be the one e3nn models transform by (its layout, basis and
parities), or every invariance claim made with it is about another representation; the
quotient distance is the reference projections are judged by, so it is checked against a
dense search and the closed form, on both arguments' orbits, and on the awkward latents of real
models (zeros, ties, scalars only, float32).
"""

from __future__ import annotations

import pytest
import torch

from eqlatent.errors import ConfigError, LatentShapeError

o3 = pytest.importorskip("e3nn.o3")

import eqlatent  # noqa: E402
from eqlatent.groups import so3_max  # noqa: E402
from eqlatent.groups.o3 import IrrepsAction, e3nn_float64, irreps_action, is_irreps, parse_irreps_spec  # noqa: E402
from eqlatent.groups.o3_quotient import _moved, _safe_norm, cross_blocks, irreps_quotient_distance  # noqa: E402

MIXED = "2x0e + 1x0o + 2x1o + 1x1e + 2x2e + 1x3o"


def rotations(n: int, improper: bool = False) -> torch.Tensor:
    R = o3.rand_matrix(n, dtype=torch.float64)
    if improper:  # every other element times the inversion
        R[::2] = -R[::2]
    return R


def e3nn_D(irreps, R: torch.Tensor) -> torch.Tensor:
    with e3nn_float64():
        return o3.Irreps(irreps).D_from_matrix(R)


# -- the action ----------------------------------------------------------------------------------

def test_action_is_a_representation_of_o3():
    action = irreps_action(f"O3: {MIXED}")
    R1, R2 = rotations(6, improper=True), rotations(6, improper=True).flip(0)
    D12 = action.matrix(R1 @ R2)
    assert torch.allclose(D12, action.matrix(R1) @ action.matrix(R2), atol=1e-10)
    assert torch.allclose(action.matrix(torch.eye(3, dtype=torch.float64)), torch.eye(action.dim, dtype=torch.float64))
    D = action.matrix(R1)
    assert torch.allclose(D @ D.transpose(1, 2), torch.eye(action.dim, dtype=torch.float64).expand_as(D), atol=1e-10)


def test_inversion_flips_exactly_the_odd_irreps():
    action = irreps_action(f"O3: {MIXED}")
    D = action.matrix(-torch.eye(3, dtype=torch.float64))
    parities = torch.cat([torch.full((mul * ir.dim,), float(ir.p)) for mul, ir in action.irreps]).double()
    assert torch.allclose(D, torch.diag(parities))
    assert parities.min() == -1 and parities.max() == 1  # both kinds present: the test can fail


def test_action_equals_e3nn_and_the_search_uses_the_same_matrices():
    R = rotations(5, improper=True)
    action = irreps_action(f"O3: {MIXED}")
    assert torch.allclose(action.matrix(R), e3nn_D(MIXED, R), atol=1e-13)
    proper = R * torch.linalg.det(R).sign()[:, None, None]
    blocks = so3_max.wigner_blocks(proper, 4)
    for l in range(5):
        assert torch.allclose(blocks[l], e3nn_D(f"1x{l}e", proper), atol=1e-12), l
    z = torch.randn(5, action.dim, dtype=torch.float64)
    k = (torch.linalg.det(R) < 0).long()
    assert torch.allclose(_moved(action, z, proper, k), action.act(z, R), atol=1e-12)


def test_action_matches_how_e3nn_layers_transform():
    lmax = 3
    sh = o3.Irreps.spherical_harmonics(lmax)  # 1x0e + 1x1o + 1x2e + 1x3o
    action = IrrepsAction(sh)
    x = torch.randn(20, 3, dtype=torch.float64)
    R = rotations(1, improper=True)[0]  # a rotation times the inversion
    Y = o3.spherical_harmonics(list(range(lmax + 1)), x, normalize=True)
    Y_moved = o3.spherical_harmonics(list(range(lmax + 1)), x @ R.T, normalize=True)
    assert torch.allclose(Y_moved, action.act(Y, R), atol=1e-10)

    irreps_in, irreps_out = o3.Irreps("3x0e + 2x1o + 1x2e"), o3.Irreps("2x0e + 3x1o + 2x2e")
    linear = o3.Linear(irreps_in, irreps_out).double()
    z = torch.randn(7, irreps_in.dim, dtype=torch.float64)
    a_in, a_out = IrrepsAction(irreps_in), IrrepsAction(irreps_out)
    with torch.no_grad():
        assert torch.allclose(linear(a_in.act(z, R)), a_out.act(linear(z), R), atol=1e-10)


def test_so3_refuses_improper_elements_and_bad_input_says_the_fix():
    action = irreps_action("SO3: 2x1o")
    with pytest.raises(ConfigError, match="det < 0"):
        action.matrix(-torch.eye(3))
    with pytest.raises(LatentShapeError, match="6 numbers per row"):
        action.act(torch.zeros(5), torch.eye(3))
    with pytest.raises(LatentShapeError, match="3x3"):
        action.matrix(torch.eye(4))


def test_irreps_specs():
    assert parse_irreps_spec("O3: 8x0e + 4x1o + 2x2e").dim == 8 + 12 + 10
    assert parse_irreps_spec("so3:1x1o").group == "SO3"
    assert is_irreps("O3: 1x0e") and is_irreps(o3.Irreps("1x0e")) and not is_irreps("C8: 2 regular")
    assert not is_irreps("S_n") and not is_irreps(o3.Irrep("1o"))
    for bad, match in [("O3: 8xqe", "cannot read e3nn irreps"), ("SO3:  ", "lists no irreps"),
                       ("O3: 0x1o", "no channels")]:
        with pytest.raises(ConfigError, match=match):
            parse_irreps_spec(bad)
    from eqlatent.groups.specs import parse_field_type
    with pytest.raises(ConfigError, match="e3nn irreps"):
        parse_field_type("O3: 1x1o")


# -- the quotient distance -------------------------------------------------------------------------

def dense_distance(action: IrrepsAction, a: torch.Tensor, b: torch.Tensor, n: int = 20_000):
    """(grid-only distance, grid refined to convergence) of a dense search: an upper bound and the minimum."""
    grid = so3_max.SO3Grid(n, max(action.lmax, 2))
    M = cross_blocks(action, a, b) + [None] * (grid.lmax - action.lmax)
    _, Rg, cg = so3_max.maximize(M, grid, refine=False)
    saved = so3_max.SCREEN_STEPS, so3_max.N_KEEP
    so3_max.SCREEN_STEPS, so3_max.N_KEEP = 12, 32
    try:
        _, Rr, cr = so3_max.maximize(M, grid, n_starts=32)
    finally:
        so3_max.SCREEN_STEPS, so3_max.N_KEEP = saved
    dist = lambda R, c: _safe_norm(a - _moved(action, b, R, c))  # noqa: E731
    return dist(Rg, cg), dist(Rr, cr), grid


@pytest.mark.parametrize("spec", ["SO3: 1x2e", "O3: 1x2e + 1x2o + 1x0o", "SO3: 1x3o", "O3: 2x0e + 1x1o + 1x2e + 1x3o"])
def test_equals_a_dense_search_for_l_2_and_3(spec):
    action = irreps_action(spec)
    a, b = torch.randn(2, 40, action.dim, dtype=torch.float64)
    d = irreps_quotient_distance(a, b, action)
    grid_only, refined, grid = dense_distance(action, a, b)
    assert (d <= grid_only + 1e-9).all()  # at least as good as 20,000 rotations
    assert torch.allclose(d, refined, atol=1e-9, rtol=0)  # the same minimum as the refined dense search
    # the stated bound of an unrefined grid holds for the dense grid and for ours without refinement
    L, norms = action.lmax, a.norm(dim=1) * b.norm(dim=1)
    assert (grid_only**2 - d**2 <= (grid.covering_radius * L) ** 2 * norms + 1e-9).all()
    coarse = irreps_quotient_distance(a, b, action, refine=False)
    h = so3_max.so3_grid(so3_max.default_grid_size(L), L).covering_radius
    assert (coarse >= d - 1e-9).all() and (coarse**2 - d**2 <= (h * L) ** 2 * norms).all()


@pytest.mark.parametrize("spec", ["SO3: 1x1o", "O3: 1x1o", "O3: 2x0e + 1x0o + 3x1o + 1x1e", "SO3: 3x0e + 2x1o + 2x1e"])
def test_closed_form_for_l_up_to_1_equals_the_search(spec):
    action = irreps_action(spec)
    a, b = torch.randn(2, 40, action.dim, dtype=torch.float64)
    d = irreps_quotient_distance(a, b, action)
    _, refined, _ = dense_distance(action, a, b, n=4096)
    assert torch.allclose(d, refined, atol=1e-10, rtol=0)
    if spec == "SO3: 1x1o":  # one vector each: the rotation aligns them, d = | |a| - |b| |
        assert torch.allclose(d, (a.norm(dim=1) - b.norm(dim=1)).abs(), atol=1e-12)
    if spec == "O3: 1x1o":
        assert torch.allclose(d, (a.norm(dim=1) - b.norm(dim=1)).abs(), atol=1e-12)


@pytest.mark.parametrize("group", ["SO3", "O3"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_invariant_symmetric_zero_on_orbits_below_plain_distance(group, dtype):
    action = irreps_action(f"{group}: {MIXED}")
    a, b = torch.randn(2, 12, action.dim, dtype=torch.float64)
    d = irreps_quotient_distance(a.to(dtype), b.to(dtype), action)
    assert d.dtype == torch.float64 and d.shape == (12,)
    tol = 1e-9 if dtype == torch.float64 else 1e-4 * float(d.max())
    improper = group == "O3"
    g1, g2 = rotations(12, improper), rotations(12, improper)
    moved = irreps_quotient_distance(action.act(a, g1).to(dtype), action.act(b, g2).to(dtype), action)
    assert torch.allclose(moved, d, atol=tol, rtol=0)
    assert torch.allclose(irreps_quotient_distance(b.to(dtype), a.to(dtype), action), d, atol=tol, rtol=0)
    orbit = irreps_quotient_distance(a.to(dtype), action.act(a, g1).to(dtype), action)
    assert float(orbit.max()) < (1e-9 if dtype == torch.float64 else 1e-4) * float(a.norm(dim=1).max())
    assert (d <= (a - b).to(dtype).double().norm(dim=1) + tol).all()


def test_o3_is_closer_than_so3_exactly_when_the_inversion_helps():
    a = torch.randn(10, 3, dtype=torch.float64)
    so3 = irreps_quotient_distance(a, -a, "SO3: 1x1o")  # -a is a rotation of a (any vector is)
    assert float(so3.max()) < 1e-12
    pseudo = torch.cat([a, a.sum(1, keepdim=True)], dim=1)  # 1x1o + 1x0o: the scalar flips only under inversion
    flipped = torch.cat([a, -a.sum(1, keepdim=True)], dim=1)
    d_so3 = irreps_quotient_distance(pseudo, flipped, "SO3: 1x1o + 1x0o")
    d_o3 = irreps_quotient_distance(pseudo, flipped, "O3: 1x1o + 1x0o")
    assert float(d_o3.max()) < 1e-12 and (d_so3 > 1e-3).all()


def test_pairwise_matches_rows_and_the_public_dispatch():
    irreps = o3.Irreps(MIXED)
    z, w = torch.randn(6, irreps.dim, dtype=torch.float64), torch.randn(4, irreps.dim, dtype=torch.float64)
    within = eqlatent.quotient_distance(z, None, irreps, pairwise=True)
    assert within.shape == (6, 6) and torch.equal(within, within.T) and float(within.diagonal().abs().max()) == 0
    between = eqlatent.quotient_distance(z, w, "O3: " + str(irreps), pairwise=True)
    rows = irreps_quotient_distance(z.repeat_interleave(4, 0), w.repeat(6, 1), irreps).view(6, 4)
    assert torch.allclose(between, rows, atol=1e-12)
    d, g = irreps_quotient_distance(z, None, irreps, pairwise=True, return_elements=True)
    i, j = 1, 4
    assert torch.allclose((z[i] - e3nn_D(irreps, g[i, j]) @ z[j]).norm(), d[i, j], atol=1e-10)
    assert torch.allclose((z[j] - e3nn_D(irreps, g[j, i]) @ z[i]).norm(), d[j, i], atol=1e-10)
    single = eqlatent.quotient_distance(z[0], w[0], irreps)
    assert single.ndim == 0 and torch.allclose(single, between[0, 0], atol=1e-12)
    with pytest.raises(ConfigError, match="n_angles"):
        eqlatent.quotient_distance(z, w[:1].expand(6, -1), irreps, n_angles=64)
    with pytest.raises(LatentShapeError, match="irreps.dim"):
        eqlatent.quotient_distance(z[:, :-1], z[:, :-1], irreps)


def test_real_latent_cases_zeros_ties_scalars_only():
    action = irreps_action(f"O3: {MIXED}")
    zero = torch.zeros(3, action.dim, dtype=torch.float64)
    z = torch.relu(torch.randn(3, action.dim, dtype=torch.float64))  # ReLU zeros
    assert torch.allclose(irreps_quotient_distance(zero, z, action), z.norm(dim=1), atol=1e-12)
    assert float(irreps_quotient_distance(zero, zero, action).abs().max()) == 0
    sym = torch.zeros(2, action.dim, dtype=torch.float64)
    sym[:, 2:3] = 1.0  # only a pseudo-scalar: every rotation ties, the inversion decides
    assert torch.allclose(irreps_quotient_distance(sym, -sym, action), torch.zeros(2, dtype=torch.float64))
    scalars = irreps_action("O3: 3x0e")
    s1, s2 = torch.randn(2, 4, 3, dtype=torch.float64)
    assert torch.allclose(irreps_quotient_distance(s1, s2, scalars), (s1 - s2).norm(dim=1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_are_finite_and_match_finite_differences(dtype):
    action = irreps_action(f"O3: {MIXED}")
    a = torch.randn(3, action.dim, dtype=dtype)
    b = torch.stack([torch.randn(action.dim, dtype=dtype), action.act(a[1], rotations(1, True)[0]).to(dtype),
                     torch.zeros(action.dim, dtype=dtype)])  # generic, on a's orbit (d = 0), zero
    a.requires_grad_(True)
    b.requires_grad_(True)
    irreps_quotient_distance(a, b, action).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    assert a.grad.dtype == dtype
    if dtype == torch.float64:  # the envelope gradient is the derivative where the minimiser is unique
        x, y = torch.randn(2, action.dim, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda u, v: irreps_quotient_distance(u, v, action), (x, y), atol=1e-6)


def test_docstring_examples_run():
    import doctest
    import importlib

    for name in ["eqlatent.groups.o3", "eqlatent.groups.so3_max", "eqlatent.groups.o3_quotient"]:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, name
