"""Image encoders: exact equivariance on quarter turns, and the latent group actions they rely on.

Inputs are synthetic random 29x29 images (no data needed).  Quarter turns (torch.rot90)
permute the odd-size pixel grid exactly, so the only error left is float32 round-off
through three conv blocks: tolerance 1e-4 (absolute, latents are O(0.1-1)), on the CPU and,
in full float32 (no TF32), on a GPU.
"""

from __future__ import annotations

import math

import pytest
import torch

from eqlatent.groups.layouts import all_irreps_rotations, all_rolls, roll_regular, rotate_irreps
from eqlatent.models.cyclic_steerable_cnn import CyclicSteerableCNN
from eqlatent.models.plain_cnn import PlainCNN
from eqlatent.models.so2_steerable_cnn import SO2SteerableCNN
from eqlatent.groups.equivariance import assert_equivariant, assert_invariant, equivariance_error
from eqlatent.groups.samplers import rot90_sampler

ATOL = 1e-4


def _images(n=6, seed=0):
    return torch.rand(n, 1, 29, 29, generator=torch.Generator().manual_seed(seed))


#: small versions of the study's three escnn encoders
ESCNN_ENCODERS = {
    "c8": lambda: CyclicSteerableCNN(order=8, fields=(2, 3, 4)),
    "c16": lambda: CyclicSteerableCNN(order=16, fields=(2, 3, 4)),
    "so2": lambda: SO2SteerableCNN(max_frequency=2, channels=(2, 3, 4), grid_size=8),
}


@pytest.mark.parametrize("name", list(ESCNN_ENCODERS))
def test_casting_or_moving_one_escnn_encoder_leaves_another_alone(name):
    """Two encoders built alike share no tensor: escnn's cache of sampled filter bases is not used.

    Shared, ``.double()`` on one made the other's float forward fail ("expected scalar type
    Float but found Double"), and ``.cuda()`` on one made the other's CPU forward fail ("mat2
    is on cpu, different from other tensors on cuda:0").  The move is simulated with the meta device.
    """
    build = ESCNN_ENCODERS[name]
    a, b = build(), build()

    def storage(m):
        return {t.data_ptr() for t in [*m.parameters(), *m.buffers()] if t.numel()}

    assert not storage(a) & storage(b)
    x = _images(2)
    with torch.no_grad():
        before = b.eval()(x)
        a.double().eval()  # eval() expands a's filters from its (now float64) basis
        assert a(x.double()).dtype == torch.float64
        b.train().eval()   # ... and b's from its own, still float32 on the CPU
        assert torch.equal(b(x), before)
        a.to("meta")
        b.train().eval()
        assert torch.equal(b(x), before)


@pytest.mark.parametrize("order", [8, 16])
def test_cyclic_encoder_latent_rolls_with_quarter_turns(order):
    model = CyclicSteerableCNN(order=order, fields=(2, 3, 4)).eval()
    with torch.no_grad():
        # rot90 by k (counter-clockwise) is the C_N element k*N/4: the group axis rolls by k*N/4
        assert_equivariant(model.encode, _images(), rot90_sampler(output_action=lambda z, k: roll_regular(z, k * order // 4)),
                           atol=ATOL, n_samples=4)
        assert_invariant(model, _images(), rot90_sampler(), atol=ATOL, n_samples=4)  # logits: group-pooled head


def test_cyclic_encoder_latent_is_not_trivially_invariant():
    """The latent carries the rotation (otherwise the equivariance test above would say nothing)."""
    model = CyclicSteerableCNN(order=8, fields=(2, 3, 4)).eval()
    with torch.no_grad():
        err = equivariance_error(model.encode, _images(), rot90_sampler(output_action=lambda z, k: z), n_samples=8)
    assert err > 1e-2


def test_so2_encoder_irreps_rotate_with_quarter_turns():
    model = SO2SteerableCNN(max_frequency=2, channels=(2, 3, 4), grid_size=8).eval()
    with torch.no_grad():
        assert_equivariant(model.encode, _images(),
                           rot90_sampler(output_action=lambda z, k: rotate_irreps(z, k * math.pi / 2)), atol=ATOL, n_samples=4)
        assert_invariant(model, _images(), rot90_sampler(), atol=ATOL, n_samples=4)


def test_irreps_action_matches_escnn_representation():
    """rotate_irreps is escnn's latent representation rho(theta) (checked on random angles)."""
    model = SO2SteerableCNN(max_frequency=3, channels=(2, 2, 3), grid_size=8)
    rep = model.latent_type.representations[0]
    z = torch.randn(5, 3, rep.size, dtype=torch.float64)
    for theta in (0.3, 1.7, 4.0):
        rho = torch.as_tensor(rep(model.gspace.fibergroup.element(theta)))
        assert torch.allclose(rotate_irreps(z, theta), z @ rho.T, atol=1e-10)


def test_regular_action_matches_escnn_representation():
    model = CyclicSteerableCNN(order=8, fields=(1, 1, 2))
    rep = model.latent_type.representations[0]
    z = torch.randn(4, 2, 8, dtype=torch.float64)
    for k in range(8):
        rho = torch.as_tensor(rep(model.gspace.fibergroup.element(k)))
        assert torch.allclose(roll_regular(z, k), z @ rho.T, atol=1e-12)


def test_field_action_helpers_are_group_actions():
    z = torch.randn(3, 2, 8)
    assert torch.equal(roll_regular(z, torch.tensor([1, 1, 1])), roll_regular(z, 1))
    assert torch.equal(all_rolls(z)[:, 3], roll_regular(z, 3))
    zi = torch.randn(3, 2, 7, dtype=torch.float64)
    assert torch.allclose(rotate_irreps(rotate_irreps(zi, 0.4), 1.1), rotate_irreps(zi, 1.5), atol=1e-12)
    per_sample = rotate_irreps(zi, torch.tensor([0.4, 0.4, 0.4], dtype=torch.float64))
    assert torch.allclose(per_sample, rotate_irreps(zi, 0.4), atol=1e-12)
    assert torch.allclose(all_irreps_rotations(zi, 4)[:, 1], rotate_irreps(zi, math.pi / 2), atol=1e-12)


def test_plain_cnn_shapes_and_augmentation_rotates_inputs():
    model = PlainCNN(channels=(4, 8, 8), augment_rotations=True)
    x = _images(4)
    assert model.encode(x).shape == (4, 8) and model(x).shape == (4, 10)
    torch.manual_seed(0)
    aug = model._augment(x)
    assert aug.shape == x.shape and not torch.allclose(aug, x)


@pytest.mark.parametrize("name", ["c8", "c16", "so2"])
def test_study_encoders_as_configured_are_equivariant(name, device, full_float32):
    """The study's own architectures (4 blocks, pooling after the first two, 29 -> 15 -> 8), scaled to a quarter width."""
    import hydra

    from eqlatent.runtime.config import compose

    cfg = compose(["experiment=images", f"model={name}", "profile.images.width=0.25"], with_hydra=False)
    model = hydra.utils.instantiate(cfg.model[name], _convert_="all").to(device).eval()
    if name == "so2":
        act = lambda z, k: rotate_irreps(z, k * math.pi / 2)  # noqa: E731
    else:
        act = lambda z, k: roll_regular(z, k * model.order // 4)  # noqa: E731
    x = _images().to(device)
    with torch.no_grad():
        assert_equivariant(model.encode, x, rot90_sampler(output_action=act), atol=ATOL, n_samples=4)
        assert_invariant(model, x, rot90_sampler(), atol=ATOL, n_samples=4)


def test_width_scales_every_block_and_rejects_nonsense():
    from eqlatent.errors import ConfigError
    from eqlatent.models.image_classifier import scaled_widths

    assert scaled_widths((8, 16, 24, 32), 0.25) == (2, 4, 6, 8)
    assert scaled_widths((1, 3), 0.1) == (1, 1)
    with pytest.raises(ConfigError, match="width"):
        scaled_widths((8,), 0.0)


def test_training_set_choice_is_checked():
    from eqlatent.errors import ConfigError

    assert PlainCNN(channels=(4, 8, 8), train_on="upright").train_on == "upright"
    with pytest.raises(ConfigError, match="train_on"):
        PlainCNN(channels=(4, 8, 8), train_on="sideways")


def test_label_smoothing_enters_the_training_loss_only():
    """Training loss: the smoothed cross-entropy, its formula written out by hand; validation loss stays plain."""
    import warnings

    import torch.nn.functional as F

    from eqlatent.errors import ConfigError

    x, y = _images(4), torch.tensor([0, 1, 2, 3])
    losses = {}
    for eps in (0.0, 0.3):
        torch.manual_seed(0)
        model = PlainCNN(channels=(4, 8, 8), label_smoothing=eps).eval()  # eval: batch-norm statistics fixed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # self.log outside a Trainer
            losses[eps] = model.training_step((x, y), 0).item()
        logged = {}
        model.log_dict = lambda metrics, **_: logged.update(metrics)
        model.validation_step((x, y), 0)
        logits = model(x)
        assert logged["val/loss"].item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)  # plain
        # by hand: (1 - eps) * NLL of the label + eps * mean over the 10 classes of -log p
        logp = logits.log_softmax(-1)
        by_hand = ((1 - eps) * -logp[torch.arange(4), y] + eps * -logp.mean(-1)).mean().item()
        assert losses[eps] == pytest.approx(by_hand, rel=1e-5)
        assert F.cross_entropy(logits, y).item() == pytest.approx(losses[0.0], rel=1e-5)  # same init, same plain loss
    assert losses[0.3] != pytest.approx(losses[0.0], rel=1e-3)
    with pytest.raises(ConfigError, match="label_smoothing"):
        PlainCNN(channels=(4, 8, 8), label_smoothing=1.0)


def test_warmup_cosine_schedule_rises_then_decays_to_zero():
    from eqlatent.models.image_classifier import warmup_cosine

    f = warmup_cosine(10)
    values = [f(i) for i in range(11)]
    assert values[0] == 0.5 and values[1] == 1.0          # 2 warm-up steps (20 % of 10)
    assert all(a >= b for a, b in zip(values[1:], values[2:]))  # then non-increasing
    assert values[-1] == pytest.approx(0.0)
    assert warmup_cosine(1)(0) == 1.0                     # defined for a single step too
