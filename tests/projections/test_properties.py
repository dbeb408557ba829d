"""Every projection on adversarial latents: invariance and finite gradients, not only on Gaussians (issue 26).

Subjects (:func:`tests.helpers.adversarial.all_subjects`): every class ``concrete_projections()``
finds, each of its ``examples()``; ``eqlatent.invariant_projection(field_type, method)`` for
C8, D4, SO(2) and O(2) field types with mixed fields (and regular-only ones for group
pooling), every projection of ``projection_names("field_type")`` the group allows (``random_invariant`` also with
``reduce="sort"`` over the finite groups); ``eqlatent.project_nodes(x, batch, method)`` for
every projection of ``projection_names("nodes")``, on graphs of 3 to 6 nodes.

Latents (:data:`tests.helpers.adversarial.CASES`): generic Gaussian, ReLU-sparse, exactly tied
(rounded), zero fields, constant fields, cancelling fields (pairs that sum to zero, e.g. two
frequency-1 fields), all fields cancelling, 1e6 and 1e-6 scales; float32 and float64; random
group elements (4 per latent; escnn's representation matrices for the field types).

Tolerance, relative to the latent's scale ``s`` (its largest row norm):
``|pi(g.z) - pi(z)| <= RTOL * s + slack`` with ``RTOL`` = 1e-5 (float32) and 1e-12 (float64);
``slack`` is the stated grid bound of the studies' ``RandomInvariant`` over SO(2) (its max /
sort over ``n_angles`` rotations; its ``invariance_atol`` minus the base), 0 for every other
projection.  Measured worst over these latents: 1e-6 s (float32) and 3e-15 s (float64); ``python
benchmarks/property_matrix.py [--seeds N]`` prints the whole matrix.  Over 12 seeds canonicalize over
SO(2) reached 8e-6 s in float32 on constant fields, where the summed frequency-1 vector ``u`` is
short by chance: its error grows like ``eps s / |u|`` (the ill-conditioning its docstring states).

Gradients: backward of a random linear functional of the output must be finite in every
entry of every case; ``torch.autograd.gradcheck`` (float64, fast mode) on generic latents,
where max / sort / the canonical pick are locally linear and the refined SO(2) maximum is
smooth.
"""

from __future__ import annotations

import math

import pytest
import torch

import eqlatent
from tests.helpers import adversarial as adv
from eqlatent.groups.layouts import irreps_action, regular_action, roll_regular, rotate_irreps
from eqlatent.groups.specs import parse_field_type
from eqlatent.groups.trig import TrigGrid
from eqlatent.projections.canonicalize import Canonicalize, canonical_representative

SUBJECTS = adv.all_subjects()
_IDS = [s.name.replace(" · ", "-").replace(" ", "") for s in SUBJECTS]


def test_the_matrix_covers_every_projection():
    """Every discovered class, every toolkit field method and every node method has rows (nothing skipped)."""
    from eqlatent.projections.base import concrete_projections
    from eqlatent.projections.registry import projection_names

    names = " ".join(s.name for s in SUBJECTS)
    assert all(f"[{cls.__name__}]" in names for cls in concrete_projections())
    assert all(f"{m} · " in names for m in projection_names("field_type"))
    assert all(f"{m} · project_nodes" in names for m in projection_names("nodes"))
    for group in ("C8", "D4", "SO2", "O2"):
        assert f"random_invariant · {group} mixed" in names and f"norm · {group} mixed" in names
    assert "canonicalize · SO2 mixed" in names and "canonicalize · O2" not in names  # O(2): refused


@pytest.mark.parametrize("dtype", adv.DTYPES, ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("case", adv.CASES)
@pytest.mark.parametrize("subject", SUBJECTS, ids=_IDS)
def test_invariant_with_finite_gradients_on_adversarial_latents(subject, case, dtype):
    trial = subject.trial(case, dtype, 0)
    assert trial.z.dtype == dtype
    outcome = adv.run(trial)
    assert outcome.finite, f"{subject.name} on {case} {dtype}: non-finite gradient"
    if trial.invariant:
        assert outcome.error <= outcome.tolerance, (f"{subject.name} on {case} {dtype}: max |pi(g.z) - pi(z)| = "
                                                    f"{outcome.error:.3g} s > {outcome.tolerance:.3g} s")


@pytest.mark.parametrize("subject", SUBJECTS, ids=_IDS)
def test_gradcheck_on_generic_latents(subject):
    trial = subject.trial("generic", torch.float64, 1)
    z = trial.z.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(trial.project, (z,), fast_mode=True)


def test_adversarial_cases_are_what_they_say():
    """The generators can fail: ties, zeros and cancellations are really there."""
    fields = adv.Fields.along((6, 4, 8), axis=1)
    z = torch.randn(6, 4, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    assert (adv.adversarial_latent(z, "relu_sparse", fields, gen) == 0).double().mean() > 0.5
    assert len(adv.adversarial_latent(z, "tied", fields, gen).unique()) < 12
    zero = adv.adversarial_latent(z, "zero_fields", fields, gen)
    assert (zero[0] == 0).all() and (zero.abs().sum(-1) == 0).any(1)[1:].any()
    const = adv.adversarial_latent(z, "constant_fields", fields, gen)
    assert (const == const[..., :1]).all() and not (const == const[:, :1]).all()
    assert (adv.adversarial_latent(z, "cancelling", fields, gen).sum(1) == 0).all()
    assert adv.adversarial_latent(z, "huge", fields, gen).abs().max() > 1e5
    so2 = parse_field_type(adv.FIELD_TYPES["SO2 mixed"])
    flat = torch.randn(6, so2.size, generator=gen, dtype=torch.float64)
    cancel = adv.adversarial_latent(flat, "cancelling", adv.Fields.of_field_type(so2), gen)
    assert (cancel[:, 1:3] + cancel[:, 3:5] == 0).all()  # the two frequency-1 fields sum to zero
    with pytest.raises(ValueError, match="unknown adversarial case"):
        adv.adversarial_latent(z, "gaussian", fields, gen)


# -- item 1: finite gradients of the refined SO(2) maximum ----------------------------------------------

@pytest.mark.parametrize("k", [8, 32])
def test_default_so2_projection_has_finite_float32_gradients(k):
    """The user's case: before the fix 12 / 54 of 256 rows had inf/NaN gradients at K = 8 / 32 (float32)."""
    from escnn import gspaces, nn

    gs = gspaces.rot2dOnR2(-1, maximum_frequency=3)
    irreps = [gs.fibergroup.irrep(*i) for i in gs.fibergroup.bl_irreps(3)]
    ft = nn.FieldType(gs, irreps + irreps[1:3] + [gs.trivial_repr])
    proj = eqlatent.invariant_projection(ft, "random_invariant", n_functionals=k)
    z = torch.randn(256, ft.size, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    out = proj(z)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    assert torch.isfinite(z.grad).all(), f"{int((~torch.isfinite(z.grad)).any(1).sum())} rows non-finite"


def test_refined_maximum_is_the_true_maximum_also_with_rival_peaks():
    """Newton from the L highest grid peaks of every row: equal to a dense search, never below the grid,
    also when two or three peaks are almost equally high (the grid alone may pick the wrong one)."""
    band, grid = 3, TrigGrid(3, 64)
    gen = torch.Generator().manual_seed(0)
    nodes = torch.randn(400, grid.n_nodes, generator=gen, dtype=torch.float64)
    # rival peaks: cos(3 theta) has three maxima of height 1, a tiny frequency-1 term tilts them apart
    phase = torch.rand(200, 1, generator=gen, dtype=torch.float64) * 2 * math.pi
    tilt = 1e-3 * torch.randn(200, 1, generator=gen, dtype=torch.float64)
    rivals = torch.cos(3 * (grid.nodes - phase)) + tilt * torch.cos(grid.nodes - 2 * phase)
    nodes = torch.cat([nodes, rivals])
    dense = TrigGrid(band, 100_000).grid_values(nodes).amax(-1)  # grid error <= 4.4e-9 * max|p|
    refined = grid.maximum(nodes)
    assert (refined - dense).abs().max() < 1e-8
    assert (refined >= grid.maximum(nodes, refine=False)).all()


def test_refined_maximum_keeps_fixed_shapes():
    """No data-dependent shapes: it runs on the meta device, where no value can be read."""
    out = TrigGrid(3, 64).maximum(torch.empty(5, 4, 7, device="meta"))
    assert out.shape == (5, 4) and out.device.type == "meta"


# -- item 2: canonicalize under ties --------------------------------------------------------------------

def _orbit_distance(action, out, z):
    """``min_g max |out - rho(g) z|`` per row (0 when ``out`` is in the orbit of ``z``), finite groups."""
    return (action.orbit(z) - out[:, None]).abs().amax(-1).amin(-1)


def test_canonicalize_ties_of_the_regular_argmax_are_broken_invariantly():
    """Before: O(1) errors for a tied argmax and for regular fields that cancel; now exact under all 8 shifts."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(16, 3, 8, generator=gen, dtype=torch.float64)
    z[:, :, 2] += 5.0
    z[:, :, 6] = z[:, :, 2]  # the summed activation peaks at channels 2 and 6 alike
    cancel = z.clone()
    cancel[:, 1] = -cancel[:, 0]
    cancel[:, 2] = 0.0  # every channel's sum is zero: a full tie
    canon = Canonicalize(layout="regular")
    for latent in (z, cancel, torch.round(z), torch.relu(z - 1.0)):
        base = canon(latent)
        for k in range(8):
            assert torch.equal(canon(roll_regular(latent, k)), base)
        action = regular_action(3, 8)
        assert (_orbit_distance(action, base, latent.flatten(1)) == 0).all()  # a member of the orbit


def test_canonicalize_is_lossless_on_tied_latents():
    """Two tied latents in different orbits (one the mirror image of the other) keep different representatives."""
    z = torch.tensor([[[3.0, 1.0, 3.0, 0.0, 2.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)  # argmax tied at 0 and 2
    mirror = z.flip(-1)
    assert (Canonicalize(layout="regular")(z) - Canonicalize(layout="regular")(mirror)).abs().max() > 0.5


@pytest.mark.parametrize("what", ["zero frequency 1", "cancelling frequency 1", "cancelling 1 and 2", "only 2 and 3"])
def test_canonicalize_so2_without_a_summed_frequency_1_vector(what):
    """The fallback features (higher frequencies with k candidates, then single fields) keep it invariant."""
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(12, 4, 7, generator=gen, dtype=torch.float64)
    if what == "zero frequency 1" or what == "only 2 and 3":
        z[..., 1:3] = 0.0
    if what.startswith("cancelling"):
        z[:, 1, 1:3], z[:, 2:, 1:3] = -z[:, 0, 1:3], 0.0
    if what == "cancelling 1 and 2":
        z[:, 1, 3:5], z[:, 2:, 3:5] = -z[:, 0, 3:5], 0.0
    canon = Canonicalize(layout="irreps")
    base = canon(z)
    for theta in torch.rand(8, generator=gen, dtype=torch.float64) * 2 * math.pi:
        assert (canon(rotate_irreps(z, theta)) - base).abs().max() < 1e-12
    # a rotation of z itself: every field keeps its norm
    assert torch.allclose(base.view(12, 4, 7)[..., 1:3].norm(dim=-1), z[..., 1:3].norm(dim=-1))


def test_canonicalize_so2_field_type_needs_no_frequency_1_irrep():
    ft = parse_field_type("SO2: irrep0 + 2*irrep2 + irrep3")
    proj = eqlatent.invariant_projection(ft, "canonicalize")
    trial = adv.Subject("so2-2-3", adv._field_trial(ft, proj)).trial("generic", torch.float64, 0)
    assert adv.run(trial).ok


def test_canonicalize_keeps_the_old_representative_on_generic_latents():
    """Without ties the pick is unchanged (the studies' numbers do not move): the summed regular
    activation peaks at channel 0, and over SO(2) the summed frequency-1 vector points along +x."""
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(32, 3, 8, generator=gen, dtype=torch.float64)
    feature = Canonicalize(layout="regular")(z).view(32, 3, 8).sum(1)
    assert (feature.argmax(-1) == 0).all()
    s = torch.randn(32, 3, 7, generator=gen, dtype=torch.float64)
    v = Canonicalize(layout="irreps")(s).view(32, 3, 7)[..., 1:3].sum(1)
    assert (v[:, 1].abs() < 1e-12).all() and (v[:, 0] > 0).all()


def test_canonicalize_of_a_zero_or_trivial_latent_is_the_latent():
    z = torch.zeros(3, 2 * 7, dtype=torch.float64, requires_grad=True)
    out = canonical_representative(irreps_action(2, 7), z)
    out.sum().backward()
    assert torch.equal(out, z) and torch.isfinite(z.grad).all()
