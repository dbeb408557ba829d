"""eqlatent.invariant_projection: invariance of every method on mixed field types, checked with escnn.

Synthetic random latents.  Finite groups (C_4, C_8, D_4): every element, through escnn's own
``GeometricTensor.transform``; SO(2) / O(2): 8 random elements.  Measured worst errors are
printed (``pytest -s``) and asserted: 1e-10 in float64 for finite groups and for the exact
methods; for ``random_invariant`` over SO(2)/O(2) the Newton-refined maximum is asserted at 1e-7
(the unrefined grid maximum's bound is checked separately).
"""

from __future__ import annotations

import math

import pytest
import torch

import eqlatent
from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.field_types import import_escnn

escnn = import_escnn()
from escnn import gspaces, nn  # noqa: E402

GSPACES = {"C4": lambda: gspaces.rot2dOnR2(4), "C8": lambda: gspaces.rot2dOnR2(8), "D4": lambda: gspaces.flipRot2dOnR2(4),
           "SO2": lambda: gspaces.rot2dOnR2(-1, maximum_frequency=3),
           "O2": lambda: gspaces.flipRot2dOnR2(-1, maximum_frequency=3)}
METHODS = {"C4": ["random_invariant", "norm", "canonicalize"], "C8": ["random_invariant", "norm", "canonicalize"],
           "D4": ["random_invariant", "norm", "canonicalize"], "SO2": ["random_invariant", "norm", "canonicalize"],
           "O2": ["random_invariant", "norm"]}
MEASURED: dict[tuple[str, str], float] = {}


def mixed_field_type(name: str):
    """Regular + non-trivial irreps + trivial fields (finite); irreps 0..3 + repeats + trivial (SO(2)/O(2))."""
    gs = GSPACES[name]()
    group = gs.fibergroup
    if group.continuous:
        irreps = [group.irrep(*i) for i in group.bl_irreps(3)]
        return nn.FieldType(gs, irreps + irreps[1:3] + [gs.trivial_repr])
    nontrivial = [group.irrep(*i.id) for i in group.irreps() if not i.is_trivial()]
    return nn.FieldType(gs, 2 * [gs.regular_repr] + nontrivial + [gs.trivial_repr])


def elements(field_type):
    group = field_type.fibergroup
    if not group.continuous:
        return list(group.elements)
    torch.manual_seed(0)
    import numpy as np

    np.random.seed(0)
    return [group.sample() for _ in range(8)]


def latent(field_type, b=12, seed=0):
    x = torch.randn(b, field_type.size, 1, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return nn.GeometricTensor(x, field_type)


@pytest.mark.parametrize("name,method", [(g, m) for g, ms in METHODS.items() for m in ms])
def test_invariant_under_escnn_transform(name, method):
    ft = mixed_field_type(name)
    proj = eqlatent.invariant_projection(ft, method, n_functionals=24)
    x = latent(ft)
    base = proj(x)
    err = max(float((proj(x.transform(g)) - base).abs().max()) for g in elements(ft))
    MEASURED[(name, method)] = err
    print(f"\ninvariance error {name:>3} {method:<12} {err:.2e} over {len(elements(ft))} elements")
    assert err <= (1e-7 if ft.fibergroup.continuous and method == "random_invariant" else 1e-10)


@pytest.mark.parametrize("name", ["C4", "C8", "D4"])
@pytest.mark.parametrize("method", ["group_pool_max", "group_pool_mean"])
def test_pool_on_regular_fields_only(name, method):
    gs = GSPACES[name]()
    ft = nn.FieldType(gs, 3 * [gs.regular_repr])
    proj = eqlatent.invariant_projection(ft, method)
    x = latent(ft)
    assert proj(x).shape == (12, 3)
    reduce = torch.amax if method == "group_pool_max" else torch.mean
    assert torch.allclose(proj(x), reduce(x.tensor.reshape(12, 3, -1), dim=-1))
    assert max(float((proj(x.transform(g)) - proj(x)).abs().max()) for g in elements(ft)) <= 1e-12
    with pytest.raises(ConfigError, match="regular fields only") as err:
        eqlatent.invariant_projection(mixed_field_type(name), method)
    assert "\n" not in str(err.value)


def test_random_over_so2_without_refinement_stays_within_the_grid_bound():
    ft = mixed_field_type("SO2")
    k, n_angles, band = 24, 32, 3
    proj = eqlatent.invariant_projection(ft, "random_invariant", n_functionals=k, n_angles=n_angles, refine=False)
    x = latent(ft)
    scale = (ft.size / k) ** 0.5
    bound = scale * math.pi**2 * band**2 / (2 * n_angles**2) * x.tensor.flatten(1).norm(dim=1, keepdim=True)
    for g in elements(ft):
        assert ((proj(x.transform(g)) - proj(x)).abs() <= 2 * bound + 1e-12).all()


def test_random_refined_equals_a_dense_search():
    """The refined max equals max over 20,000 rotations of <w_k, rho(theta) z> (to the dense grid's own error)."""
    ft = mixed_field_type("SO2")
    proj = eqlatent.invariant_projection(ft, "random_invariant", n_functionals=6)
    z = latent(ft, b=3).tensor.flatten(1)
    w = proj.orbit_functionals.weights
    group = ft.fibergroup
    thetas = torch.linspace(0, 2 * math.pi, 20001, dtype=torch.float64)[:-1]
    reps = torch.stack([torch.tensor(ft.representation(group.element(float(t)))) for t in thetas[::10]])
    dense = torch.einsum("kd,gde,be->bkg", w, reps, z).amax(-1) * (ft.size / 6) ** 0.5
    out = proj(z)
    assert (out - dense).min() >= -1e-12 and (out - dense).max() <= 1e-4


def test_plain_tensor_and_1x1_map_agree_and_module_behaviour():
    ft = mixed_field_type("C8")
    proj = eqlatent.invariant_projection(ft, "random_invariant", n_functionals=8, seed=3)
    x = latent(ft)
    assert torch.equal(proj(x), proj(x.tensor)) and torch.equal(proj(x), proj(x.tensor.flatten(1)))
    assert isinstance(proj, torch.nn.Module) and "C8" in repr(proj)
    assert torch.equal(proj(x), eqlatent.invariant_projection(ft, "random_invariant", n_functionals=8, seed=3)(x))
    other_seed = eqlatent.invariant_projection(ft, "random_invariant", n_functionals=8, seed=4)
    assert not torch.allclose(proj(x), other_seed(x))
    assert eqlatent.invariant_projection(ft, "random_invariant", n_functionals=5, reduce="sort")(x).shape == (12, 5 * 8)
    assert eqlatent.invariant_projection(ft)(x).shape == (12, ft.size)  # default K = D


def _one_line(excinfo, *words):
    msg = str(excinfo.value)
    assert "\n" not in msg and "fix:" in msg, msg
    for word in words:
        assert word in msg, msg


def test_bad_input_is_a_one_line_error_naming_the_fix():
    ft = mixed_field_type("C8")
    proj = eqlatent.invariant_projection(ft, "norm")
    other = mixed_field_type("C4")
    with pytest.raises(LatentShapeError) as e:
        proj(latent(other))
    _one_line(e, "field type", "x.type")
    with pytest.raises(LatentShapeError) as e:
        proj(nn.GeometricTensor(torch.randn(2, ft.size, 3, 3), ft))
    _one_line(e, "larger than 1x1", "PointwiseAdaptiveAvgPool2D")
    with pytest.raises(LatentShapeError) as e:
        proj(torch.randn(2, ft.size + 1))
    _one_line(e, "channels")
    bad = torch.randn(2, ft.size)
    bad[1, 3] = float("nan")
    assert torch.isnan(proj(bad)[1]).any() and not torch.isnan(proj(bad)[0]).any()  # NaN in, NaN out: no host sync
    with pytest.raises(LatentShapeError) as e:
        eqlatent.invariant_projection(ft, "norm", check_finite=True)(bad)
    _one_line(e, "NaN")
    with pytest.raises(LatentShapeError) as e:
        eqlatent.quotient_distance(bad, bad, ft)
    _one_line(e, "NaN")
    with pytest.raises(ConfigError) as e:
        eqlatent.invariant_projection(ft, "median")
    _one_line(e, "random_invariant, norm, group_pool_max, group_pool_mean, canonicalize")
    for old, new in (("random", "random_invariant"), ("pool", "group_pool_max' or 'group_pool_mean")):
        with pytest.raises(ConfigError) as e:
            eqlatent.invariant_projection(ft, old)
        _one_line(e, f"now called '{new}'")
    with pytest.raises(ConfigError) as e:
        so3 = gspaces.rot3dOnR3(maximum_frequency=1)
        eqlatent.invariant_projection(nn.FieldType(so3, [so3.trivial_repr]), "random_invariant")
    _one_line(e, "not supported")
    with pytest.raises(ConfigError) as e:
        eqlatent.invariant_projection(mixed_field_type("O2"), "canonicalize")
    _one_line(e, "canonicalize")
    with pytest.raises(ConfigError) as e:
        eqlatent.invariant_projection(torch.randn(3), "random_invariant")
    _one_line(e, "FieldType")


# -- issue 22: out_features, buffers, bad first arguments, empty batches, GeometricTensor distances ----------

def _regular_only(name: str):
    gs = GSPACES[name]()
    return nn.FieldType(gs, 3 * [gs.regular_repr])


#: every method on the mixed field types where it is defined, and the regular-only ones on regular fields
OUT_CASES = [(g, m, True, "max") for g in ("C4", "D4", "SO2", "O2") for m in METHODS[g]]
OUT_CASES += [(g, "random_invariant", True, "sort") for g in ("C4", "D4", "SO2", "O2")]
OUT_CASES += [(g, m, False, "max") for g in ("C4", "D4") for m in ("group_pool_max", "group_pool_mean", "canonicalize",
                                                                  "norm")]


@pytest.mark.parametrize("name,method,mixed,reduce", OUT_CASES)
def test_out_features_is_the_output_width_known_at_construction(name, method, mixed, reduce):
    ft = mixed_field_type(name) if mixed else _regular_only(name)
    proj = eqlatent.invariant_projection(ft, method, n_functionals=5, reduce=reduce, n_angles=28)
    width = proj.out_features  # before any call: sizes a downstream nn.Linear
    assert isinstance(width, int) and proj(latent(ft, b=3)).shape == (3, width)
    assert f"out_features={width}" in repr(proj)
    head = torch.nn.Sequential(proj, torch.nn.Linear(width, 2).double())
    assert head(latent(ft, b=3).tensor).shape == (3, 2)


def test_random_functionals_are_buffers_that_load_and_move():
    ft = mixed_field_type("C8")
    proj = eqlatent.invariant_projection(ft, "random_invariant", n_functionals=8, seed=3)
    other = eqlatent.invariant_projection(ft, "random_invariant", n_functionals=8, seed=4)
    state = other.state_dict()
    assert list(state) == ["orbit_functionals.weights"] and state["orbit_functionals.weights"].shape == (8, ft.size)
    x = latent(ft)
    before = proj(x)  # caches the seed-3 score map: loading must replace it
    assert not torch.allclose(before, other(x))
    proj.load_state_dict(state)
    assert torch.equal(proj(x), other(x))
    assert dict(proj.named_buffers())["orbit_functionals.weights"] is proj.orbit_functionals.weights
    proj.to(torch.float32)
    assert proj.orbit_functionals.weights.dtype == torch.float32 and proj(x.tensor.float()).dtype == torch.float32
    proj.to(torch.float64)
    assert proj.orbit_functionals.weights.dtype == torch.float64 and proj(x).dtype == torch.float64
    assert torch.allclose(proj(x), other(x), atol=1e-6)  # float32 round trip of the functionals only


def test_studies_functionals_are_unchanged_by_the_buffers():
    from eqlatent.projections.random_invariant import RandomInvariant, unit_functionals

    proj = RandomInvariant(8, seed=5, layout="regular")
    assert torch.equal(proj.weights((5, 8)).reshape(8, 40), unit_functionals(8, 40, 5))
    assert proj.kernel((5, 8)).weights.dtype == torch.float64


@pytest.mark.parametrize("what", ["gspace", "group"])
def test_a_gspace_or_group_instead_of_a_field_type_is_a_one_line_error(what):
    gs = gspaces.rot2dOnR2(4)
    arg = gs if what == "gspace" else gs.fibergroup
    for method in ("random", "random_invariant"):  # the field type is checked first, also with an old method name
        with pytest.raises(ConfigError) as e:
            eqlatent.invariant_projection(arg, method)
        _one_line(e, "FieldType", "encoder.out_type", "nn.FieldType(gspace, [")
    with pytest.raises(ConfigError) as e:
        eqlatent.invariant_projection(nn.FieldType(gs, [gs.regular_repr]), "random")
    _one_line(e, "now called 'random_invariant'")


def test_k_is_refused_naming_n_functionals():
    with pytest.raises(ConfigError) as e:
        eqlatent.invariant_projection(mixed_field_type("C4"), "random_invariant", k=8)
    _one_line(e, "n_functionals")


@pytest.mark.parametrize("name,method", [(g, m) for g, ms in METHODS.items() for m in ms])
def test_an_empty_batch_gives_an_empty_output(name, method):
    ft = mixed_field_type(name)
    proj = eqlatent.invariant_projection(ft, method, n_functionals=6)
    for empty in (torch.zeros(0, ft.size, dtype=torch.float64), nn.GeometricTensor(torch.zeros(0, ft.size, 1, 1), ft)):
        out = proj(empty)
        assert out.shape == (0, proj.out_features)


@pytest.mark.parametrize("group", ["C8", "SO2", "S_n"])
def test_quotient_distance_of_no_rows_is_empty(group):
    z = torch.zeros(0, 2, 3) if group != "C8" else torch.zeros(0, 8)
    assert eqlatent.quotient_distance(z, z.clone(), group).shape == (0,)
    assert eqlatent.quotient_distance(z, None, group, pairwise=True).shape == (0, 0)
    three = torch.randn((3, *z.shape[1:]))
    assert eqlatent.quotient_distance(z, three, group, pairwise=True).shape == (0, 3)
    assert eqlatent.quotient_distance(three, z, group, pairwise=True).shape == (3, 0)


@pytest.mark.parametrize("name", ["C4", "D4", "SO2", "O2"])
def test_quotient_distance_reads_the_field_type_of_geometric_tensors(name):
    ft = mixed_field_type(name)
    x, y = latent(ft, b=5), latent(ft, b=5, seed=1)
    assert torch.equal(eqlatent.quotient_distance(x, y), eqlatent.quotient_distance(x, y, ft))
    assert torch.equal(eqlatent.quotient_distance(x, y, pairwise=True),
                       eqlatent.quotient_distance(x, y, ft, pairwise=True))
    assert torch.equal(eqlatent.quotient_distance(x, None, pairwise=True),
                       eqlatent.quotient_distance(x, None, ft, pairwise=True))
    g = elements(ft)[1]
    assert float(eqlatent.quotient_distance(x, x.transform(g)).max()) < 1e-6


def test_quotient_distance_without_a_group_is_a_one_line_error():
    ft, other = mixed_field_type("C4"), mixed_field_type("C8")
    with pytest.raises(LatentShapeError) as e:
        eqlatent.quotient_distance(latent(ft), latent(other))
    _one_line(e, "field type")
    with pytest.raises(LatentShapeError) as e:
        eqlatent.quotient_distance(latent(ft), latent(ft), other)
    _one_line(e, "field type")
    with pytest.raises(ConfigError) as e:
        eqlatent.quotient_distance(torch.randn(4, 8), torch.randn(4, 8))
    _one_line(e, "group_or_field_type", "S_n", "FieldType")


def test_refined_random_invariant_is_the_same_across_its_chunks():
    """SO(2) refinement runs latents (and polynomials) in chunks to stay linear in K: chunking changes no value.

    K = 2,048 over 70 latents spans several latent chunks and several 8,192-row TrigGrid chunks."""
    ft = mixed_field_type("SO2")
    proj = eqlatent.invariant_projection(ft, "random_invariant", n_functionals=2048)
    z = latent(ft, b=70).tensor.flatten(1)
    one_by_one = torch.cat([proj(z[i:i + 1]) for i in range(len(z))])
    assert (proj(z) - one_by_one).abs().max() <= 1e-12


# -- issue 26: each bad input named in one line, spec strings everywhere, the grid floor, low precision ---------

def test_a_gspace_where_a_field_type_belongs_is_one_line_in_every_entry_point():
    gs = gspaces.rot2dOnR2(8)
    z = torch.randn(20, 16, dtype=torch.float64)
    for call in (lambda: eqlatent.retention(z, ["norm"], gs), lambda: eqlatent.quotient_distance(z, z, gs),
                 lambda: eqlatent.invariant_projection(gs, "norm")):
        with pytest.raises(ConfigError) as e:
            call()
        _one_line(e, "GSpace", "nn.FieldType(gspace, [")
    with pytest.raises(ConfigError) as e:
        eqlatent.quotient_distance(z, z, 3.5)
    _one_line(e, "float")


def test_a_geometric_tensor_of_other_fields_is_refused_by_every_entry_point():
    gs = gspaces.rot2dOnR2(4)
    a = nn.FieldType(gs, 3 * [gs.regular_repr])
    b = nn.FieldType(gs, 2 * [gs.regular_repr] + 2 * [gs.irrep(1)])  # the same size, other fields
    x = latent(a, b=20)
    for call in (lambda: eqlatent.retention(x, ["norm"], b), lambda: eqlatent.quotient_distance(x, x, b),
                 lambda: eqlatent.invariant_projection(b, "norm")(x),
                 lambda: eqlatent.retention(x, ["norm"], "C4: 2 regular + 2 irrep1"),
                 lambda: eqlatent.quotient_distance(x, x, "SO2")):
        with pytest.raises(LatentShapeError) as e:
            call()
        _one_line(e, "field type", ".type")
    # the same fields, named another way (a spec on no_base_space, the group's default layout), are accepted
    kw = dict(n_pairs=60, knn_k=3, n_knn=20)
    assert eqlatent.retention(x, "norm", "C4: 3 regular", **kw).spearman == eqlatent.retention(x, "norm", a, **kw).spearman
    y = latent(a, b=20, seed=1)
    assert torch.allclose(eqlatent.quotient_distance(x, y, "C4"), eqlatent.quotient_distance(x, y, a), atol=1e-12)


@pytest.mark.parametrize("method", ["random_invariant", "norm", "canonicalize"])
def test_a_field_type_spec_string_works_wherever_a_field_type_is_taken(method):
    spec = "C8: 2 regular + irrep1 + trivial"
    gs = gspaces.rot2dOnR2(8)
    ft = nn.FieldType(gs, 2 * [gs.regular_repr] + [gs.irrep(1), gs.trivial_repr])
    x = latent(ft, b=30)
    from_spec = eqlatent.invariant_projection(spec, method, n_functionals=8)
    assert torch.equal(from_spec(x.tensor), eqlatent.invariant_projection(ft, method, n_functionals=8)(x))
    assert torch.equal(from_spec(x), from_spec(x.tensor))  # its GeometricTensor on R^2 has the same fields
    assert torch.equal(eqlatent.quotient_distance(x.tensor, x.tensor.flip(0), spec),
                       eqlatent.quotient_distance(x, x.tensor.flip(0), ft))
    kw = dict(n_pairs=60, knn_k=3, n_knn=30)
    assert eqlatent.retention(x.tensor, method, spec, **kw).spearman == eqlatent.retention(x, method, ft, **kw).spearman


def test_a_latent_of_the_wrong_rank_says_what_shape_is_expected():
    gs = gspaces.rot2dOnR2(8)
    ft = nn.FieldType(gs, 27 * [gs.regular_repr])  # 216 channels
    for call, who in ((lambda z: eqlatent.invariant_projection(ft, "norm")(z), "latent"),
                      (lambda z: eqlatent.quotient_distance(z, z, ft), "first latent")):
        with pytest.raises(LatentShapeError) as e:
            call(torch.randn(2, 4, 54))
        _one_line(e, f"the {who} has shape (2, 4, 54)", "[batch, channels] or [batch, channels, 1, 1]", "z.flatten(1)")
        with pytest.raises(LatentShapeError) as e:
            call(torch.randn(2, 4, 50))
        _one_line(e, "[batch, channels]", "216 channels")
    assert eqlatent.invariant_projection(ft, "norm")(torch.randn(2, 216, 1)).shape == (2, 27 * 5)  # [B, C, 1] is fine


@pytest.mark.parametrize("name", ["SO2", "O2"])
def test_n_angles_below_four_per_interpolation_node_is_refused(name):
    """The refined maximum over rotations needs n_angles >= 4(2L+1) (L = 3: 28); at that floor it is invariant."""
    from eqlatent.groups.specs import grid_angles

    ft = mixed_field_type(name)
    for n in (8, 27):
        with pytest.raises(ConfigError) as e:
            eqlatent.invariant_projection(ft, "random_invariant", n_angles=n)
        _one_line(e, f"n_angles={n}", "L=3", "4(2L+1) = 28")
        with pytest.raises(ConfigError):
            eqlatent.quotient_distance(latent(ft, b=2), latent(ft, b=2, seed=1), n_angles=n)
    proj = eqlatent.invariant_projection(ft, "random_invariant", n_functionals=24, n_angles=28)
    x = latent(ft, b=64)
    err = max(float((proj(x.transform(g)) - proj(x)).abs().max()) for g in elements(ft))
    print(f"\n{name} random_invariant at n_angles=28 (L=3): invariance error {err:.1e}")
    assert err <= 1e-7
    assert eqlatent.invariant_projection(ft).n_angles == 64 and grid_angles(3, None) == 64
    assert grid_angles(8, None) == 68 and grid_angles(0, 2) == 2  # the default grows past L = 7; finite groups: any


@pytest.mark.parametrize("dtype,rel", [(torch.float16, 2.0**-11), (torch.bfloat16, 2.0**-8)])
@pytest.mark.parametrize("name,method", [("C8", "random_invariant"), ("C8", "norm"), ("SO2", "random_invariant"),
                                         ("SO2", "canonicalize")])
def test_low_precision_is_computed_in_float32_and_rounded_once(dtype, rel, name, method):
    """float16 / bfloat16 latents: the float32 projection of the same numbers, rounded once to the dtype."""
    ft = mixed_field_type(name)
    proj = eqlatent.invariant_projection(ft, method, n_functionals=16)
    x = latent(ft, b=32).tensor.to(dtype)
    out = proj(x)
    assert out.dtype == dtype
    assert torch.equal(out, proj(x.float()).to(dtype))
    if name == "C8":  # rolls of regular fields act exactly on half-precision numbers: invariant to one rounding
        g = ft.fibergroup.elements[3]
        moved = nn.GeometricTensor(x.float(), ft).transform(g).tensor.to(dtype)
        scale = float(proj(x.float()).abs().max())
        err = float((proj(moved).float() - out.float()).abs().max())
        print(f"\n{dtype} {method} invariance error {err:.1e} (bound 2 * {rel:.1e} * {scale:.1f})")
        assert err <= 2 * rel * scale


def test_method_is_the_deprecated_name_of_projection():
    """One name for "which projection" everywhere (``projection``); ``method=``, the toolkit's earlier word,
    still builds the same projection, with a DeprecationWarning naming the new keyword."""
    ft = mixed_field_type("C8")
    new = eqlatent.invariant_projection(ft, projection="norm")
    with pytest.warns(DeprecationWarning, match="projection="):
        old = eqlatent.invariant_projection(ft, method="norm")
    x = latent(ft)
    assert type(old) is type(new) and torch.equal(old(x), new(x))
    with pytest.warns(DeprecationWarning, match="name"):
        assert old.method == "norm" == old.name
    with pytest.raises(ConfigError) as e:
        eqlatent.invariant_projection(ft, "norm", method="canonicalize")
    _one_line(e, "projection=")
