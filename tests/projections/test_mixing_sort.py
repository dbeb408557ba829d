"""mixing_sort: the sort of a random linear mixing of the node channels (S_n, d > 1).

What it claims, each checked so that it can fail: it separates multisets ``channel_sort`` confuses, it is
``channel_sort`` when the mixing is the identity, it is Lipschitz (no jump at a tie of the first channel,
where ``lex_sort`` jumps), padding / masks / batch vectors mean what they mean for the other sorts, gradients
are finite at exact ties and ReLU zeros in float32, and its width, seed and buffer behave as documented.
Invariance on random and adversarial latents is the contract's and the property matrix's
(``test_contract.py``, ``test_properties.py``), which discover it.  Synthetic latents, tiny sizes.
"""

from __future__ import annotations

import math

import pytest
import torch

import eqlatent
from eqlatent.errors import ConfigError
from eqlatent.projections.channel_sort import ChannelSort
from eqlatent.projections.lex_sort import LexSort
from eqlatent.projections.mixing_sort import MixingSort, injective_columns, mixing_columns

CONFUSED = (torch.tensor([[[0.0, 1.0], [1.0, 0.0]]], dtype=torch.float64),   # {(0, 1), (1, 0)}
            torch.tensor([[[0.0, 0.0], [1.0, 1.0]]], dtype=torch.float64))   # {(0, 0), (1, 1)}


def lipschitz_bound(proj: MixingSort, channels: int, nodes: int) -> float:
    """``sqrt(d / m) ||W||_2``: sorting each column is 1-Lipschitz, so this bounds ||pi(z1) - pi(z2)|| / d_quot."""
    w = proj.mixing_matrix(channels, nodes)
    return math.sqrt(channels / w.shape[1]) * float(torch.linalg.matrix_norm(w, ord=2))


@pytest.mark.parametrize("seed", range(5))
def test_it_separates_two_multisets_that_channel_sort_confuses(seed):
    a, b = CONFUSED
    assert torch.equal(ChannelSort()(a), ChannelSort()(b))   # the counterexample is one for channel_sort
    proj = MixingSort(seed=seed)
    assert proj(a).shape == (1, 2 * injective_columns(2, 2))  # 2 nodes x 3 columns
    gap = float((proj(a) - proj(b)).norm())
    # the quotient distance is sqrt(2); a bi-Lipschitz map keeps a fixed fraction of it for every seed's W
    assert gap > 0.05 * math.sqrt(2), gap
    assert float(eqlatent.quotient_distance(a, b, "S_n")) == pytest.approx(math.sqrt(2))


def test_channel_sort_is_the_identity_mixing():
    z = torch.randn(5, 6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mask = torch.arange(6)[None, :] < torch.tensor([6, 3, 4, 1, 5])[:, None]
    proj = MixingSort(columns=3, in_features=3)
    proj.mixing.copy_(torch.eye(3, dtype=torch.float64))   # W = I: each channel sorted on its own, scale sqrt(3/3)
    assert torch.equal(proj(z), ChannelSort()(z))
    assert torch.equal(proj(z, meta={"mask": mask}), ChannelSort()(z, meta={"mask": mask}))
    assert not torch.allclose(MixingSort(columns=3, in_features=3)(z), ChannelSort()(z))  # a random W is not I


def test_no_jump_at_a_tie_of_the_first_channel_where_lex_sort_jumps():
    """Two nodes tie in channel 0; moving one by -eps swaps lex_sort's row order: a jump of 2 sqrt(2)."""
    eps = 1e-6
    z = torch.tensor([[[0.0, 1.0], [0.0, -1.0]]], dtype=torch.float64)
    moved = torch.tensor([[[-eps, 1.0], [0.0, -1.0]]], dtype=torch.float64)
    assert float(eqlatent.quotient_distance(z, moved, "S_n")) == pytest.approx(eps)
    lex = float((LexSort()(z) - LexSort()(moved)).norm())
    assert lex == pytest.approx(2 * math.sqrt(2), rel=1e-5)          # discontinuous: O(1) for an eps step
    proj = MixingSort()
    mix = float((proj(z) - proj(moved)).norm())
    assert mix <= lipschitz_bound(proj, 2, 2) * eps * (1 + 1e-9)      # continuous: at most L eps
    assert mix > 0                                                    # and the two latents stay apart


def test_lipschitz_and_never_collapsing_on_random_pairs():
    """``d_quot / c <= ||pi(z1) - pi(z2)|| <= L d_quot`` on random pairs (graphs of 4 nodes, 3 channels)."""
    gen = torch.Generator().manual_seed(1)
    z1, z2 = (torch.randn(40, 4, 3, generator=gen, dtype=torch.float64) for _ in range(2))
    z2[:10] = z1[:10] + 1e-3 * torch.randn(10, 4, 3, generator=gen, dtype=torch.float64)  # some close pairs too
    proj = MixingSort()
    d_quot = eqlatent.quotient_distance(z1, z2, "S_n")
    d_proj = (proj(z1) - proj(z2)).norm(dim=1)
    ratio = d_proj / d_quot
    assert float(ratio.max()) <= lipschitz_bound(proj, 3, 4) * (1 + 1e-9)
    assert float(ratio.min()) > 0.05   # injective with n(d-1)+1 = 9 columns: no pair comes close to a collapse


def test_padding_masks_and_batch_vectors_agree_with_zero_padded_graphs():
    gen = torch.Generator().manual_seed(2)
    sizes = torch.tensor([3, 1, 5, 2])
    batch = torch.arange(4).repeat_interleave(sizes)
    x = torch.randn(int(sizes.sum()), 3, generator=gen, dtype=torch.float64)
    proj = MixingSort()
    rows = eqlatent.project_nodes(x, batch, "mixing_sort")
    dense, mask = eqlatent.toolkit.nodes.dense_nodes(x, batch)
    padded = dense * mask[..., None]
    assert rows.shape == (4, 5 * injective_columns(5, 3))
    assert torch.allclose(rows, proj(padded))                                  # padding = zero nodes, sorted in
    assert torch.allclose(rows, proj(dense + 7.0 * ~mask[..., None], meta={"mask": mask}))  # garbage in padding ignored
    assert torch.allclose(rows, eqlatent.NodeProjection("mixing_sort", max_num_nodes=5)(x, batch, num_graphs=4))
    # fixed width: 7 slots, m = 7 * 2 + 1 columns for every batch; out_features sizes a linear layer
    module = eqlatent.NodeProjection("mixing_sort", max_num_nodes=7, in_features=3)
    assert module.out_features == 7 * 15 == module(x, batch).shape[1]
    # permuting the nodes inside each graph changes nothing
    perm = torch.cat([s + torch.randperm(int(n), generator=gen) for s, n in zip((sizes.cumsum(0) - sizes).tolist(),
                                                                                  sizes.tolist())])
    assert (eqlatent.project_nodes(x[perm], batch, "mixing_sort") - rows).abs().max() <= 1e-12


@pytest.mark.parametrize("case", ["tied", "relu"])
def test_float32_gradients_are_finite_and_invariance_holds_at_exact_ties(case):
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(6, 5, 3, generator=gen)
    z = torch.round(z) if case == "tied" else torch.relu(z - 0.5)
    z[0] = 1.0   # every node of graph 0 equal: every column tied
    proj = MixingSort()
    leaf = z.clone().requires_grad_(True)
    out = proj(leaf)
    assert out.dtype == torch.float32
    (out * torch.randn(out.shape, generator=gen)).sum().backward()
    assert torch.isfinite(leaf.grad).all()
    perm = torch.randperm(5, generator=gen)
    assert (proj(z[:, perm]) - out.detach()).abs().max() <= 1e-6 * float(z.abs().max())


def test_columns_seed_buffer_and_lossless_flag():
    proj = MixingSort(columns=4, seed=3, in_features=3)
    assert proj.mixing.shape == (3, 4) and proj.mixing.dtype == torch.float64
    assert torch.allclose(proj.mixing.norm(dim=0), torch.ones(4, dtype=torch.float64))
    assert torch.equal(proj.mixing, mixing_columns(3, 4, 3)) and not torch.equal(proj.mixing, mixing_columns(3, 4, 4))
    assert torch.equal(mixing_columns(3, 9, 0)[:, :4], mixing_columns(3, 4, 0))  # fewer columns: a prefix of W
    assert "columns=4" in repr(proj) and "lossy" in repr(proj) and not proj.lossless
    assert MixingSort().lossless and MixingSort().lossless_for(8)          # the default reaches the bound
    assert MixingSort(columns=9, max_num_nodes=4, in_features=3).lossless  # 9 = 4 * (3 - 1) + 1
    assert not MixingSort(columns=8, max_num_nodes=4, in_features=3).lossless
    assert MixingSort(columns=1).lossless_for(1)                           # one channel: any column sorts losslessly
    # the state dict carries W, also into an instance that had not drawn it yet
    fresh = MixingSort(columns=4, seed=9)
    fresh.load_state_dict(proj.state_dict())
    z = torch.randn(2, 5, 3, dtype=torch.float64)
    assert torch.equal(fresh.mixing, proj.mixing) and torch.equal(fresh(z), proj(z))
    # a latent of another width: W drawn again from the seed for that (d, m)
    lazy = MixingSort()
    assert lazy(torch.randn(2, 3, 2)).shape == (2, 3 * 4) and lazy.mixing.shape == (2, 4)
    assert lazy(torch.randn(2, 3, 4)).shape == (2, 3 * 10) and torch.equal(lazy.mixing, mixing_columns(4, 10, 0))


def test_bad_columns_and_names_are_one_line_errors():
    for bad in (0, -2, 2.5):
        with pytest.raises(ConfigError) as err:
            MixingSort(columns=bad)
        assert "\n" not in str(err.value) and "columns" in str(err.value) and "fix:" in str(err.value)
    with pytest.raises(ConfigError, match="mixing_sort"):
        MixingSort("lex_sort")
    assert type(eqlatent.NodeProjection("mixing_sort", columns=5)) is MixingSort
    with pytest.raises(ConfigError) as err:
        eqlatent.NodeProjection("mixing_sort").out_features
    assert "max_num_nodes" in str(err.value)


def test_the_docstring_example_runs():
    import doctest

    import eqlatent.projections.mixing_sort as module

    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
