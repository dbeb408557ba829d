"""Equivariance of every Maron layer and of the graph VAE's encoder/decoder under node permutations.

Tolerance: 1e-10 in float64 (the layers are exactly equivariant; only summation order differs).
Inputs are random synthetic tensors / synthetic random graphs, not molecules.
"""

from __future__ import annotations

import pytest
import torch

from eqlatent.models.graph_vae import GraphVAE
from eqlatent.models.permutation_layers import (Equivariant1to1, Equivariant1to2, Equivariant2to1, Equivariant2to2,
                                                basis_2_to_2)
from eqlatent.groups.equivariance import assert_equivariant, equivariance_error
from eqlatent.groups.samplers import node_permutation_sampler
from tests.helpers.synthetic import random_dense_graphs

ATOL = 1e-10


@pytest.fixture(autouse=True)
def _float64_one_thread():
    # one torch thread: on a shared 2-core machine the default (one per core) makes these small ops ~20x slower
    old, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(old)
    torch.set_num_threads(threads)


def _sampler(in_pair: bool, out_pair: bool):
    from eqlatent.groups.samplers import GroupAction

    def sample(g):
        perm = torch.randperm(7, generator=g)
        pair = lambda x: x[:, perm][:, :, perm]
        node = lambda x: x[:, perm]
        return GroupAction(on_input=pair if in_pair else node, on_output=pair if out_pair else node)

    return sample


@pytest.mark.parametrize("layer,in_pair,out_pair", [
    (Equivariant2to2(3, 5), True, True), (Equivariant1to2(3, 5), False, True),
    (Equivariant2to1(3, 5), True, False), (Equivariant1to1(3, 5), False, False),
])
def test_every_layer_is_permutation_equivariant(layer, in_pair, out_pair):
    layer = layer.double()
    x = torch.randn(4, 7, 7, 3) if in_pair else torch.randn(4, 7, 3)
    with torch.no_grad():
        assert_equivariant(layer, x, _sampler(in_pair, out_pair), atol=ATOL)


def test_the_fifteen_2to2_operations_are_linearly_independent():
    # Maron et al.: the 2->2 equivariant space has dimension 15 (for n >= 4); a rank below 15 means a duplicate op.
    n = 5
    basis = torch.eye(n * n).view(n * n, n, n, 1)                  # every unit input tensor
    ops = basis_2_to_2(basis)                                      # [n*n, n, n, 15]
    matrices = ops.permute(3, 0, 1, 2).reshape(15, -1)             # each op as a flattened (n*n x n*n) matrix
    assert torch.linalg.matrix_rank(matrices) == 15


def test_a_non_equivariant_map_fails_the_check():
    # guards against a sampler that does nothing: a fixed-position weighting is not equivariant
    w = torch.arange(7.0).view(1, 7, 1)
    err = equivariance_error(lambda x: x * w, torch.randn(2, 7, 3), _sampler(False, False))
    assert err > 0.1




@pytest.mark.parametrize("options", [
    {},
    {"rbf_centres": 6, "residual": True, "n_layers": 3, "bilinear_rank": 4},
    {"encoder": "message_passing", "decoder": "attention", "width": 8, "encoder_layers": 2, "decoder_layers": 2,
     "rbf_centres": 4},
    {"encoder": "pegvae", "decoder": "pegvae"},
    {"encoder": "pegvae", "decoder": "pegvae", "rbf_centres": 4},
    # valence-aware decoding breaks ties by slot index only; random latents have no ties
    {"valence_decoding": True, "atom_types": ["C", "N", "O", "F"], "bond_types": ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]},
])
def test_encoder_and_decoder_are_permutation_equivariant(options):
    from eqlatent.groups.samplers import GroupAction

    kwargs = {"n_atom_types": 4, "max_nodes": 7, "latent_dim": 2, "hidden": 8, "n_layers": 2} | options
    model = GraphVAE(**kwargs).double().eval()
    node, bond = random_dense_graphs(5, 7, 4, torch.Generator().manual_seed(1))

    def graph_sampler(g):
        perm = torch.randperm(7, generator=g)
        return GroupAction(on_input=lambda x: (x[0][:, perm], x[1][:, perm][:, :, perm]),
                           on_output=lambda y: (y[0][:, perm], y[1][:, perm]))

    assert_equivariant(model.encode, (node, bond), graph_sampler, atol=ATOL)

    def latent_sampler(g):
        perm = torch.randperm(7, generator=g)
        return GroupAction(on_input=lambda z: z[:, perm],
                           on_output=lambda y: (y[0][:, perm], y[1][:, perm][:, :, perm]))

    assert_equivariant(model.decode, torch.randn(5, 7, 2), latent_sampler, atol=ATOL)
    assert_equivariant(model.decode_graph, torch.randn(5, 7, 2), latent_sampler, atol=0)


def test_unknown_encoder_or_decoder_names_the_choices():
    with pytest.raises(ValueError, match="use 'maron', 'message_passing' or 'pegvae'"):
        GraphVAE(n_atom_types=4, max_nodes=5, encoder="gat")
    with pytest.raises(ValueError, match="use 'maron', 'attention' or 'pegvae'"):
        GraphVAE(n_atom_types=4, max_nodes=5, decoder="mlp")


def test_message_passing_encoder_reads_the_bonds():
    # messages travel along the bond channels of the pair tensor: removing one bond must change the codes
    model = GraphVAE(n_atom_types=4, max_nodes=5, encoder="message_passing", decoder="attention", width=8,
                     encoder_layers=2, decoder_layers=1).double().eval()
    node = torch.tensor([[0, 1, 0, -1, -1]])
    bond = torch.zeros(1, 5, 5, dtype=torch.long)
    bond[0, 0, 1] = bond[0, 1, 0] = 1
    bond[0, 1, 2] = bond[0, 2, 1] = 2
    cut = bond.clone()
    cut[0, 1, 2] = cut[0, 2, 1] = 0
    mu, _ = model.encode(node, bond)
    mu_cut, _ = model.encode(node, cut)
    assert (mu - mu_cut).abs().max() > 1e-6


@pytest.mark.parametrize("decoder", ["maron", "attention", "pegvae"])
def test_decoded_bond_logits_are_symmetric(decoder):
    model = GraphVAE(n_atom_types=4, max_nodes=6, decoder=decoder, width=8, decoder_layers=1, hidden=8,
                     n_layers=2).double().eval()
    _, bond_logits = model.decode(torch.randn(3, 6, 1, dtype=torch.float64))
    assert torch.allclose(bond_logits, bond_logits.transpose(1, 2), atol=1e-12)


def test_vae_learns_to_reconstruct_a_tiny_synthetic_set():
    # a learning sanity check, not a benchmark: 16 synthetic graphs, full batch, 150 Adam steps
    torch.manual_seed(0)
    model = GraphVAE(n_atom_types=3, max_nodes=5, latent_dim=2, hidden=16, n_layers=2, lr=3e-3, kl_weight=0.0)
    node, bond = random_dense_graphs(16, 5, 3, torch.Generator().manual_seed(2))
    opt = model.configure_optimizers()
    model.train()
    first = None
    for step in range(150):
        opt.zero_grad()
        loss = _loss(model, node, bond)
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss)
    assert float(loss) < 0.5 * first


def _loss(model, node, bond):
    import torch.nn.functional as F
    mu, logvar = model.encode(node, bond)
    node_logits, bond_logits = model.decode(mu)
    return (F.cross_entropy(node_logits.flatten(0, 1), (node + 1).flatten())
            + F.cross_entropy(bond_logits.flatten(0, 2), bond.flatten()))


@pytest.mark.parametrize("layer,in_pair", [(Equivariant2to2(3, 5), True), (Equivariant1to2(3, 5), False),
                                           (Equivariant2to1(3, 5), True), (Equivariant1to1(3, 5), False)])
def test_fast_forward_equals_the_stacked_basis(layer, in_pair):
    # the optimised forward must be exactly mix(basis(x)) plus the diagonal bias
    layer = layer.double()
    with torch.no_grad():
        layer.mix.bias.normal_()
        if layer.diag_bias is not None:
            layer.diag_bias.normal_()
        x = torch.randn(3, 6, 6, 3) if in_pair else torch.randn(3, 6, 3)
        assert torch.allclose(layer(x), layer.reference_forward(x), atol=1e-12)


def test_fast_forward_gradients_equal_the_stacked_basis():
    # the weight blocks are gathered with an index: their gradients must land on the right entries of mix.weight
    layer = Equivariant2to2(3, 5).double()
    x = torch.randn(3, 6, 6, 3)
    (layer(x) ** 2).sum().backward()
    fast = layer.mix.weight.grad.clone()
    layer.mix.weight.grad = None
    (layer.reference_forward(x) ** 2).sum().backward()
    assert torch.allclose(fast, layer.mix.weight.grad, atol=1e-10)


def test_compiled_training_step_equals_the_eager_one():
    # compile=True trains through torch.compile'd copies of encoder and decoder: same loss and gradients
    # (float64, default inductor on the CPU; checkpoints keep the plain module's keys)
    import warnings

    kwargs = {"n_atom_types": 4, "max_nodes": 6, "latent_dim": 1, "hidden": 4, "encoder": "pegvae", "decoder": "pegvae"}
    eager = GraphVAE(**kwargs).double().train()
    fast = GraphVAE(**kwargs, compile=True).double().train()
    fast.load_state_dict(eager.state_dict())
    node, bond = random_dense_graphs(8, 6, 4, torch.Generator().manual_seed(3))
    from torch._dynamo.utils import counters

    counters.clear()
    losses = []
    for model in (eager, fast):
        model.on_fit_start()
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # self.log() outside a Trainer only warns
            loss = model._step((node, bond), "train")
        loss.backward()
        losses.append(loss.detach())
        model.on_fit_end()
    assert counters["stats"]["unique_graphs"] >= 2     # both really compiled (no silent fallback to eager)
    assert fast._compiled is None and list(fast.state_dict()) == list(eager.state_dict())
    assert torch.allclose(losses[0], losses[1], atol=1e-10)
    for p_eager, p_fast in zip(eager.parameters(), fast.parameters()):
        assert torch.allclose(p_eager.grad, p_fast.grad, atol=1e-9)


def test_compile_setting_is_checked():
    with pytest.raises(ValueError, match="use true, false or auto"):
        GraphVAE(n_atom_types=4, max_nodes=5, compile="yes")


class _NormRecorder(GraphVAE):
    """Records the whole gradient's norm at every optimizer step, right after the clipping hook."""

    norms: list[float]

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
        grads = [p.grad.norm() for p in self.parameters() if p.grad is not None]
        self.__dict__.setdefault("norms", []).append(float(torch.linalg.vector_norm(torch.stack(grads))))


@pytest.mark.parametrize("grad_clip", [0.0, 1e-3])
def test_grad_clip_bounds_every_step_of_a_fit(grad_clip):
    import lightning as L

    node, bond = random_dense_graphs(16, 5, 3, torch.Generator().manual_seed(2))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(node, bond), batch_size=8)
    torch.manual_seed(0)
    model = _NormRecorder(n_atom_types=3, max_nodes=5, latent_dim=1, hidden=8, n_layers=1, grad_clip=grad_clip)
    L.Trainer(max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, accelerator="cpu").fit(model, loader)
    assert len(model.norms) == 4
    if grad_clip:
        assert max(model.norms) <= grad_clip * (1 + 1e-5)
    else:
        assert min(model.norms) > 1e-2   # what the clipped fit would have cut
    with pytest.raises(ValueError, match="grad_clip=-1 must be >= 0"):
        GraphVAE(n_atom_types=4, max_nodes=5, grad_clip=-1)


def test_init_logvar_sets_the_posterior_noise_at_the_start_and_nothing_else():
    kw = dict(n_atom_types=4, max_nodes=5, latent_dim=2, encoder="message_passing", decoder="attention")
    torch.manual_seed(0)
    plain = GraphVAE(**kw)
    torch.manual_seed(0)
    small = GraphVAE(**kw, init_logvar=-6.0)
    node, bond = random_dense_graphs(4, 5, 4, torch.Generator().manual_seed(1))
    (mu0, lv0), (mu1, lv1) = plain.encode(node, bond), small.encode(node, bond)
    assert torch.equal(mu0, mu1)                                   # the same draw: only the log-variance bias moved
    assert torch.allclose(lv1, lv0 - plain.encoder.head[-1].bias[2:] - 6.0)
    with pytest.raises(ValueError, match="init_logvar=-6.0 needs encoder='message_passing'"):
        GraphVAE(n_atom_types=4, max_nodes=5, init_logvar=-6.0)


@pytest.mark.parametrize("kernel, fused, foreach", [("auto", False, False), ("single_tensor", False, False),
                                                    ("fused", True, False), ("foreach", False, True)])
def test_adam_kernel_selects_that_implementation_on_a_cpu(kernel, fused, foreach):
    opt = GraphVAE(n_atom_types=4, max_nodes=5, adam_kernel=kernel).configure_optimizers()
    assert (opt.defaults["fused"], opt.defaults["foreach"]) == (fused, foreach)
    with pytest.raises(ValueError, match="adam_kernel='adamw' is not known"):
        GraphVAE(n_atom_types=4, max_nodes=5, adam_kernel="adamw")



class _NaNInValidation(GraphVAE):
    """Finite training losses, a NaN validation loss (its KL weight)."""

    def kl_beta(self) -> float:
        return super().kl_beta() if self.training else float("nan")


def test_a_nan_validation_loss_stops_the_fit_before_the_epoch_is_saved(tmp_path):
    # the step only flags a non-finite loss on the device; the flag must be raised before ModelCheckpoint saves the
    # epoch (a re-run would resume from a diverged last.ckpt).  With validation every epoch Lightning saves after
    # on_train_epoch_end; with validation every other epoch (or several per epoch) it saves in on_validation_end
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch.utils.data import DataLoader, TensorDataset

    node, bond = random_dense_graphs(8, 5, 3, torch.Generator().manual_seed(2))
    data = DataLoader(TensorDataset(node, bond), batch_size=4)

    def fit(model_class, folder):
        trainer = L.Trainer(max_epochs=2, check_val_every_n_epoch=2, accelerator="cpu", logger=False,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                            callbacks=[ModelCheckpoint(dirpath=folder, save_last=True)])
        trainer.fit(model_class(n_atom_types=3, max_nodes=5, hidden=4, n_layers=2), data, data)

    fit(GraphVAE, tmp_path / "finite")
    assert (tmp_path / "finite" / "last.ckpt").is_file()        # the same fit with finite losses saves its epoch
    with pytest.raises(FloatingPointError, match="non-finite in epoch 1"):
        fit(_NaNInValidation, tmp_path / "nan")
    assert not (tmp_path / "nan").exists()
