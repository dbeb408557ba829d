"""eqlatent.quotient_distance against brute force, eqlatent.retention, its CLI, and the API docstrings.

Synthetic latents throughout (small, so brute force over all n! permutations / all group
elements / a dense angle grid is cheap).
"""

from __future__ import annotations

import doctest
import itertools
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import eqlatent
from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.field_types import import_escnn

escnn = import_escnn()
from escnn import gspaces, nn  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("d", [1, 3])
def test_permutation_distance_equals_brute_force(d):
    gen = torch.Generator().manual_seed(d)
    a, b = torch.randn(5, 6, d, generator=gen, dtype=torch.float64), torch.randn(5, 6, d, generator=gen, dtype=torch.float64)
    brute = torch.stack([min((a[p] - b[p][list(s)]).norm() for s in itertools.permutations(range(6))) for p in range(5)])
    assert torch.allclose(eqlatent.quotient_distance(a, b, "S_n"), brute, atol=1e-12)
    assert float(eqlatent.quotient_distance(a[0], a[0][[3, 1, 0, 2, 5, 4]], "S_n")) < 1e-12


@pytest.mark.parametrize("make", [lambda: gspaces.rot2dOnR2(8), lambda: gspaces.flipRot2dOnR2(4)], ids=["C8", "D4"])
def test_finite_group_distance_equals_brute_force_over_every_element(make):
    gs = make()
    group = gs.fibergroup
    ft = nn.FieldType(gs, [gs.regular_repr, group.irrep(*group.irreps()[1].id), gs.trivial_repr])
    gen = torch.Generator().manual_seed(0)
    a = nn.GeometricTensor(torch.randn(6, ft.size, 1, 1, generator=gen, dtype=torch.float64), ft)
    b = nn.GeometricTensor(torch.randn(6, ft.size, 1, 1, generator=gen, dtype=torch.float64), ft)
    brute = torch.stack([(a.tensor - b.transform(g).tensor).flatten(1).norm(dim=1) for g in group.elements]).amin(0)
    assert torch.allclose(eqlatent.quotient_distance(a, b, ft), brute, atol=1e-12)
    g = list(group.elements)[3]
    assert eqlatent.quotient_distance(a, a.transform(g), ft).abs().max() < 1e-6


def test_group_names_give_the_studies_layouts():
    """``"C8"`` / ``"SO2"`` act on the studies' ``[n, fields, N]`` / ``[n, fields, 1+2L]`` latents (built without escnn)."""
    from eqlatent.groups.layouts import rotate_irreps

    z, w = torch.randn(4, 3, 8, dtype=torch.float64), torch.randn(4, 3, 8, dtype=torch.float64)
    assert eqlatent.quotient_distance(z, torch.roll(z, 3, dims=-1), "C8").abs().max() < 1e-6
    brute = torch.stack([(z - torch.roll(w, k, dims=-1)).flatten(1).norm(dim=1) for k in range(8)]).amin(0)
    assert torch.allclose(eqlatent.quotient_distance(z, w, "C8"), brute, atol=1e-12)
    c8 = escnn.group.cyclic_group(8)
    ft = nn.FieldType(gspaces.no_base_space(c8), 3 * [c8.regular_representation])  # the same action, through escnn
    assert torch.allclose(eqlatent.quotient_distance(z.flatten(1), w.flatten(1), ft), brute, atol=1e-12)
    s1, s2 = torch.randn(4, 2, 5, dtype=torch.float64), torch.randn(4, 2, 5, dtype=torch.float64)
    thetas = torch.linspace(0, 2 * math.pi, 20001, dtype=torch.float64)[:-1]
    dense = torch.stack([(s1 - rotate_irreps(s2, float(t))).flatten(1).norm(dim=1) for t in thetas]).amin(0)
    out = eqlatent.quotient_distance(s1, s2, "SO2")
    assert (out <= dense + 1e-12).all() and (dense - out).max() < 1e-6


@pytest.mark.parametrize("group, shape", [("C8", (7, 3, 8)), ("SO2", (7, 2, 7)), ("S_n", (7, 5, 2))])
def test_pairwise_distances_equal_the_row_by_row_ones(group, shape):
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(*shape, generator=gen, dtype=torch.float64)
    w = torch.randn(5, *shape[1:], generator=gen, dtype=torch.float64)
    i, j = torch.arange(7).repeat_interleave(5), torch.arange(5).repeat(7)
    cross = eqlatent.quotient_distance(z, w, group, pairwise=True)
    assert cross.shape == (7, 5)
    assert torch.allclose(cross.flatten(), eqlatent.quotient_distance(z[i], w[j], group), atol=1e-9)
    within = eqlatent.quotient_distance(z, None, group, pairwise=True)
    i, j = torch.triu_indices(7, 7, 1)
    assert torch.equal(within, within.T) and within.diagonal().abs().max() == 0
    assert torch.allclose(within[i, j], eqlatent.quotient_distance(z[i], z[j], group), atol=1e-9)


def test_so2_and_o2_distance_equal_a_dense_search():
    for gs in (gspaces.rot2dOnR2(-1, maximum_frequency=2), gspaces.flipRot2dOnR2(-1, maximum_frequency=2)):
        group = gs.fibergroup
        ft = nn.FieldType(gs, [group.irrep(*i) for i in group.bl_irreps(2)])
        gen = torch.Generator().manual_seed(1)
        a, b = (torch.randn(3, ft.size, generator=gen, dtype=torch.float64) for _ in range(2))
        thetas = torch.linspace(0, 2 * math.pi, 4001, dtype=torch.float64)[:-1]
        elems = ([group.element(float(t)) for t in thetas] if group.name == "SO(2)"
                 else [group.element((f, float(t))) for f in (0, 1) for t in thetas])
        reps = torch.stack([torch.tensor(ft.representation(g)) for g in elems])
        dense = (a[:, None] - torch.einsum("gde,be->bgd", reps, b)).norm(dim=-1).amin(1)
        out = eqlatent.quotient_distance(a, b, ft)
        assert (out <= dense + 1e-12).all() and (dense - out).max() < 1e-5, group.name


def test_quotient_distance_bad_input():
    with pytest.raises(ConfigError, match="unknown group") as e:
        eqlatent.quotient_distance(torch.randn(8), torch.randn(8), "E8")
    assert "\n" not in str(e.value)
    with pytest.raises(LatentShapeError, match="multiple of 8"):
        eqlatent.quotient_distance(torch.randn(7), torch.randn(7), "C8")
    with pytest.raises(LatentShapeError, match="differ in shape"):
        eqlatent.quotient_distance(torch.randn(2, 8), torch.randn(3, 8), "C8")
    with pytest.raises(LatentShapeError, match="NaN"):
        eqlatent.quotient_distance(torch.full((8,), float("nan")), torch.randn(8), "C8")
    with pytest.raises(LatentShapeError, match="no second latent"):
        eqlatent.quotient_distance(torch.randn(8), None, "C8")


def test_retention_result_and_markdown():
    z = torch.randn(60, 4, 8, generator=torch.Generator().manual_seed(0))
    res = eqlatent.retention(z, "random_invariant", "C8", n_pairs=300, n_knn=60)
    assert 0.5 < res.spearman <= 1 and 0 <= res.knn <= 1 and res.knn_k == 10
    md = res.to_markdown()
    assert md.startswith("| group") and "| random_invariant |" in md
    pooled = eqlatent.retention(z, "group_pool_max", "C8", n_pairs=300, n_knn=60)
    assert pooled.spearman < res.spearman  # pooling forgets more than 32 random functionals
    exact = eqlatent.retention(torch.randn(30, 5, 1), "sort", "S_n", n_pairs=200, n_knn=30)
    assert exact.spearman == pytest.approx(1.0) and exact.rel_error < 1e-12 and exact.knn == 1.0
    ft = nn.FieldType(gspaces.no_base_space(escnn.group.cyclic_group(4)), 2 * [escnn.group.cyclic_group(4).regular_representation])
    proj = eqlatent.invariant_projection(ft, "norm")
    assert eqlatent.retention(torch.randn(20, 8), proj, ft, n_pairs=50).projection == "norm"


def test_retention_cli(tmp_path):
    torch.save(torch.randn(40, 3, 8), tmp_path / "z.pt")
    cmd = [sys.executable, "-m", "eqlatent.cli.retention", "--latents", str(tmp_path / "z.pt"), "--group", "C8",
           "--projection", "random_invariant", "--n-pairs", "200"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "| C8 | random_invariant | 40 | 200 |" in out.stdout
    bad = subprocess.run(cmd[:6] + ["C7"] + cmd[7:], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "fix:" in bad.stderr


def test_docstring_examples_run():
    import importlib

    names = ["eqlatent.groups.trig", "eqlatent.groups.quotient", "eqlatent.groups.samplers", "eqlatent.toolkit.invariant",
             "eqlatent.toolkit.nodes", "eqlatent.toolkit.retention_measure", "eqlatent.groups.specs",
             "eqlatent.projections.registry", "eqlatent.projections.node_projection",
             "eqlatent.groups.equivariance"]
    for module in map(importlib.import_module, names):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_no_module_shadows_a_public_function():
    """Importing every eqlatent module leaves each public name the function it is (no module of the same name
    rebinds a package attribute), and ``eqlatent.retention`` is the function, CLI imported or not."""
    import importlib
    import inspect
    import pkgutil

    import eqlatent
    import eqlatent.toolkit

    importlib.import_module("eqlatent.cli.retention")
    for package in (eqlatent, eqlatent.toolkit):
        names = {info.name.rsplit(".", 1)[-1] for info in pkgutil.iter_modules(package.__path__)}
        assert not names & set(package.__all__), (package.__name__, names & set(package.__all__))
    assert inspect.isfunction(eqlatent.retention) and "quotient" in eqlatent.retention.__doc__
    z = torch.randn(20, 5, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    res = eqlatent.retention(z, "sort", "S_n", n_pairs=40)
    assert res.as_dict()["spearman"] == pytest.approx(1.0)
