"""What only a CUDA device shows: the encoders on the GPU, and deterministic training steps there.

Every test here needs CUDA (``pytest -m gpu``; skipped elsewhere).  The tests of whole runs
on a GPU -- same seed, same metrics (tests/studies/test_determinism.py), a killed run resumed
(tests/studies/images/test_study.py, tests/studies/molecules/test_study.py) and the study encoders' equivariance
(tests/models/test_image_encoders.py) -- are the CPU tests' ``cuda`` cases (the ``device`` fixture).

Tolerances:

* equivariance and GPU-vs-CPU latents of the image encoders in full float32: 1e-4 absolute,
  as on the CPU (latents are O(0.1-10); float32 round-off measures ~1e-6);
* the same with TF32 on, as the studies run (``matmul_precision: high``, cuDNN's default for
  convolutions): 1e-3, the images study's own bound on a quarter turn's invariance error.
  TF32 keeps 10 mantissa bits of each factor; rounding the factors of every convolution so on
  the CPU gave equivariance errors up to 6e-5 (so2 at a quarter width);
* the graph VAE in float64: 1e-10, as on the CPU (tests/models/test_permutation_layers.py);
* two training steps from the same state under ``torch.use_deterministic_algorithms(True)``:
  bitwise equal gradients.  An op without a deterministic CUDA kernel would raise instead.
"""

from __future__ import annotations

import math

import pytest
import torch

from eqlatent.groups.layouts import roll_regular, rotate_irreps
from eqlatent.groups.equivariance import assert_equivariant, assert_invariant
from eqlatent.groups.samplers import GroupAction, rot90_sampler
from tests.helpers.synthetic import random_dense_graphs

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

DEVICE = "cuda"
ATOL = 1e-4        # image encoders, full float32
ATOL_TF32 = 1e-3   # image encoders, TF32 products
ATOL_F64 = 1e-10   # graph VAE, float64
IMAGE_ENCODERS = ["c8", "c16", "so2", "cnn_aug"]
VAE_OPTIONS = {
    "maron": {},
    "message_passing": {"encoder": "message_passing", "decoder": "attention", "width": 8, "encoder_layers": 2,
                        "decoder_layers": 2, "rbf_centres": 4},
    "pegvae": {"encoder": "pegvae", "decoder": "pegvae"},
    "valence": {"valence_decoding": True, "atom_types": ["C", "N", "O", "F"],
                "bond_types": ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]},
}


@pytest.fixture
def deterministic():
    """``torch.use_deterministic_algorithms(True)`` (what ``trainer.deterministic: true`` sets); restored after."""
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def _image_encoder(name: str):
    """The study's encoder ``name`` at a quarter width, in eval mode, on the CPU."""
    import hydra

    from eqlatent.runtime.config import compose

    cfg = compose(["experiment=images", f"model={name}", "profile.images.width=0.25"], with_hydra=False)
    return hydra.utils.instantiate(cfg.model[name], _convert_="all").eval()


def _images(n=6, seed=0):
    return torch.rand(n, 1, 29, 29, generator=torch.Generator().manual_seed(seed))


def _latent_action(name: str, model):
    if name == "so2":
        return lambda z, k: rotate_irreps(z, k * math.pi / 2)
    return lambda z, k: roll_regular(z, k * model.order // 4)


@pytest.mark.parametrize("name", IMAGE_ENCODERS)
def test_image_encoders_give_their_cpu_latents_on_the_gpu(name, full_float32):
    model = _image_encoder(name)
    x = _images()
    with torch.no_grad():
        on_cpu = model.encode(x)
        on_gpu = model.to(DEVICE).encode(x.to(DEVICE))
    assert on_gpu.device.type == DEVICE
    assert (on_gpu.cpu() - on_cpu).abs().max() <= ATOL


@pytest.mark.parametrize("name", ["c8", "c16", "so2"])
def test_image_encoders_stay_equivariant_with_tf32(name, tf32):
    model = _image_encoder(name).to(DEVICE)
    x = _images().to(DEVICE)
    with torch.no_grad():
        assert_equivariant(model.encode, x, rot90_sampler(output_action=_latent_action(name, model)), atol=ATOL_TF32,
                           n_samples=4)
        assert_invariant(model, x, rot90_sampler(), atol=ATOL_TF32, n_samples=4)


def test_plain_cnn_orbit_average_is_invariant_on_the_gpu(full_float32):
    """The plain CNN is not equivariant; averaged over the exact quarter-turn orbit its latent is invariant."""
    model = _image_encoder("cnn_aug").to(DEVICE)

    def orbit_mean(x):
        return torch.stack([model.encode(torch.rot90(x, k, dims=(-2, -1))) for k in range(4)]).mean(0)

    with torch.no_grad():
        assert_invariant(orbit_mean, _images().to(DEVICE), rot90_sampler(), atol=ATOL, n_samples=4)




def _vae(options: dict):
    from eqlatent.models.graph_vae import GraphVAE

    return GraphVAE(**({"n_atom_types": 4, "max_nodes": 7, "latent_dim": 2, "hidden": 8, "n_layers": 2} | options))


@pytest.mark.parametrize("kind", list(VAE_OPTIONS))
def test_graph_vae_is_permutation_equivariant_on_the_gpu(kind):
    model = _vae(VAE_OPTIONS[kind]).double().eval()
    node, bond = random_dense_graphs(5, 7, 4, torch.Generator().manual_seed(1))
    z = torch.randn(5, 7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        on_cpu = model.encode(node, bond), model.decode(z)
        model.to(DEVICE)
        node, bond, z = node.to(DEVICE), bond.to(DEVICE), z.to(DEVICE)
        on_gpu = model.encode(node, bond), model.decode(z)
    for a, b in zip([*on_cpu[0], *on_cpu[1]], [*on_gpu[0], *on_gpu[1]]):
        assert b.device.type == DEVICE and (b.cpu() - a).abs().max() <= ATOL_F64

    def graph_sampler(g):
        perm = torch.randperm(7, generator=g).to(DEVICE)
        return GroupAction(on_input=lambda x: (x[0][:, perm], x[1][:, perm][:, :, perm]),
                           on_output=lambda y: (y[0][:, perm], y[1][:, perm]))

    def latent_sampler(g):
        perm = torch.randperm(7, generator=g).to(DEVICE)
        return GroupAction(on_input=lambda z: z[:, perm],
                           on_output=lambda y: (y[0][:, perm], y[1][:, perm][:, :, perm]))

    with torch.no_grad():
        assert_equivariant(model.encode, (node, bond), graph_sampler, atol=ATOL_F64)
        assert_equivariant(model.decode, z, latent_sampler, atol=ATOL_F64)
        assert_equivariant(model.decode_graph, z, latent_sampler, atol=0)


def test_cuda_generator_state_round_trips_through_a_checkpoint():
    """The VAE's training noise is drawn on the GPU: a resumed run continues its generator, not the seed's."""
    import io

    from eqlatent.runtime.resume import RngStateCheckpoint

    cb, ckpt = RngStateCheckpoint(), {}
    torch.manual_seed(1)
    torch.randn(5, device=DEVICE)             # the generator has moved on from the seed
    cb.on_save_checkpoint(None, None, ckpt)
    expected = torch.randn(3, device=DEVICE)
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    buf.seek(0)
    torch.manual_seed(1)                      # what a resumed process does first
    cb.on_load_checkpoint(None, None, torch.load(buf, weights_only=True))
    assert torch.equal(torch.randn(3, device=DEVICE), expected)


def _gradients(model, loss_fn) -> list[torch.Tensor]:
    """Gradients of one training loss, its random draws (noise, augmentation) seeded alike each time."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    loss_fn().backward()
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def _quiet(model):
    """The model's own training step outside a Trainer: logging does nothing."""
    model.log = model.log_dict = lambda *args, **kwargs: None
    return model


@pytest.mark.parametrize("name", IMAGE_ENCODERS)
def test_image_training_steps_are_deterministic_on_the_gpu(name, deterministic):
    model = _quiet(_image_encoder(name).train().to(DEVICE))
    batch = _images(8).to(DEVICE), torch.arange(8, device=DEVICE) % 10
    first, second = (_gradients(model, lambda: model.training_step(batch, 0)) for _ in range(2))
    assert first and all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("kind", list(VAE_OPTIONS))
def test_graph_vae_training_steps_are_deterministic_on_the_gpu(kind, deterministic):
    model = _quiet(_vae(VAE_OPTIONS[kind]).train().to(DEVICE))
    node, bond = random_dense_graphs(8, 7, 4, torch.Generator().manual_seed(1))
    batch = node.to(DEVICE), bond.to(DEVICE)
    first, second = (_gradients(model, lambda: model.training_step(batch, 0)) for _ in range(2))
    assert first and all(torch.equal(a, b) for a, b in zip(first, second))


def test_compiled_graph_vae_trains_like_the_eager_one_on_the_gpu(full_float32):
    # compile="auto" on a GPU: torch.compile with CUDA graphs ("reduce-overhead"); a few training steps of the
    # pegvae VAE (the paper profile's) must follow the eager steps to float32 round-off, and really be compiled
    from torch._dynamo.utils import counters

    node, bond = random_dense_graphs(16, 9, 4, torch.Generator().manual_seed(4))
    batch = node.to(DEVICE), bond.to(DEVICE)
    eager = _quiet(_vae({"encoder": "pegvae", "decoder": "pegvae", "hidden": 20}).train().to(DEVICE))
    fast = _quiet(_vae({"encoder": "pegvae", "decoder": "pegvae", "hidden": 20, "compile": "auto"}).train().to(DEVICE))
    fast.load_state_dict(eager.state_dict())
    counters.clear()
    fast.on_fit_start()
    losses = []
    for model in (eager, fast):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        torch.manual_seed(0)
        steps = []
        for _ in range(4):
            opt.zero_grad(set_to_none=True)
            loss = model.training_step(batch, 0)
            loss.backward()
            opt.step()
            steps.append(float(loss))
        losses.append(steps)
    fast.on_fit_end()
    assert counters["stats"]["unique_graphs"] >= 2
    assert all(math.isclose(a, b, rel_tol=1e-4) for a, b in zip(*losses))
