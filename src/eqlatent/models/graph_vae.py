"""Permutation-equivariant graph VAE on dense molecular graphs (a LightningModule).

Why this model: its latent is one vector per node slot, and both encoder and decoder
commute with any permutation of the slots.  So a molecule's latent is only defined up
to a node permutation -- exactly the ambiguity the paper's claim 1 is about.  The
design follows the first author's PEGVAE: Maron-style equivariant linear layers
(:mod:`eqlatent.models.permutation_layers`), ``latent_dim`` numbers per node (1 by
default), reconstruction loss plus a KL term whose weight is phased in.

Every one of the ``max_nodes`` slots is a node for the group: empty (padding) slots are
an extra node class ("empty"), so the encoder gives them a latent too and the decoder
decides from the latent which slots hold atoms.  The group is therefore ``S_max_nodes``
acting on all slots, and no mask is needed downstream.

Inputs per batch: ``node_type [B, n]`` (index into the atom types, -1 = empty) and
``bond_type [B, n, n]`` (0 = no bond, k = bond type k).  The encoder sees a pair tensor
with one-hot bonds off the diagonal and one-hot node classes on the diagonal.
"""

from __future__ import annotations

import math

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eqlatent.models.attention_decoder import AttentionDecoder
from eqlatent.models.message_passing_encoder import MessagePassingEncoder
from eqlatent.models.pegvae_stacks import PegvaeDecoder, PegvaeEncoder
from eqlatent.models.permutation_layers import Equivariant1to1, Equivariant1to2, Equivariant2to1, Equivariant2to2
from eqlatent.models.valence_decoding import bond_orders_for, valence_decode, valences_for


def off_diagonal(n: int, device: torch.device | None = None) -> Tensor:
    """``[n, n]`` bool mask of the pairs of distinct nodes (False on the diagonal: no node bonds with itself)."""
    return ~torch.eye(n, dtype=torch.bool, device=device)


#: settings added after models were trained without them, at the value that computes what those models did:
#: left out of the training fingerprint at this value, so a folder trained before they existed is still reused
NEUTRAL_SETTINGS = {"adam_kernel": "auto", "grad_clip": 0.0, "init_logvar": 0.0, "adam_beta2": 0.999}
#: torch's Adam implementations (``GraphVAE(adam_kernel=...)``)
ADAM_KERNELS = ("auto", "fused", "foreach", "single_tensor")
#: slot pairs decoded at once by :meth:`GraphVAE.decode_graph` (~0.5 GB per float64 pair tensor of width 64)
DECODE_PAIRS = 2 ** 20


def adam_kernel_options(kernel: str, on_gpu: bool) -> dict[str, bool]:
    """``torch.optim.Adam`` keyword arguments selecting ``kernel``; ``"auto"``: fused on a GPU, the loop on a CPU.

    Why a choice at all: the three kernels round differently, so a trained model's numbers must
    not depend on which one ran (``benchmarks/vae_robustness.py`` trains with each).
    """
    if kernel == "auto":
        kernel = "fused" if on_gpu else "single_tensor"
    return {"fused": kernel == "fused", "foreach": kernel == "foreach"}


def pair_input(node_type: Tensor, bond_type: Tensor, n_atom_types: int, n_bond_types: int) -> Tensor:
    """One-hot pair tensor ``[B, n, n, n_bond_types + n_atom_types + 1]`` (bonds off-diagonal, node class on it)."""
    b, n = node_type.shape
    bonds = F.one_hot(bond_type.long().clamp(min=0), n_bond_types + 1)[..., 1:].to(torch.get_default_dtype())
    nodes = F.one_hot(node_type.long() + 1, n_atom_types + 1).to(bonds.dtype)          # class 0 = empty
    eye = torch.eye(n, dtype=bonds.dtype, device=bonds.device).view(1, n, n, 1)
    return torch.cat([bonds, eye * nodes.unsqueeze(2)], dim=-1)


class PairStack(nn.Module):
    """``n`` hidden->hidden pair layers with ReLU; ``residual``: ``x + layer(norm(x))`` (pre-norm residual blocks).

    Why residual blocks: they let the deeper pair stacks train in the few epochs a CPU
    budget allows.  LayerNorm acts on each pair's channels alone, so the stack stays
    permutation-equivariant.
    """

    def __init__(self, hidden: int, n: int, residual: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList([Equivariant2to2(hidden, hidden) for _ in range(n)])
        self.norms = nn.ModuleList([nn.LayerNorm(hidden) for _ in range(n)]) if residual else None

    def forward(self, x: Tensor) -> Tensor:
        for k, layer in enumerate(self.layers):
            x = x + F.relu(layer(self.norms[k](x))) if self.norms is not None else F.relu(layer(x))
        return x


class GraphEncoder(nn.Module):
    """Pair tensor -> per-node posterior ``(mu, logvar)``, each ``[B, n, latent_dim]``; S_n-equivariant."""

    def __init__(self, in_channels: int, hidden: int, n_layers: int, latent_dim: int, residual: bool = False) -> None:
        super().__init__()
        self.pair_in = Equivariant2to2(in_channels, hidden)
        self.pair_layers = PairStack(hidden, n_layers - 1, residual)
        self.to_nodes = Equivariant2to1(hidden, hidden)
        self.node_layer = Equivariant1to1(hidden, hidden)
        self.head = Equivariant1to1(hidden, 2 * latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.pair_layers(F.relu(self.pair_in(x)))
        h = F.relu(self.node_layer(F.relu(self.to_nodes(x))))
        mu, logvar = self.head(h).chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 6.0)


class RadialFeatures(nn.Module):
    """Each latent number ``z`` -> ``[z, exp(-((z - c_k) / w)^2) for k < K]``, centres ``c_k`` evenly in [-r, r].

    Why: the decoder must tell apart nodes whose one latent number differs by a few
    hundredths (that is how a 1-D per-node latent carries a whole graph).  ReLU layers
    learn such sharp functions of a scalar slowly; fixed radial bumps hand them over at
    once.  The map acts on every node alike, so it is permutation-equivariant.
    """

    def __init__(self, n_centres: int, radius: float = 4.0) -> None:
        super().__init__()
        self.register_buffer("centres", torch.linspace(-radius, radius, n_centres), persistent=False)
        self.width = 2 * radius / max(n_centres - 1, 1)

    def forward(self, z: Tensor) -> Tensor:
        bumps = torch.exp(-((z.unsqueeze(-1) - self.centres.to(z.dtype)) / self.width) ** 2)
        return torch.cat([z, bumps.flatten(-2)], dim=-1)


def latent_features(latent_dim: int, rbf_centres: int) -> tuple[nn.Module, int]:
    """The decoders' input map of each latent number and its output width (``rbf_centres = 0``: the latent alone)."""
    if rbf_centres <= 0:
        return nn.Identity(), latent_dim
    return RadialFeatures(rbf_centres), latent_dim * (1 + rbf_centres)


class BilinearBondHead(nn.Module):
    """Node features ``[B, n, C]`` -> bond logits ``[B, n, n, K]``: ``sum_r u_ir^k s_r^k u_jr^k`` per bond class k.

    Why: the pair layers are the costly part of the model (``n^2`` entries), so they stay
    narrow; a wide node MLP (with the set's mean as context, DeepSets) feeding a low-rank
    symmetric bilinear form adds pairwise capacity at node cost.  Acting on every pair
    alike, it keeps the decoder permutation-equivariant.
    """

    def __init__(self, in_channels: int, width: int, rank: int, n_classes: int) -> None:
        super().__init__()
        self.mlp = nn.ModuleList([Equivariant1to1(in_channels, width), Equivariant1to1(width, width)])
        self.proj = nn.Linear(width, n_classes * rank)
        self.scale = nn.Parameter(torch.randn(n_classes, rank) / math.sqrt(rank))
        self.n_classes, self.rank = n_classes, rank

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.mlp:
            x = F.relu(layer(x))
        u = self.proj(x).unflatten(-1, (self.n_classes, self.rank))                  # [B, n, K, r]
        return torch.einsum("bikr,kr,bjkr->bijk", u, self.scale, u)


class GraphDecoder(nn.Module):
    """Per-node latents ``[B, n, d]`` -> node-class logits ``[B, n, A+1]`` and bond logits ``[B, n, n, K+1]``."""

    def __init__(self, latent_dim: int, hidden: int, n_layers: int, n_node_classes: int, n_bond_classes: int,
                 rbf_centres: int = 0, residual: bool = False, bilinear_rank: int = 0) -> None:
        super().__init__()
        self.features, n_in = latent_features(latent_dim, rbf_centres)
        self.node_in = Equivariant1to1(n_in, hidden)
        self.node_mid = Equivariant1to1(hidden, hidden)
        self.node_head = Equivariant1to1(hidden, n_node_classes)
        self.to_pairs = Equivariant1to2(hidden, hidden)
        self.pair_layers = PairStack(hidden, n_layers - 1, residual)
        self.bond_head = Equivariant2to2(hidden, n_bond_classes)
        self.bilinear = (BilinearBondHead(n_in, 4 * hidden, bilinear_rank, n_bond_classes) if bilinear_rank > 0
                         else None)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        f = self.features(z)
        h = F.relu(self.node_mid(F.relu(self.node_in(f))))
        node_logits = self.node_head(h)
        bond_logits = self.bond_head(self.pair_layers(F.relu(self.to_pairs(h))))
        if self.bilinear is not None:
            bond_logits = bond_logits + self.bilinear(f)
        return node_logits, 0.5 * (bond_logits + bond_logits.transpose(1, 2))   # undirected bonds


def compiled(module: nn.Module, on_gpu: bool) -> nn.Module:
    """``torch.compile`` of ``module`` for training: fused kernels, and CUDA graphs on a GPU.

    Why: a training step of the graph VAE is a few thousand small kernels, so on a GPU it
    is bound by launches, not arithmetic; compiling fuses them (measured on CPU: the paper
    profile's step drops from ~5,300 to ~1,400 profiler events) and ``reduce-overhead``
    replays the step as CUDA graphs (``on_gpu``: the module trains on a GPU).  The compiled
    wrapper shares the module's parameters and is kept outside the module tree, so
    checkpoints and state dicts are unchanged.  A host without a working compiler backend
    falls back to eager with one warning instead of failing the run.
    """
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    return torch.compile(module, mode="reduce-overhead" if on_gpu else "default")


def one_cycle(step: int, total: int, warmup: float = 0.1, floor: float = 1e-3) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` of the run, then cosine decay to ``floor``."""
    w = max(int(warmup * total), 1)
    if step < w:
        return floor + (1 - floor) * step / w
    t = min((step - w) / max(total - w, 1), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


class GraphVAE(L.LightningModule):
    """Permutation-equivariant VAE for dense molecular graphs.

    Parameters
    ----------
    n_atom_types, n_bond_types:
        Sizes of the atom and bond vocabularies (padding and "no bond" are added inside).
    max_nodes:
        Number of node slots (recorded for checkpoints; the layers work for any n).
    latent_dim:
        Numbers per node in the latent (1 in the author's code; claim 1 needs 1).
    hidden, n_layers:
        Channel width and number of pair (2->2) layers in encoder and decoder.
    lr:
        Adam learning rate.
    kl_weight, kl_warmup_epochs:
        Final KL weight, reached linearly over the first ``kl_warmup_epochs`` epochs
        (warm-up keeps the decoder from ignoring the latent early on).
    bond_weight:
        Extra weight of the present-bond classes in the bond loss (most pairs are "no bond").
    rbf_centres:
        Radial features per latent number fed to the decoder (0 = the latent alone); see
        :class:`RadialFeatures`.
    bilinear_rank:
        Rank of an extra bilinear bond head on wide node features (0 = none); see
        :class:`BilinearBondHead`.
    residual:
        Pre-norm residual blocks in the pair stacks (:class:`PairStack`).
    encoder, decoder:
        ``"pegvae"`` (the first author's PEGVAE stacks, width ``hidden``:
        :mod:`eqlatent.models.pegvae_stacks`), ``"maron"`` (deeper Maron 2->2 pair stacks,
        :class:`GraphEncoder` / :class:`GraphDecoder`) or ``"message_passing"`` / ``"attention"``
        (:class:`~eqlatent.models.message_passing_encoder.MessagePassingEncoder`,
        :class:`~eqlatent.models.attention_decoder.AttentionDecoder`), which learn far faster
        per CPU second at the same per-node latent.
    width, encoder_layers, decoder_layers:
        Node width and depth of the message-passing encoder and the attention decoder
        (unused by the Maron stacks, which use ``hidden`` and ``n_layers``).
    lr_schedule:
        ``"constant"``, ``"onecycle"`` (warm-up, then cosine decay over the run) or
        ``"plateau"`` (the first author's: halve the rate after 150 epochs without a better
        validation loss).
    compile:
        Train through ``torch.compile``-d encoder and decoder (:func:`compiled`); the maths
        is the same, the step launches far fewer kernels.  ``"auto"``: only when training
        on a GPU (on a CPU the first step would compile for a minute or two).
    adam_kernel:
        Which of torch's Adam implementations updates the weights: ``"auto"`` (fused on a GPU,
        the single-tensor loop on a CPU), ``"fused"``, ``"foreach"`` or ``"single_tensor"``.
        Each rounds differently; the choice exists to show that a result does not hang on it
        (``benchmarks/vae_robustness.py``).
    grad_clip:
        Largest norm of the whole gradient per step (0 = no clipping).  A model setting, not a
        Trainer one, so that it is part of the training fingerprint: a folder trained otherwise
        is not reused.
    init_logvar:
        Initial posterior log-variance of every latent number (the bias of the message-passing
        encoder's log-variance head; 0 = PyTorch's default initialisation).  Why: at 0 the
        training noise (sd 1) is several radial-feature widths wide, so the decoder cannot read
        the posterior means until the encoder has shrunk the noise, a slow phase whose length
        varies with the seed.
    adam_beta2:
        Adam's second-moment decay (torch's default 0.999).  Why a setting: with 0.999 the
        step size lags ~1000 steps behind a sudden rise of the gradient scale, which is when
        a run at the one-cycle peak rate can blow up; a shorter memory (0.98-0.99, as is usual
        for attention models) damps such spikes.
    valence_decoding, atom_types, bond_types:
        Decode bonds greedily within each atom's valence (:meth:`decode_graph`); needs the
        dataset's atom and bond vocabularies.
    """

    def __init__(self, n_atom_types: int, max_nodes: int, latent_dim: int = 1, hidden: int = 32, n_layers: int = 3,
                 lr: float = 1e-3, kl_weight: float = 0.5, kl_warmup_epochs: int = 10, n_bond_types: int = 4,
                 bond_weight: float = 1.0, rbf_centres: int = 0, bilinear_rank: int = 0, residual: bool = False,
                 lr_schedule: str = "constant", encoder: str = "maron", decoder: str = "maron", width: int = 64,
                 encoder_layers: int = 4, decoder_layers: int = 3,
                 valence_decoding: bool = False, atom_types: list[str] | None = None,
                 bond_types: list[str] | None = None, compile: bool | str = False,
                 adam_kernel: str = "auto", grad_clip: float = 0.0, init_logvar: float = 0.0,
                 adam_beta2: float = 0.999) -> None:
        super().__init__()
        if lr_schedule not in ("constant", "onecycle", "plateau"):
            raise ValueError(f"lr_schedule={lr_schedule!r} is not known; use 'constant', 'onecycle' or 'plateau'")
        if valence_decoding and (atom_types is None or bond_types is None):
            raise ValueError("valence_decoding needs atom_types and bond_types; pass the dataset's vocabularies")
        if encoder not in ("maron", "message_passing", "pegvae"):
            raise ValueError(f"encoder={encoder!r} is not known; use 'maron', 'message_passing' or 'pegvae'")
        if compile not in (True, False, "auto"):
            raise ValueError(f"compile={compile!r} is not known; use true, false or auto (compile on a GPU only)")
        if not float(grad_clip) >= 0:
            raise ValueError(f"grad_clip={grad_clip!r} must be >= 0 (0 = no clipping)")
        if not 0.0 <= float(adam_beta2) < 1.0:
            raise ValueError(f"adam_beta2={adam_beta2!r} must be in [0, 1) (Adam's second-moment decay; 0.999 = torch's)")
        if adam_kernel not in ADAM_KERNELS:
            raise ValueError(f"adam_kernel={adam_kernel!r} is not known; use one of {', '.join(ADAM_KERNELS)}")
        if decoder not in ("maron", "attention", "pegvae"):
            raise ValueError(f"decoder={decoder!r} is not known; use 'maron', 'attention' or 'pegvae'")
        self.save_hyperparameters()
        self.max_valence = valences_for(atom_types) if valence_decoding else None
        self.bond_order = bond_orders_for(bond_types) if valence_decoding else None
        self.n_atom_types, self.n_bond_types, self.latent_dim = n_atom_types, n_bond_types, latent_dim
        if encoder == "maron":
            self.encoder = GraphEncoder(n_bond_types + n_atom_types + 1, hidden, n_layers, latent_dim, residual)
        elif encoder == "pegvae":
            self.encoder = PegvaeEncoder(n_bond_types, n_atom_types + 1, hidden, latent_dim)
        else:
            self.encoder = MessagePassingEncoder(n_bond_types, n_atom_types + 1, width, encoder_layers, latent_dim)
        if init_logvar:
            if encoder != "message_passing":
                raise ValueError(f"init_logvar={init_logvar} needs encoder='message_passing'; leave it 0 for {encoder!r}")
            with torch.no_grad():   # the posterior's log-variance starts at init_logvar (no random draw: seeds unchanged)
                self.encoder.head[-1].bias[latent_dim:].fill_(float(init_logvar))
        if decoder == "maron":
            self.decoder = GraphDecoder(latent_dim, hidden, n_layers, n_atom_types + 1, n_bond_types + 1, rbf_centres,
                                        residual, bilinear_rank)
        elif decoder == "pegvae":
            self.decoder = PegvaeDecoder(*latent_features(latent_dim, rbf_centres), hidden, n_atom_types + 1,
                                         n_bond_types + 1)
        else:
            self.decoder = AttentionDecoder(*latent_features(latent_dim, rbf_centres), width, decoder_layers,
                                            n_atom_types + 1, n_bond_types + 1)
        weights = torch.ones(n_bond_types + 1)
        weights[1:] = bond_weight
        self.register_buffer("bond_class_weight", weights, persistent=False)
        # run-time state, never saved: the compiled encoder/decoder of a fit (on_fit_start), a device flag of a
        # non-finite loss since the last check (_step)
        self._compiled: tuple[nn.Module, nn.Module] | None = None
        self._not_finite: Tensor | bool = False

    # ------------------------------------------------------------------ model
    def encode(self, node_type: Tensor, bond_type: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance ``[B, n, latent_dim]`` of a batch of dense graphs."""
        return self.encoder(self._pairs(node_type, bond_type))

    def _pairs(self, node_type: Tensor, bond_type: Tensor) -> Tensor:
        return pair_input(node_type, bond_type, self.n_atom_types, self.n_bond_types).to(self.dtype_of_params())

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Node-class logits ``[B, n, A+1]`` (class 0 = empty) and bond logits ``[B, n, n, K+1]``."""
        return self.decoder(z.to(self.dtype_of_params()))

    @torch.no_grad()
    def decode_graph(self, z: Tensor, valence: bool | None = None) -> tuple[Tensor, Tensor]:
        """Most likely graph: ``node_type [B, n]`` (-1 = empty) and ``bond_type [B, n, n]`` (0 on empty rows).

        Bonds are the per-pair argmax, or -- when the model was built with ``max_valence`` --
        the valence-aware greedy choice (:mod:`eqlatent.models.valence_decoding`), which
        equals the argmax whenever that already respects every atom's valence.  ``valence``
        overrides the model's setting (False: plain argmax, e.g. to score the raw decoder).

        Molecules are decoded in chunks of at most :data:`DECODE_PAIRS` slot pairs: the decoder
        holds ``[B, n, n, width]`` pair tensors, so a whole ZINC test split at once (10,000
        molecules of 38 slots, in float64) needed tens of GB.  Every molecule is decoded on its
        own, so the chunks change nothing but the peak memory.  No gradients: the outputs are argmaxes.
        """
        use_valence = self.max_valence is not None if valence is None else valence
        if use_valence and self.max_valence is None:
            raise ValueError("this model has no valences; build it with valence_decoding=True and the vocabularies")
        chunk = max(1, DECODE_PAIRS // max(1, z.shape[1] ** 2))
        parts = [self._decode_chunk(z[start:start + chunk], use_valence) for start in range(0, z.shape[0], chunk)]
        if len(parts) == 1:
            return parts[0]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def _decode_chunk(self, z: Tensor, use_valence: bool) -> tuple[Tensor, Tensor]:
        node_logits, bond_logits = self.decode(z)
        node_type = node_logits.argmax(-1) - 1
        if use_valence:
            return node_type, valence_decode(node_type.cpu(), bond_logits.cpu(), self.max_valence,
                                             self.bond_order).to(node_type.device)
        bond_type = bond_logits.argmax(-1)
        real = node_type >= 0
        n = bond_type.shape[1]
        keep = real.unsqueeze(2) & real.unsqueeze(1) & off_diagonal(n, z.device)
        return node_type, bond_type * keep

    def dtype_of_params(self) -> torch.dtype:
        return next(self.parameters()).dtype

    # ------------------------------------------------------------------ training
    def kl_beta(self) -> float:
        """KL weight for the current epoch (linear warm-up to ``kl_weight``)."""
        warm = max(int(self.hparams.kl_warmup_epochs), 1)
        return float(self.hparams.kl_weight) * min(1.0, (self.current_epoch + 1) / warm)

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        """Loss and metrics of one batch, without a host synchronisation.

        Why no sync: on a GPU a step of this model is a few thousand small kernels, and a
        ``float(loss)`` or a boolean-mask index (which must learn the mask's size on the
        host) would stall the queue every step.  Pairs are weighted with the off-diagonal
        mask instead of indexed with it, and a non-finite loss is remembered on the device
        and raised once per epoch (:meth:`_raise_if_not_finite`).
        """
        node_type, bond_type = batch
        encoder, decoder = self._compiled or (self.encoder, self.decoder)
        mu, logvar = encoder(self._pairs(node_type, bond_type))
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        node_logits, bond_logits = decoder(z)
        b, n = node_type.shape
        node_nll = F.cross_entropy(node_logits.reshape(b * n, -1), (node_type + 1).reshape(-1), reduction="sum") / b
        off = off_diagonal(n, z.device).to(torch.get_default_dtype())           # [n, n] of 0. / 1.
        pair_nll = F.cross_entropy(bond_logits.permute(0, 3, 1, 2), bond_type.long(), weight=self.bond_class_weight,
                                   reduction="none")                            # [B, n, n]
        bond_nll = (pair_nll * off).sum() / (2 * b)          # each undirected pair counted twice
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum() / b
        beta = self.kl_beta()
        loss = node_nll + bond_nll + beta * kl
        with torch.no_grad():
            node_ok = node_logits.argmax(-1) - 1 == node_type
            bond_hit = (bond_logits.argmax(-1) == bond_type).to(off.dtype) * off  # correct off-diagonal pairs
            graph_ok = node_ok.all(1) & (bond_hit.sum((1, 2)) == n * (n - 1))
            self._not_finite = ~torch.isfinite(loss.detach()) | self._not_finite
        self.log_dict({f"{stage}/loss": loss, f"{stage}/recon_nodes": node_nll, f"{stage}/recon_bonds": bond_nll,
                       f"{stage}/kl": kl, f"{stage}/node_acc": node_ok.float().mean(),
                       f"{stage}/bond_acc": bond_hit.sum() / (b * n * (n - 1)), f"{stage}/graph_acc": graph_ok.float().mean()},
                      prog_bar=stage == "val", on_epoch=True, on_step=False, batch_size=b, sync_dist=True)
        if stage == "train":   # sync_dist: epoch means over every rank's batches under DDP (one reduction per epoch)
            self.log("train/kl_beta", beta, on_epoch=True, on_step=False, batch_size=b, sync_dist=True)
        return loss

    def _raise_if_not_finite(self) -> None:
        """Raise if a loss since the last check was NaN or infinite (one host sync, once per epoch)."""
        if bool(self._not_finite):
            raise FloatingPointError(f"graph VAE loss became non-finite in epoch {self.current_epoch}; "
                                     "lower the learning rate (molecules lr) or the KL weight")
        self._not_finite = False

    def on_fit_start(self) -> None:
        """With ``compile=True``, train through compiled copies of the encoder and decoder (see :func:`compiled`)."""
        setting = self.hparams.get("compile", False)
        on_gpu = self.device.type == "cuda"
        use = setting is True or (setting == "auto" and on_gpu)
        self._compiled = (compiled(self.encoder, on_gpu), compiled(self.decoder, on_gpu)) if use else None

    def on_fit_end(self) -> None:
        # the analysis after training runs in float64 and eval mode: eager, not a recompilation
        self._compiled = None

    def on_validation_epoch_end(self) -> None:
        # a diverged epoch must stop the run before it is saved: ModelCheckpoint saves in on_validation_end when
        # validation runs every n > 1 epochs or several times per epoch
        self._raise_if_not_finite()

    def on_train_epoch_end(self) -> None:
        # runs before ModelCheckpoint's on_train_epoch_end (its save otherwise); after an end-of-epoch validation
        # the flag is a plain False again, so an epoch costs one host sync
        self._raise_if_not_finite()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """Clip the gradient's norm to ``grad_clip`` (the model's own setting; a Trainer's setting also applies)."""
        own = float(self.hparams.get("grad_clip", 0.0) or 0.0)
        if own > 0:
            self.clip_gradients(optimizer, gradient_clip_val=own, gradient_clip_algorithm="norm")
        elif gradient_clip_val:
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        """Adam; with ``lr_schedule='onecycle'`` the rate warms up to ``lr`` and anneals to ~0 over the run.

        Why one cycle: a short CPU budget needs a high peak rate to learn fast and a small
        final rate to settle the fine latent differences the decoder reads.
        """
        betas = (0.9, float(self.hparams.get("adam_beta2", 0.999)))
        opt = torch.optim.Adam(self.parameters(), lr=float(self.hparams.lr), betas=betas, **adam_kernel_options(
            self.hparams.get("adam_kernel", "auto"), on_gpu=all(p.is_cuda for p in self.parameters())))
        schedule = self.hparams.get("lr_schedule", "constant")
        if schedule == "constant":
            return opt
        if schedule == "plateau":
            # the first author's PEGVAE schedule (models/model.py there): halve the rate when the validation loss
            # has not improved for 150 epochs, then wait 25 epochs before the next halving
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, "min", factor=0.5, patience=150, cooldown=25)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": plateau, "interval": "epoch", "monitor": "val/loss",
                                                          "strict": False}}   # a fit without validation keeps the rate
        # a plain function of the step (not OneCycleLR, whose step count is frozen in its state): a re-run asking
        # for more epochs resumes from last.ckpt and simply stretches the cycle
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: one_cycle(step, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
