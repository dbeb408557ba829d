"""Projections of e3nn latents (SO(3) / O(3) on ``Irreps``): the ``e3nn`` layout and its five projections.

Synthetic latents only (Gaussian, and real-looking ones built from them: ReLU zeros, two equal copies,
a zero l = 1 part, cancelling copies), float32 and float64.  The group acts with e3nn's own matrices
(``D_from_angles``: the layout's sampler, independent of the Wigner matrices the projections compute with).

Invariance tolerances, relative to the latent's scale ``s`` (its largest row norm): 1e-12 (float64) and
1e-5 (float32) for ``norm``, ``scalars``, ``canonicalize`` (on the rows its frame is defined) and
``random_invariant`` (the max over SO(3) refined by Newton steps).  Measured on the property matrix's latents
(``tests/helpers/adversarial.py``: ReLU-sparse, rounded, zero, constant, cancelling copies, 1e6 / 1e-6 scales;
three seeds): at most 1e-14 s in float64 and 6e-7 s in float32 for all four (``scalars`` exactly 0);
``gram`` is quadratic, so its tolerance is ``64 eps s^2`` (measured at most 12 eps s^2).  Every gradient is
finite, at ties and zero copies included.
"""

from __future__ import annotations

import math

import pytest
import torch

import eqlatent
from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.o3 import irreps_action
from eqlatent.groups.o3_quotient import irreps_quotient_distance
from eqlatent.projections.canonicalize import Canonicalize
from eqlatent.projections.layouts import E3nnLayout, as_layout
from eqlatent.projections.registry import build_projection, projection_names

o3 = pytest.importorskip("e3nn.o3")

MIXED = "O3: 2x0e + 0o + 2x1o + 1x1e + 2x2e + 1x1o + 1x2o"
NAMES = ("random_invariant", "norm", "canonicalize", "scalars", "gram")
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def _latent(spec: str, rows: int = 6, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    dim = irreps_action(spec).dim
    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


def _elements(spec: str, n: int = 4, seed: int = 0):
    sampler = as_layout(spec).group_sampler(torch.zeros(1))
    gen = torch.Generator().manual_seed(seed)
    return [sampler(gen).on_input for _ in range(n)]


def _vectors(spec: str, z: torch.Tensor) -> list[slice]:
    return [slice(b.start, b.stop) for b in irreps_action(spec).blocks if b.l == 1]


def _real_looking(spec: str, case: str, z: torch.Tensor) -> torch.Tensor:
    """ReLU zeros, two equal copies (ties), a zero l = 1 part, or cancelling copies (u and -u) of one type."""
    z = z.clone()
    action = irreps_action(spec)
    if case == "relu":
        return torch.relu(z - 0.5)
    if case == "tied copies":  # every block's copies equal to its first
        for b in action.blocks:
            d = 2 * b.l + 1
            first = z[:, b.start:b.start + d]
            z[:, b.start:b.stop] = first.repeat(1, b.mul)
        return z
    if case == "zero l=1":
        for sl in _vectors(spec, z):
            z[:, sl] = 0
        return z
    if case == "cancelling":  # the second copy of every multi-copy block is minus the first
        for b in action.blocks:
            d = 2 * b.l + 1
            if b.mul >= 2:
                z[:, b.start + d:b.start + 2 * d] = -z[:, b.start:b.start + d]
        return z
    return z


# -- the layout --------------------------------------------------------------------------------------------------

def test_layout_from_irreps_action_or_spec():
    irreps = o3.Irreps("2x0e + 1x1o + 1x2e")
    for obj in (irreps, irreps_action(irreps), "O3: 2x0e + 1x1o + 1x2e"):
        layout = as_layout(obj)
        assert isinstance(layout, E3nnLayout) and layout.name == "e3nn" and layout.dim == 10
        assert layout.action().group == "O3"
    assert as_layout("SO3: 1x1o").action().group == "SO3"
    assert as_layout("irreps").name == "irreps"  # the studies' SO(2) layout keeps its name


def test_wrong_width_or_rank_is_one_line_naming_irreps_dim():
    proj = build_projection("norm", "O3: 2x0e + 1x1o")
    for bad in (torch.zeros(3, 6), torch.zeros(3, 5, 1), torch.zeros(5)):
        with pytest.raises(LatentShapeError, match=r"\[batch, irreps.dim\] = \[batch, 5\] for irreps 2x0e\+1x1o") as err:
            proj(bad)
        assert "\n" not in str(err.value) and "fix:" in str(err.value)
    with pytest.raises(ConfigError, match="unknown latent layout"):
        as_layout("8x0e + 4x1o")  # no group: not taken for an escnn name either


def test_sampler_acts_as_o3_with_e3nn_matrices():
    z = _latent("O3: 1x0e + 1x0o + 1x1o + 1x1e")
    acts = _elements("O3: 1x0e + 1x0o + 1x1o + 1x1e", n=16)
    moved = [act(z) for act in acts]
    assert all(torch.allclose(m.norm(dim=1), z.norm(dim=1), atol=1e-12) for m in moved)  # orthogonal
    assert all(torch.equal(m[:, 0], z[:, 0]) for m in moved)  # 0e fixed
    signs = {bool(torch.allclose(m[:, 1], -z[:, 1])) for m in moved}
    assert signs == {True, False}  # the inversion drawn (0o flips) and not drawn
    assert all(torch.equal(m[:, 1], z[:, 1]) for m in (act(z) for act in _elements("SO3: 1x0e + 1x0o + 1x1o + 1x1e", 16)))


def test_registry_lists_the_e3nn_projections():
    assert set(projection_names("e3nn")) == set(NAMES)
    assert "scalars" not in projection_names("field_type") and "gram" not in projection_names("field_type")
    for name in NAMES:
        proj = eqlatent.invariant_projection(o3.Irreps("4x0e + 2x1o + 1x2e"), name, n_functionals=4)
        assert isinstance(proj, eqlatent.FieldProjection) and proj.latent_layout == "e3nn"
        assert proj(_latent("O3: 4x0e + 2x1o + 1x2e")).shape == (6, proj.out_features)
    with pytest.raises(ConfigError, match="unknown invariant projection 'group_pool_max' for 'e3nn' latents"):
        eqlatent.invariant_projection("O3: 4x1o", "group_pool_max")
    with pytest.raises(ConfigError, match="n_angles is the SO"):
        eqlatent.invariant_projection("O3: 4x1o", "norm", n_angles=64)
    with pytest.raises(ConfigError, match="reduce='max' only"):
        eqlatent.invariant_projection("O3: 4x1o", "random_invariant", reduce="sort")


# -- invariance and gradients on real-looking latents, every projection ---------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", ["gaussian", "relu", "tied copies", "zero l=1", "cancelling"])
@pytest.mark.parametrize("name", NAMES)
def test_invariant_with_finite_gradients_on_real_looking_latents(name, case, dtype):
    spec = MIXED if name != "canonicalize" or case != "zero l=1" else "O3: 2x0e + 0o + 3x1o + 1x1e"
    proj = eqlatent.invariant_projection(spec, name, n_functionals=6)
    z = _real_looking(spec, case, _latent(spec, dtype=torch.float64)).to(dtype)
    s = float(z.double().norm(dim=1).max())
    keep = ~proj.ill_defined(z) if name == "canonicalize" else torch.ones(len(z), dtype=torch.bool)
    base = proj(z)
    worst = 0.0
    for act in _elements(spec):
        moved = act(z)
        rows = keep & (~proj.ill_defined(moved) if name == "canonicalize" else keep)
        worst = max(worst, float((proj(moved) - base)[rows].abs().max()) if rows.any() else 0.0)
    tol = RTOL[dtype] * s + (64 * torch.finfo(dtype).eps * s * s if name == "gram" else 0.0)
    assert worst <= tol, f"{name} on {case}: {worst:.3g} > {tol:.3g}"
    x = z.detach().clone().requires_grad_(True)
    out = proj(x)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)).sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_on_generic_latents(name):
    proj = eqlatent.invariant_projection("SO3: 1x0e + 2x1o + 1x2e", name, n_functionals=3)
    z = _latent("SO3: 1x0e + 2x1o + 1x2e", rows=3).requires_grad_(True)
    assert torch.autograd.gradcheck(proj, (z,), fast_mode=True)


# -- norm: e3nn's o3.Norm ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_norm_equals_e3nn_norm_with_zero_gradient_at_a_zero_copy(dtype):
    irreps = o3.Irreps("2x0e + 0o + 2x1o + 1x1e + 2x2e + 1x1o + 1x2o")
    z = _latent(MIXED, dtype=dtype)
    z[0] = 0
    z[1, 3:6] = 0  # one zero vector
    ours = eqlatent.invariant_projection(irreps, "norm")
    with torch.no_grad():
        theirs = o3.Norm(irreps).to(dtype)(z)
    assert ours.out_features == theirs.shape[1] == irreps.num_irreps
    assert torch.allclose(ours(z), theirs, atol=10 * torch.finfo(dtype).eps, rtol=0)
    x = z.clone().requires_grad_(True)
    ours(x).sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad[0] == 0).all() and (x.grad[1, 3:6] == 0).all()


# -- scalars: the l = 0 slice -----------------------------------------------------------------------------------

def test_scalars_keep_0e_and_leave_0o_out_under_o3_only():
    z = _latent("O3: 2x0e + 0o + 1x1o + 1x0e")
    o3_slice = eqlatent.invariant_projection("O3: 2x0e + 0o + 1x1o + 1x0e", "scalars")
    assert torch.equal(o3_slice(z), z[:, [0, 1, 6]])  # 0e channels, 0o (channel 2) out
    so3_slice = eqlatent.invariant_projection("SO3: 2x0e + 0o + 1x1o + 1x0e", "scalars")
    assert torch.equal(so3_slice(z), z[:, [0, 1, 2, 6]])  # rotations do not see parity
    # the 0o copy is not O(3)-invariant (the reason it is left out): the inversion flips it
    flipped = irreps_action("O3: 2x0e + 0o + 1x1o + 1x0e").act(z, -torch.eye(3, dtype=torch.float64))
    assert torch.equal(flipped[:, 2], -z[:, 2])
    with pytest.raises(ConfigError, match="no invariant scalars .*0o copies change sign"):
        eqlatent.invariant_projection("O3: 0o + 2x1o", "scalars")


# -- gram: inner products within each irrep type ------------------------------------------------------------------

def test_gram_is_every_inner_product_within_a_type():
    spec = "O3: 1x0e + 2x1o + 1x1e + 1x1o"  # 1o split over two entries: one type of 3 copies
    z = _latent(spec)
    out = eqlatent.invariant_projection(spec, "gram")(z)
    u = [z[:, 1:4], z[:, 4:7], z[:, 10:13]]
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    expected = torch.stack([z[:, 0]] + [(u[i] * u[j]).sum(1) for i, j in pairs] + [(z[:, 7:10] ** 2).sum(1)], dim=1)
    assert torch.allclose(out, expected, atol=1e-14)


def test_gram_is_complete_for_vectors_under_o3_but_not_under_so3():
    """Mirror images: the same Gram matrix; one O(3) orbit (distance 0) but two SO(3) orbits."""
    z = _latent("O3: 1x0e + 3x1o", rows=8)
    mirror = irreps_action("O3: 1x0e + 3x1o").act(z, -torch.eye(3, dtype=torch.float64))
    for group in ("O3", "SO3"):
        gram = eqlatent.invariant_projection(f"{group}: 1x0e + 3x1o", "gram")
        assert torch.allclose(gram(z), gram(mirror), atol=1e-13)
    assert float(irreps_quotient_distance(z, mirror, "O3: 1x0e + 3x1o").max()) < 1e-12
    assert float(irreps_quotient_distance(z, mirror, "SO3: 1x0e + 3x1o").min()) > 1e-3  # chirality: lost by gram


# -- canonicalize: a frame of the l = 1 vectors -------------------------------------------------------------------

@pytest.mark.parametrize("spec", [MIXED, "SO3: 0e + 2x1o + 1x1e + 1x2e"])
def test_canonical_frame_is_a_member_of_the_orbit_with_its_first_vector_along_x(spec):
    z = _latent(spec, rows=8)
    canon = eqlatent.invariant_projection(spec, "canonicalize")
    out = canon(z)
    assert float(irreps_quotient_distance(out, z, spec).max()) < 1e-9  # lossless: a point of z's own orbit
    v = [out[:, sl].unflatten(1, (-1, 3)) for sl in _vectors(spec, out)]
    v = torch.cat(v, dim=1)
    longest = v.norm(dim=-1).argmax(dim=1)
    e1 = v[torch.arange(8), longest]
    assert torch.allclose(e1[:, 1:], torch.zeros(8, 2, dtype=torch.float64), atol=1e-12)
    assert not canon.ill_defined(z).any()


def test_canonicalize_decides_the_inversion_under_o3_only():
    z = _latent("O3: 1x0e + 1x0o + 3x1o + 1x2e", rows=8)
    mirror = irreps_action("O3: 1x0e + 1x0o + 3x1o + 1x2e").act(z, -torch.eye(3, dtype=torch.float64))
    o3_canon = eqlatent.invariant_projection("O3: 1x0e + 1x0o + 3x1o + 1x2e", "canonicalize")
    so3_canon = eqlatent.invariant_projection("SO3: 1x0e + 1x0o + 3x1o + 1x2e", "canonicalize")
    assert (o3_canon(z) - o3_canon(mirror)).abs().max() < 1e-12
    assert (so3_canon(z) - so3_canon(mirror)).abs().amax(1).min() > 1e-3  # a mirror image is another SO(3) orbit


def test_canonicalize_reports_rows_without_a_frame_and_stays_finite_there():
    spec = "O3: 1x0e + 3x1o + 1x2e"
    z = _latent(spec, rows=7)
    z[0, 1:10] = 0  # no vector
    z[1, 4:10] = 0  # one vector
    z[2, 4:7], z[2, 7:10] = 2 * z[2, 1:4], -z[2, 1:4]  # all parallel
    z[3, 4:7] = z[3, 1:4] + 1e-10 * z[3, 7:10]  # near-parallel pair, third vector zero:
    z[3, 7:10] = 0
    z[4, 4:7] = z[4, 1:4]  # two equal copies (a tie of the longest): still a frame
    z[5, 4:7] = -z[5, 1:4]  # a copy and its negative, and an independent third: still a frame
    canon = Canonicalize(layout=spec)
    assert canon.ill_defined(z).tolist() == [True, True, True, True, False, False, False]
    x = z.clone().requires_grad_(True)
    out = canon(x)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    for act in _elements(spec, n=6):  # the defined rows are invariant, ties included
        assert (canon(act(z)) - canon(z))[4:].abs().max() < 1e-12
        assert canon.ill_defined(act(z)).tolist() == canon.ill_defined(z).tolist()


def test_canonicalize_without_l2_is_invariant_also_where_the_frame_is_ill_defined():
    spec = "O3: 2x0e + 0o + 3x1o"
    z = _latent(spec, rows=4)
    z[0, 3:] = 0
    z[1, 6:] = 0
    z[2, 6:9], z[2, 9:12] = 3 * z[2, 3:6], -z[2, 3:6]
    canon = Canonicalize(layout=spec)
    assert canon.ill_defined(z)[:3].all()
    for act in _elements(spec, n=8):
        assert (canon(act(z)) - canon(z)).abs().max() < 1e-12


def test_canonicalize_needs_vectors_when_l2_is_present():
    with pytest.raises(ConfigError, match="frame off the l = 1 vectors.*have none"):
        eqlatent.invariant_projection("O3: 4x0e + 2x2e", "canonicalize")


# -- random_invariant: max filtering over SO(3) -------------------------------------------------------------------

def _sampled_max(w: torch.Tensor, z: torch.Tensor, spec: str, n: int = 3000) -> torch.Tensor:
    """``max <w_k, D(g) z_b>`` over ``n`` random elements (e3nn's matrices): a lower bound of the true maximum."""
    action = irreps_action(spec)
    gen = torch.Generator().manual_seed(5)
    u = torch.rand(n, 3, generator=gen, dtype=torch.float64)
    k = (torch.rand(n, generator=gen) < 0.5).double() if action.group == "O3" else torch.zeros(n, dtype=torch.float64)
    D = action.irreps.D_from_angles(2 * math.pi * u[:, 0], torch.arccos(2 * u[:, 1] - 1), 2 * math.pi * u[:, 2], k)
    moved = torch.einsum("gij,bj->bgi", D.double(), z)  # [B, n, dim]
    return torch.einsum("ki,bgi->bkg", w, moved).amax(-1)


@pytest.mark.parametrize("spec", ["O3: 2x0e + 1x1o + 1x1e + 1x2e + 1x2o", "SO3: 1x0e + 2x1o", "O3: 0e + 0o + 2x1o"])
def test_random_invariant_is_the_max_over_the_group(spec):
    proj = eqlatent.invariant_projection(spec, "random_invariant", n_functionals=5, seed=3)
    z = _latent(spec, rows=4)
    w = proj.orbit_functionals.weights
    scale = math.sqrt(proj.action.dim / 5)
    out = proj(z) / scale
    sampled = _sampled_max(w, z, spec)
    assert (out >= sampled - 1e-12).all()  # never below a value the orbit attains
    assert ((out - sampled) / z.norm(dim=1, keepdim=True)).max() < 0.05  # and the samples approach it
    # the same maximum as the quotient distance's: max <w, g z> = (|w|^2 + |z|^2 - d(w, z)^2) / 2
    d = irreps_quotient_distance(w[None].expand(4, -1, -1).reshape(-1, w.shape[1]),
                                 z[:, None].expand(-1, 5, -1).reshape(-1, w.shape[1]), spec).view(4, 5)
    via_distance = (1 + z.norm(dim=1, keepdim=True) ** 2 - d ** 2) / 2
    assert torch.allclose(out, via_distance, atol=1e-10)


def test_random_invariant_buffers_width_and_grid_bound():
    proj = eqlatent.invariant_projection("O3: 4x0e + 2x1o + 1x2e", "random_invariant", n_functionals=7)
    assert proj.out_features == 7 and proj.refine
    assert list(proj.state_dict()) == ["orbit_functionals.weights"]
    weights = proj.orbit_functionals.weights
    assert weights.shape == (7, 15) and torch.allclose(weights.norm(dim=1), torch.ones(7, dtype=torch.float64))
    again = eqlatent.invariant_projection("O3: 4x0e + 2x1o + 1x2e", "random_invariant", n_functionals=7)
    assert torch.equal(again.orbit_functionals.weights, weights)  # seeded
    assert eqlatent.invariant_projection("O3: 4x0e + 2x1o + 1x2e", "random_invariant").out_features == 15  # K = D
    # without refinement: the grid maximum, invariant within its stated bound (which is not 0)
    coarse = eqlatent.invariant_projection("O3: 4x0e + 2x1o + 1x2e", "random_invariant", n_functionals=7,
                                           refine=False)
    z = _latent("O3: 4x0e + 2x1o + 1x2e")
    bound = coarse.invariance_atol(z)
    assert bound > 1e-3
    assert coarse.check_invariance(z) <= bound
    assert (coarse(z) <= proj(z) + 1e-12).all()  # the grid's value is never above the refined one
