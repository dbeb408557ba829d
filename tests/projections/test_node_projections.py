"""Node-permutation projections: invariance, losslessness, isometry (and counterexamples where they fail).

All latents here are synthetic random tensors (float64).  Tolerances: invariance 0
(sorting and pooling only reorder / reduce the same numbers, but sums may reorder: 1e-12),
isometry 1e-9 relative to the distance.  Plain invariance of every projection (and the
identity baseline's non-invariance) is checked on the contract, for every discovered
subclass, in ``tests/projections/test_contract.py``; here the padding test runs on every discovered
node-latent projection too.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from eqlatent.errors import LatentShapeError
from eqlatent.groups.quotient import hungarian_distance, quotient_distance
from eqlatent.projections.base import concrete_projections
from eqlatent.projections.channel_sort import ChannelSort
from eqlatent.projections.lex_sort import LexSort
from eqlatent.projections.node_projection import NodeProjection, gather_nodes
from eqlatent.projections.sort import Sort
from eqlatent.groups.equivariance import assert_invariant
from eqlatent.groups.samplers import node_permutation_sampler

#: every invariant node-latent projection, discovered (a new one is covered without editing this file)
INVARIANT = [proj for cls in concrete_projections() if issubclass(cls, NodeProjection) and cls.invariant
             for proj in cls.examples()]


def _latents(b, n, d, seed=0):
    return torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _brute_force_quotient(z1, z2):
    """min over all n! permutations of ||z1 - P z2|| (one pair, n <= 7)."""
    n = z1.shape[0]
    perms = torch.tensor(list(itertools.permutations(range(n))))
    return (z1.unsqueeze(0) - z2[perms]).flatten(1).norm(dim=1).min()


@pytest.mark.parametrize("proj", INVARIANT, ids=lambda p: p.name)
def test_invariant_with_padding_anywhere(proj):
    # latent and mask permuted together: padding slots end up at random positions
    d = 1 if proj.latent_channels == 1 else 2
    z = _latents(12, 9, d, seed=3)
    gen = torch.Generator().manual_seed(4)
    mask = torch.arange(9).unsqueeze(0) < torch.randint(1, 10, (12, 1), generator=gen)
    z = z + 50.0 * (~mask).unsqueeze(-1)     # garbage in padding slots must not leak into the projection
    fn = lambda z, mask: proj(z, {"mask": mask})
    assert_invariant(fn, (z, mask), node_permutation_sampler(), atol=1e-12)
    clean = proj(z * mask.unsqueeze(-1), {"mask": mask})
    assert torch.allclose(fn(z, mask), clean, atol=1e-12)


@pytest.mark.parametrize("n", [3, 5, 7])
def test_sort_is_isometric_brute_force(n):
    z1, z2 = _latents(20, n, 1, seed=n), _latents(20, n, 1, seed=100 + n)
    sort = Sort()
    d_sort = (sort(z1) - sort(z2)).norm(dim=1)
    d_brute = torch.stack([_brute_force_quotient(a, b) for a, b in zip(z1, z2)])
    assert torch.allclose(d_sort, d_brute, rtol=1e-9, atol=1e-12)
    assert torch.allclose(quotient_distance(z1, z2, "S_n"), d_brute, rtol=1e-9, atol=1e-12)   # Hungarian == brute force


@pytest.mark.parametrize("n", [9, 20, 38])
def test_sort_is_isometric_hungarian(n):
    z1, z2 = _latents(50, n, 1, seed=n), _latents(50, n, 1, seed=200 + n)
    sort = Sort()
    d_sort = (sort(z1) - sort(z2)).norm(dim=1)
    assert torch.allclose(d_sort, quotient_distance(z1, z2, "S_n"), rtol=1e-9, atol=1e-12)


def test_quotient_distance_is_zero_on_the_orbit_and_returns_the_alignment():
    z = _latents(10, 8, 3, seed=5)
    perm = torch.stack([torch.randperm(8, generator=torch.Generator().manual_seed(i)) for i in range(10)])
    zp = gather_nodes(z, perm)
    dist, align = hungarian_distance(z, zp, return_permutation=True)
    assert dist.abs().max() < 1e-9
    assert torch.allclose(gather_nodes(zp, align), z)


def test_pairwise_quotient_distances_match_row_by_row_calls():
    z = _latents(12, 6, 2, seed=6)
    D = quotient_distance(z, None, "S_n", pairwise=True)
    i, j = torch.triu_indices(12, 12, 1)
    assert torch.allclose(D[i, j], quotient_distance(z[i], z[j], "S_n"))
    assert torch.equal(D, D.T) and D.diagonal().abs().max() == 0


def test_sort_permutation_undoes_the_sort():
    z = _latents(6, 9, 1, seed=7)
    sort = Sort()
    perm = sort.sorting_permutation(z)
    assert torch.equal(gather_nodes(z, perm).flatten(1), sort(z))
    inverse = perm.argsort(dim=1)
    assert torch.equal(gather_nodes(gather_nodes(z, perm), inverse), z)


def test_sort_rejects_several_channels_with_one_line():
    with pytest.raises(LatentShapeError) as err:
        Sort()(_latents(2, 9, 2))
    assert "\n" not in str(err.value) and "lex_sort" in str(err.value)


def test_wrong_latent_rank_is_a_one_line_error():
    with pytest.raises(LatentShapeError) as err:
        LexSort()(torch.randn(4, 9))
    assert "\n" not in str(err.value)


def test_channel_sort_is_lossy_for_two_channels():
    # counterexample: different orbits, same projection
    z1 = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]], dtype=torch.float64)
    z2 = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]], dtype=torch.float64)
    assert float(quotient_distance(z1, z2, "S_n")) > 1.0                   # not in the same orbit
    assert torch.equal(ChannelSort()(z1), ChannelSort()(z2))


def test_lex_sort_is_lossless_output_is_in_the_orbit():
    # lossless: the output is a row permutation of the input (same orbit), hence injective on orbits
    z = _latents(30, 9, 3, seed=8)
    lex = LexSort()
    out = lex(z).view_as(z)
    assert quotient_distance(out, z, "S_n").abs().max() < 1e-9
    # and different orbits stay apart: every pair of distinct random latents projects apart
    D_lex = torch.cdist(lex(z), lex(z))
    off = ~torch.eye(30, dtype=torch.bool)
    assert D_lex[off].min() > 1e-3


def test_lex_sort_is_not_isometric():
    # counterexample: rows nearly tied in channel 0 are sorted into mismatched orders
    z1 = torch.tensor([[[0.50, 10.0], [0.51, 0.0]]], dtype=torch.float64)
    z2 = torch.tensor([[[0.51, 10.0], [0.50, 0.0]]], dtype=torch.float64)
    lex = LexSort()
    d_lex = float((lex(z1) - lex(z2)).norm())
    d_quot = float(quotient_distance(z1, z2, "S_n"))
    assert d_quot == pytest.approx((2 * 0.01 ** 2) ** 0.5, rel=1e-9)
    assert d_lex > 14.0 and d_lex > 500 * d_quot


def test_channel_sort_never_expands_quotient_distances():
    # channel sort is a contraction of the quotient metric (each channel's sort is optimal for that channel)
    z1, z2 = _latents(200, 7, 3, seed=9), _latents(200, 7, 3, seed=10)
    cs = ChannelSort()
    assert torch.all((cs(z1) - cs(z2)).norm(dim=1) <= quotient_distance(z1, z2, "S_n") + 1e-9)


def test_mask_of_the_wrong_shape_is_a_one_line_error():
    z = _latents(4, 9, 1)
    with pytest.raises(LatentShapeError, match=r"meta\['mask'\] has shape \(4, 8\)") as err:
        Sort()(z, {"mask": torch.ones(4, 8, dtype=torch.bool)})
    assert "\n" not in str(err.value) and "fix:" in str(err.value)
