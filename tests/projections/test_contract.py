"""The InvariantProjection contract and the equivariance checks of eqlatent.groups.equivariance (which must be able to fail).

Invariance is on the contract (as escnn's ``check_equivariance``): every concrete
``InvariantProjection`` subclass in ``eqlatent.projections`` and ``eqlatent.toolkit`` is found
by :func:`~eqlatent.projections.base.concrete_projections` (every module imported, subclasses
collected recursively, abstract bases such as ``NodeProjection`` left out by
``inspect.isabstract``) and checked with ``check_contract``: each of its ``examples()`` on a
random float64 latent of its own layout, 8 random elements of the group it removes.  A class
that does not say how to sample its latent and group fails here with what to add.

Tolerances (``InvariantProjection.invariance_atol``), float64 latents:

* exact cases -- S_n (sorting, pooling), C_N rolls of regular fields, C_M rolls of orbit
  copies, SO(2) rotations for the closed-form ``norm`` and ``canonicalize``: 1e-10
  (measured <= 1e-14);
* ``random_invariant`` over SO(2) maximises over ``n_angles`` = 64 grid rotations: the grid
  bound ``sqrt(D/K) pi^2 L^2 / (2 n_angles^2) ||z||`` (``reduce="max"``) or
  ``sqrt(D/K) (pi / n_angles) L ||z||`` (``reduce="sort"``) plus 1e-10 (measured at about half
  the bound); its exactness on the grid itself is in ``tests/projections/test_field_projections.py``;
* baselines with ``invariant = False`` (``identity``, ``identity_field``) must move by more than 1e-3.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import torch

import eqlatent
from eqlatent.errors import LatentShapeError
from eqlatent.projections.base import PROJECTION_PACKAGES, InvariantProjection, concrete_projections
from eqlatent.projections.field_projection import FieldProjection
from eqlatent.projections.node_projection import NodeProjection
from eqlatent.groups.equivariance import assert_equivariant, assert_invariant, equivariance_error, invariance_error
from eqlatent.groups.samplers import cyclic_shift_sampler, node_permutation_sampler, rot90_sampler


class _SumNodes(InvariantProjection):
    name, group, lossless, latent_ndim = "sum_test", "S_n", False, 3

    def layout(self) -> str:
        return "[batch, nodes, channels]"

    def project(self, z, meta):
        return z.sum(1)


def test_projection_rejects_wrong_shapes_in_one_line():
    proj = _SumNodes()
    with pytest.raises(LatentShapeError, match=r"needs a latent with 3 dims \[batch, nodes, channels\], got shape \(4, 5\)") as err:
        proj(torch.zeros(4, 5))
    assert "\n" not in str(err.value) and "fix:" in str(err.value)
    with pytest.raises(LatentShapeError, match="floating-point"):
        proj(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(LatentShapeError, match="not a torch.Tensor"):
        proj([[1.0]])
    assert proj(torch.ones(2, 3, 4)).shape == (2, 4)
    assert "lossy" in repr(proj)


def test_invariance_helper_passes_and_fails():
    x = torch.randn(5, 7, 2)
    assert_invariant(_SumNodes(), x, node_permutation_sampler(), atol=1e-5)
    with pytest.raises(AssertionError, match="not invariant"):
        assert_invariant(lambda z: z[:, 0], x, node_permutation_sampler(), atol=1e-5)
    assert invariance_error(lambda z: z[:, 0], x, node_permutation_sampler()) > 0.1


def test_equivariance_helper_on_tuples_with_adjacency():
    x, adj = torch.randn(3, 6, 2), torch.randn(3, 6, 6)
    message = lambda h, a: a @ h  # noqa: E731  (node features aggregated along edges: equivariant)
    sampler = node_permutation_sampler(adjacency_args=(1,))

    def sample(gen):
        g = sampler(gen)
        g.on_output = lambda y, g=g: g.on_input((y, adj))[0]  # permute outputs like the node input
        return g

    # the output action must use the same permutation as the input action: cached per element
    assert_equivariant(message, (x, adj), sample, atol=1e-5)
    assert equivariance_error(lambda h, a: h.flip(1), (x, adj), sample) > 0.1


def test_cyclic_and_rot90_samplers_act_as_the_group():
    z = torch.randn(4, 3, 8)
    assert_invariant(lambda t: t.max(-1).values, z, cyclic_shift_sampler(8), atol=0)
    imgs = torch.randn(2, 1, 5, 5)
    assert_invariant(lambda t: t.flatten(1).sort(1).values, imgs, rot90_sampler(), atol=0)
    with pytest.raises(AssertionError):
        assert_invariant(lambda t: t.flatten(1), imgs, rot90_sampler(), atol=1e-6, n_samples=16)


# ---------------------------------------------------------------------------------------
# Invariance on the contract: every subclass, discovered
# ---------------------------------------------------------------------------------------

DISCOVERED = concrete_projections()


def test_discovery_walks_both_bases_and_leaves_out_abstract_ones():
    assert DISCOVERED, "no InvariantProjection subclass found"
    assert all(not inspect.isabstract(c) for c in DISCOVERED)
    assert not {InvariantProjection, NodeProjection, FieldProjection} & set(DISCOVERED)
    # both intermediate bases and a direct subclass are reached (recursive discovery)
    assert any(issubclass(c, NodeProjection) for c in DISCOVERED)
    assert any(issubclass(c, FieldProjection) for c in DISCOVERED)
    assert any(c.__bases__ == (InvariantProjection,) for c in DISCOVERED)


def test_no_projection_subclass_hides_outside_the_discovered_packages():
    """Discovery imports PROJECTION_PACKAGES only (importing all of eqlatent would run its CLIs):
    a subclass defined anywhere else in the source tree must fail here, not go unchecked."""
    known = {"InvariantProjection", "NodeProjection", "FieldProjection"} | {c.__name__ for c in DISCOVERED}
    root = Path(eqlatent.__file__).parent
    walked = {tuple(p.split(".")[1:]) for p in PROJECTION_PACKAGES}
    outside = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if any(rel[:len(w)] == w for w in walked):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            bases = [getattr(b, "id", getattr(b, "attr", "")) for b in getattr(node, "bases", [])]
            if isinstance(node, ast.ClassDef) and known & set(bases):
                outside.append(f"{'/'.join(rel)}:{node.name}")
    assert not outside, f"projection classes outside {PROJECTION_PACKAGES}: {outside}; move them or add their package"


@pytest.mark.parametrize("cls", DISCOVERED, ids=lambda c: c.__name__)
def test_every_projection_keeps_its_invariance_claim(cls):
    checked = cls.check_contract()
    for proj, err in checked:
        print(f"\n{proj!r} {getattr(proj, 'latent_layout', '')}: max |pi(g.z) - pi(z)| = {err:.2e}")
    assert checked


def test_the_contract_check_catches_a_projection_that_is_not_invariant():
    class FirstNode(NodeProjection):  # keeps node 0: moves under node permutations
        name = "first_node"

        def project(self, z, meta):
            return z[:, 0]

    assert FirstNode in concrete_projections([__name__])
    with pytest.raises(AssertionError, match=r"FirstNode\(name='first_node'.* is not invariant: max \|pi\(g.z\) "):
        FirstNode.check_contract()

    class FalseBaseline(NodeProjection):  # claims invariant=False but is invariant
        name, invariant = "false_baseline", False

        def project(self, z, meta):
            return z.sum(1)

    with pytest.raises(AssertionError, match="claims invariant=False"):
        FalseBaseline.check_contract()


def test_a_projection_that_cannot_be_checked_fails_discovery_with_what_to_add():
    # _SumNodes (above) implements project() but not example_latent / group_sampler
    found = concrete_projections([__name__])
    assert _SumNodes in found
    with pytest.raises(AssertionError, match=r"_SumNodes does not define example_latent\(\) and group_sampler\(\), "
                                             r"so its invariance cannot be checked: add example_latent\(generator\)"):
        _SumNodes.check_contract()

    class NeedsArguments(NodeProjection):  # cls() fails: must say which instances to check
        name = "needs_arguments"

        def __init__(self, k):
            self.k = k

        def project(self, z, meta):
            return z.sum(1)

    with pytest.raises(AssertionError, match=r"override the classmethod examples\(\)"):
        NeedsArguments.check_contract()


def test_contract_docstring_example_runs():
    import doctest

    import eqlatent.projections.base as base

    result = doctest.testmod(base)
    assert result.failed == 0 and result.attempted > 0


def test_check_invariance_on_a_given_latent_and_tolerance():
    from eqlatent.projections.sum_pool import SumPool
    from eqlatent.projections.random_invariant import RandomInvariant

    assert SumPool().check_invariance(torch.randn(4, 6, 2)) <= 1e-5  # float32: the base tolerance is 1e-5
    with pytest.raises(LatentShapeError):
        SumPool().check_invariance(torch.randn(4, 6))  # the given latent is the one checked
    # off-grid SO(2) rotations: invariant only to the stated grid bound, not to 1e-10
    grid = RandomInvariant(8, layout="irreps")
    assert grid.check_invariance() <= grid.invariance_atol(grid.example_latent(torch.Generator().manual_seed(0)))
    with pytest.raises(AssertionError, match=r"not invariant: .* > atol 1e-10"):
        grid.check_invariance(atol=1e-10)


def test_one_name_per_projection_in_modules_classes_configs_and_the_registry():
    """Every projection has one name: its module ``projections/<name>.py``, its class (the name in CamelCase),
    its config ``configs/projection/<name>.yaml`` (a block of that name) and its registry entry; every discovered
    class is in the registry, and every name ``invariant_projection`` / ``project_nodes`` / the retention CLI take."""
    import yaml

    from eqlatent.projections.registry import camel, projection_classes, projection_names
    from eqlatent.runtime.config import project_root

    registry = projection_classes()
    assert set(registry.values()) == set(DISCOVERED), set(registry.values()) ^ set(DISCOVERED)
    folder = project_root() / "configs" / "projection"
    for name, cls in registry.items():
        assert cls.name == name and cls.__name__ == camel(name) and cls.__module__ == f"eqlatent.projections.{name}"
        config = yaml.safe_load((folder / f"{name}.yaml").read_text())
        assert list(config) == [name] and "_target_" not in (config[name] or {}), (name, config)
    assert set(projection_names("field_type")) | set(projection_names("nodes")) <= set(registry)


def test_the_public_modules_are_registry_classes_under_the_contract():
    """``invariant_projection`` and ``NodeProjection(name)`` return the registry's classes, which the contract
    checks on field types too (so the toolkit's objects are covered, not plain modules beside the contract)."""
    from eqlatent.projections.registry import projection_class, projection_names

    for name in projection_names("field_type"):
        spec = "C8: 3 regular" if name.startswith("group_pool") else "C8: 2 regular + irrep1 + trivial"
        proj = eqlatent.invariant_projection(spec, name)
        assert type(proj) is projection_class(name) and type(proj) in DISCOVERED
        assert any(p.latent_layout == "field_type" for p in type(proj).examples())
        assert isinstance(proj, eqlatent.FieldProjection) and isinstance(proj, torch.nn.Module)
    for name in projection_names("nodes"):
        module = eqlatent.NodeProjection(name)
        assert type(module) is projection_class(name) and type(module) in DISCOVERED
        assert isinstance(module, eqlatent.NodeProjection) and module.name == name
