"""Group projections of image latents: invariance, losslessness claims, seeding, bad input.

Latents are synthetic random tensors.  Tolerances:
* C_N (regular fields): every one of the N group elements is checked; projections only
  reorder / reduce the same numbers, so 1e-5 (float32 sums may reorder).
* SO(2) (irreps fields), exact projections (norm, canonicalize): random angles, 1e-5.
* random_invariant over SO(2) takes its max over ``n_angles`` sampled rotations.  It is
  exact for rotations in that grid; for other angles each functional is a trigonometric
  polynomial of degree L with |f''| <= L^2 ||z|| (||w|| = 1), so sampling at spacing h
  misses the maximum by at most L^2 h^2 ||z|| / 8: that bound (x2, both sides) is the test's
  tolerance (times the projection's sqrt(D/K) output scale).
* Through an encoder on the pixel grid: quarter turns are exact (1e-4 through the conv
  layers); random angles need bilinear interpolation, see ``test_pixel_grid_rotation``.
"""

from __future__ import annotations

import math

import pytest
import torch

from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.layouts import all_irreps_rotations, all_rolls, roll_regular, rotate_irreps
from eqlatent.models.cyclic_steerable_cnn import CyclicSteerableCNN
from eqlatent.models.plain_cnn import PlainCNN
from eqlatent.projections.canonicalize import Canonicalize
from eqlatent.projections.norm import Norm
from eqlatent.projections.identity_field import IdentityField
from eqlatent.projections.group_pool_max import GroupPoolMax
from eqlatent.projections.group_pool_mean import GroupPoolMean
from eqlatent.projections.orbit_average import OrbitAverage
from eqlatent.projections.orbit_max import OrbitMax
from eqlatent.projections.random_invariant import RandomInvariant
from eqlatent.studies.images.latents import encode_orbit
from eqlatent.groups.equivariance import assert_invariant, invariance_error
from eqlatent.groups.samplers import rot90_sampler

REGULAR = [GroupPoolMax(), GroupPoolMean(), Norm(layout="regular"), Canonicalize(layout="regular"),
           RandomInvariant(16, layout="regular"), RandomInvariant(4, reduce="sort", layout="regular")]
IRREPS_EXACT = [Norm(layout="irreps"), Canonicalize(layout="irreps")]


def _regular(b=16, c=5, n=8, seed=0):
    return torch.randn(b, c, n, generator=torch.Generator().manual_seed(seed))


def _irreps(b=16, c=5, L=3, seed=0):
    return torch.randn(b, c, 1 + 2 * L, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("proj", REGULAR, ids=lambda p: f"{p.name}-{p.latent_layout}")
@pytest.mark.parametrize("order", [4, 8, 16])
def test_regular_projections_invariant_under_every_cn_element(proj, order):
    z = _regular(n=order)
    base = proj(z)
    for k in range(order):
        assert (proj(roll_regular(z, k)) - base).abs().max() <= 1e-5, f"shift {k}"
    # one element per sample (batched action)
    ks = torch.randint(order, (z.shape[0],), generator=torch.Generator().manual_seed(1))
    assert (proj(roll_regular(z, ks)) - base).abs().max() <= 1e-5


@pytest.mark.parametrize("proj", IRREPS_EXACT, ids=lambda p: p.name)
def test_irreps_projections_invariant_under_random_so2_angles(proj):
    z = _irreps()
    angles = torch.rand(20, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2 * math.pi
    base = proj(z)
    for theta in angles:
        assert (proj(rotate_irreps(z, theta)) - base).abs().max() <= 1e-5
    assert (proj(rotate_irreps(z, angles[: z.shape[0]].repeat(2)[: z.shape[0]])) - base).abs().max() <= 1e-5


def test_random_invariant_so2_exact_on_its_grid_and_bounded_off_it():
    L, n_angles = 3, 64
    proj = RandomInvariant(12, layout="irreps", n_angles=n_angles)
    z = _irreps(L=L)
    base = proj(z)
    for m in range(n_angles):
        assert (proj(rotate_irreps(z, 2 * math.pi * m / n_angles)) - base).abs().max() <= 1e-9
    h = 2 * math.pi / n_angles
    scale = (z[0].numel() / 12) ** 0.5  # the projection's sqrt(D / K) output scale
    bound = scale * 2 * L**2 * h**2 / 8 * z.flatten(1).norm(dim=1, keepdim=True)  # per sample
    for theta in torch.rand(10, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2 * math.pi:
        assert ((proj(rotate_irreps(z, theta)) - base).abs() <= bound + 1e-12).all()


def test_flatten_is_the_non_invariant_baseline():
    z = _regular()
    assert IdentityField(layout="regular")(z).shape == (16, 40)
    assert (IdentityField(layout="regular")(roll_regular(z, 1)) - IdentityField(layout="regular")(z)).abs().max() > 0.1


def test_canonicalize_is_injective_on_orbits_and_group_pool_is_not():
    z1 = _regular(b=1, c=1, n=4)
    z2 = roll_regular(torch.flip(z1, dims=[-1]), 1)  # a reflection: a different C_4 orbit (generic z)
    canon = Canonicalize(layout="regular")
    assert (canon(z1) - canon(z2)).abs().max() > 1e-3
    assert torch.allclose(GroupPoolMax()(z1), GroupPoolMax()(z2))  # same multiset: pooling collides
    assert canon.lossless and not GroupPoolMax().lossless


def test_random_invariant_is_seeded_and_k_sets_the_width():
    z = _regular()
    a, b = RandomInvariant(8, seed=3, layout="regular"), RandomInvariant(8, seed=3, layout="regular")
    assert torch.equal(a(z), b(z))
    assert not torch.allclose(a(z), RandomInvariant(8, seed=4, layout="regular")(z))
    assert a.with_k(20)(z).shape == (16, 20)
    assert RandomInvariant(3, reduce="sort", layout="regular")(z).shape == (16, 3 * 8)


def test_orbit_average_invariant_to_cyclic_shift_of_copies():
    z = torch.randn(6, 8, 10)
    for proj in (OrbitAverage(), OrbitMax()):
        for k in range(8):
            assert (proj(torch.roll(z, k, dims=1)) - proj(z)).abs().max() <= 1e-5


def test_pipeline_invariant_under_quarter_turns_of_the_input():
    """escnn C_8 encoder + projection, and plain CNN + orbit averaging over C_4: exact on rot90."""
    x = torch.rand(4, 1, 29, 29, generator=torch.Generator().manual_seed(5))
    cnn8 = CyclicSteerableCNN(order=8, fields=(2, 3, 4)).eval()
    with torch.no_grad():
        for proj in REGULAR:
            assert_invariant(lambda im: proj(cnn8.encode(im)), x, rot90_sampler(), atol=1e-4, n_samples=4)
        plain = PlainCNN(channels=(4, 8, 8)).eval()
        orbit = OrbitAverage()
        assert_invariant(lambda im: orbit(encode_orbit(plain, im, copies=4)), x, rot90_sampler(), atol=1e-4, n_samples=4)
        assert invariance_error(plain.encode, x, rot90_sampler(), n_samples=4) > 1e-3  # the raw CNN latent is not


def test_pixel_grid_rotation_of_smooth_images():
    """Random angles through the pixel grid: invariance up to interpolation error.

    Bilinear rotation of a 29x29 image is not a group action on pixels, so an equivariant
    encoder is only approximately equivariant to it.  For smooth (Gaussian-blob) images
    the relative change of an invariant projection stays below 5% of its norm, while the
    raw latent moves by an order of magnitude more; the study reports the same number
    (``inv_err``) on real digits.
    """
    from eqlatent.data.rotation import rotate_images

    yy, xx = torch.meshgrid(torch.arange(29.0), torch.arange(29.0), indexing="ij")
    gen = torch.Generator().manual_seed(6)
    centres = 8 + 13 * torch.rand(6, 3, 2, generator=gen)
    x = sum(torch.exp(-((yy - centres[:, j, 0, None, None]) ** 2 + (xx - centres[:, j, 1, None, None]) ** 2) / 8.0)
            for j in range(3)).unsqueeze(1)
    model = CyclicSteerableCNN(order=8, fields=(2, 3, 4)).eval()
    angles = torch.rand(6, generator=gen) * 2 * math.pi
    with torch.no_grad():
        z, zr = model.encode(x), model.encode(rotate_images(x, angles))
    for proj in (GroupPoolMean(), Norm(layout="regular"), RandomInvariant(16, layout="regular")):
        p, pr = proj(z), proj(zr)
        assert ((pr - p).norm(dim=1) / p.norm(dim=1)).max() < 0.05, proj.name


def test_bad_input_gives_one_line_errors():
    with pytest.raises(LatentShapeError, match="needs a latent with 3 dims") as err:
        GroupPoolMax()(torch.randn(4, 8))
    assert "\n" not in str(err.value)
    with pytest.raises(LatentShapeError, match="1 \\+ 2L"):
        Norm(layout="irreps")(torch.randn(4, 3, 6))
    with pytest.raises(ConfigError, match="cannot handle 'irreps'"):
        GroupPoolMax(layout="irreps")
    with pytest.raises(ConfigError, match="unknown latent layout"):
        IdentityField(layout="sphere")
    with pytest.raises(ConfigError, match="reduce"):
        RandomInvariant(4, reduce="median")


@pytest.mark.parametrize("layout,reduce", [("regular", "max"), ("regular", "sort"), ("irreps", "max"), ("irreps", "sort")])
def test_random_invariant_equals_its_definition_over_the_orbit(layout, reduce):
    """The fast path (group acting on the functionals, trig interpolation over SO(2)) equals
    max / sort over g of <w_k, g . z> computed on the explicit orbit of the latent (float64: 1e-10)."""
    z = (_regular(c=4, n=8).double() if layout == "regular" else _irreps(c=4, L=3))
    proj = RandomInvariant(10, seed=7, reduce=reduce, layout=layout, n_angles=48)
    w = proj.weights(tuple(z.shape[1:]))
    orbit = all_rolls(z) if layout == "regular" else all_irreps_rotations(z, 48)   # [B, G, C, D]
    scores = torch.einsum("bgcd,kcd->bkg", orbit, w)
    expected = scores.amax(-1) if reduce == "max" else scores.sort(-1).values.flatten(1)
    assert torch.allclose(proj(z), expected * (w[0].numel() / 10) ** 0.5, atol=1e-10)
