"""An O(3)-equivariant message-passing encoder on 3-D point clouds (e3nn), giving a graph latent typed by ``Irreps``.

Why this architecture: it is the NequIP/MACE family the toolkit's users train, in its
smallest form, so the latent it returns is laid out as theirs are (mul-major ``Irreps``
blocks, e3nn's real spherical-harmonics basis, parity).  Each layer sends a message along
every edge ``j -> i`` of a radius graph,

    m_ij = TP_w(r_ij)( W h_j ,  Y(r̂_ij) ),

a depthwise (``uvu``) tensor product of the neighbour's features with the spherical
harmonics ``Y`` (l <= lmax) of the edge direction, whose path weights come from an MLP of
a Bessel radial basis times a smooth polynomial envelope.  The envelope and the bias-free
MLP make every message vanish, with its derivatives, as an edge reaches the cutoff, so the
encoder is a continuous function of the positions although the graph changes.  Messages are
summed per atom, mixed by an ``o3.Linear`` with a self-connection, and passed through an
e3nn ``Gate`` (SiLU on scalars, sigmoid gates on l > 0).  A final ``o3.Linear`` maps the
node features to ``irreps_latent`` and a mean (or sum) over each molecule's atoms gives the
graph latent: ``latent(R x + t) = D(R) latent(x)`` for every rotation or reflection ``R`` and
translation ``t``, and it does not depend on the order of the atoms.

Only the 0e part of the latent is read by a property head (see
:class:`eqlatent.models.e3nn_regressor.E3nnRegressor`), so the l > 0 parts are a linear read-out
of trained equivariant features, not trained directly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.models.radius_graph import radius_graph

POOLS = ("mean", "sum")


def _o3():
    try:
        from e3nn import nn as e3nn_nn, o3
    except ImportError as err:  # pragma: no cover - e3nn is a pinned dependency
        raise ConfigError(f"the e3nn encoder needs the e3nn package ({err})",
                          "install e3nn (make setup, or pip install --no-deps e3nn==0.6.0 opt_einsum_fx==0.1.4)") from None
    return o3, e3nn_nn


def bessel_basis(r: Tensor, n_basis: int, cutoff: float) -> Tensor:
    """DimeNet's radial basis ``sqrt(2/c) sin(n pi r / c) / r``, n = 1..n_basis, times a p=6 polynomial envelope.

    The envelope ``1 - 28 d^6 + 48 d^7 - 21 d^8`` (d = r / c) and its first two derivatives are
    0 at the cutoff, and 0 beyond it (Gasteiger et al. 2020, DimeNet, eq. 8).
    """
    d = r / cutoff
    n = torch.arange(1, n_basis + 1, device=r.device, dtype=r.dtype)
    basis = math.sqrt(2.0 / cutoff) * torch.sin(math.pi * n * d[:, None]) / r[:, None]
    p = 6
    env = 1 - (p + 1) * (p + 2) / 2 * d ** p + p * (p + 2) * d ** (p + 1) - p * (p + 1) / 2 * d ** (p + 2)
    return basis * torch.where(d < 1, env, torch.zeros_like(env))[:, None]


class Interaction(nn.Module):
    """One gated equivariant message-passing layer: ``irreps_in`` node features -> ``irreps_out``."""

    def __init__(self, irreps_in, irreps_out, irreps_sh, n_basis: int, radial_hidden: int, avg_neighbors: float) -> None:
        super().__init__()
        o3, e3nn_nn = _o3()
        irreps_in, irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        scalars = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
        if any(ir.p == -1 for _, ir in scalars):
            raise ConfigError(f"hidden irreps {irreps_out} hold pseudo-scalars (0o)", "use 0e scalars only, e.g. 32x0e+8x1o+4x2e")
        self.gate = e3nn_nn.Gate(scalars, [nn.functional.silu] * len(scalars), f"{gated.num_irreps}x0e" if gated.num_irreps else "",
                                 [torch.sigmoid] if gated.num_irreps else [], gated)
        wanted = {ir for _, ir in self.gate.irreps_in}
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(irreps_in):
            for j, (_, ir_sh) in enumerate(o3.Irreps(irreps_sh)):
                for ir_out in ir_in * ir_sh:
                    if ir_out in wanted:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        mid = o3.Irreps(mid)
        sorted_mid, perm, _ = mid.sort()
        instructions = [(i, j, perm[k], mode, train) for i, j, k, mode, train in instructions]
        self.pre = o3.Linear(irreps_in, irreps_in)
        self.tp = o3.TensorProduct(irreps_in, irreps_sh, sorted_mid, instructions, shared_weights=False,
                                   internal_weights=False)
        self.radial = e3nn_nn.FullyConnectedNet([n_basis, radial_hidden, radial_hidden, self.tp.weight_numel],
                                                nn.functional.silu)
        self.post = o3.Linear(sorted_mid, self.gate.irreps_in)
        self.skip = o3.Linear(irreps_in, self.gate.irreps_in)
        self.residual = irreps_in == self.gate.irreps_out
        self.norm = 1.0 / math.sqrt(avg_neighbors)
        self.irreps_in, self.irreps_out = irreps_in, self.gate.irreps_out

    def forward(self, h: Tensor, sh: Tensor, basis: Tensor, edges: Tensor) -> Tensor:
        src, dst = edges
        msg = self.tp(self.pre(h)[src], sh, self.radial(basis))
        agg = msg.new_zeros(h.shape[0], msg.shape[1]).index_add_(0, dst, msg) * self.norm
        out = self.gate(self.post(agg) + self.skip(h))
        return h + out if self.residual else out


class E3nnEncoder(nn.Module):
    """Atoms ``(pos [A, 3], z [A], batch [A])`` -> graph latent ``[B, irreps_latent.dim]``, O(3)-equivariant.

    Parameters
    ----------
    irreps_hidden:
        node features between layers, scalars 0e plus gated l > 0 (e.g. ``"32x0e+8x1o+4x2e"``).
    irreps_latent:
        the graph latent's layout (e.g. ``"32x0e+8x1o+4x2e"``); exposed as ``self.irreps_latent``.
    n_layers, lmax:
        interaction layers; spherical-harmonics degree of the edge directions.
    cutoff, n_basis, radial_hidden:
        radius-graph cutoff in Å, Bessel functions, width of the radial MLP.
    max_z:
        largest atomic number embedded (QM9: 9, fluorine).
    avg_neighbors:
        the constant messages are divided by the square root of (a fixed number, not a
        statistic of the data, so two encoders with the same arguments compute the same function).
    pool:
        ``"mean"`` (intensive targets such as the gap) or ``"sum"`` over each molecule's atoms.

    Examples
    --------
    >>> enc = E3nnEncoder("8x0e+2x1o+1x2e", "4x0e+1x1o+1x2e", n_layers=1)
    >>> pos, z, batch = torch.randn(5, 3), torch.tensor([6, 1, 1, 1, 1]), torch.zeros(5, dtype=torch.long)
    >>> enc(pos, z, batch).shape
    torch.Size([1, 12])
    """

    def __init__(self, irreps_hidden: str = "32x0e+8x1o+4x2e", irreps_latent: str = "32x0e+8x1o+4x2e",
                 n_layers: int = 3, lmax: int = 2, cutoff: float = 5.0, n_basis: int = 8, radial_hidden: int = 32,
                 max_z: int = 9, avg_neighbors: float = 12.0, pool: str = "mean") -> None:
        super().__init__()
        o3, _ = _o3()
        if pool not in POOLS:
            raise ConfigError(f"unknown pool '{pool}'", f"use one of {', '.join(POOLS)}")
        if n_layers < 1 or lmax < 0 or not cutoff > 0 or n_basis < 1:
            raise ConfigError(f"n_layers={n_layers}, lmax={lmax}, cutoff={cutoff}, n_basis={n_basis} out of range",
                              "use n_layers >= 1, lmax >= 0, cutoff > 0 (Å), n_basis >= 1")
        self.irreps_hidden, self.irreps_latent = o3.Irreps(irreps_hidden), o3.Irreps(irreps_latent)
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        n_scalars = sum(m for m, ir in self.irreps_hidden if ir == o3.Irrep("0e"))
        if n_scalars == 0:
            raise ConfigError(f"hidden irreps {irreps_hidden} have no 0e scalars", "add scalars, e.g. 32x0e+8x1o+4x2e")
        self.embed = nn.Embedding(max_z + 1, n_scalars)
        self.max_z, self.cutoff, self.n_basis, self.pool = max_z, float(cutoff), n_basis, pool
        layers, irreps = [], o3.Irreps(f"{n_scalars}x0e")
        for _ in range(n_layers):
            layers.append(Interaction(irreps, self.irreps_hidden, self.irreps_sh, n_basis, radial_hidden, avg_neighbors))
            irreps = layers[-1].irreps_out
        self.layers = nn.ModuleList(layers)
        self.readout = o3.Linear(irreps, self.irreps_latent)
        self.scalar_slices = [sl for (m, ir), sl in zip(self.irreps_latent, self.irreps_latent.slices()) if ir == o3.Irrep("0e")]

    @property
    def n_latent_scalars(self) -> int:
        """How many 0e (invariant) channels the latent has."""
        return sum(sl.stop - sl.start for sl in self.scalar_slices)

    def scalars(self, latent: Tensor) -> Tensor:
        """The 0e (rotation- and inversion-invariant) channels of a latent, ``[B, n_latent_scalars]``."""
        return torch.cat([latent[:, sl] for sl in self.scalar_slices], dim=1)

    @property
    def n_latent_copies(self) -> int:
        """How many copies of a non-0e irrep the latent has (one norm each in :meth:`invariants`)."""
        return sum(mul for mul, ir in self.irreps_latent if (ir.l, ir.p) != (0, 1))

    def invariants(self, latent: Tensor) -> Tensor:
        """The 0e channels and the norm of every other irrep copy, ``[B, n_latent_scalars + n_latent_copies]``.

        Why: a head on these trains every channel of the latent (a head on the 0e channels alone
        leaves the l > 0 read-out at its initial scale, untrained); ``sqrt(|v|^2 + 1e-12)`` keeps
        the gradient finite where a copy is zero.
        """
        parts = [self.scalars(latent)]
        for (mul, ir), sl in zip(self.irreps_latent, self.irreps_latent.slices()):
            if (ir.l, ir.p) != (0, 1):
                block = latent[:, sl].reshape(latent.shape[0], mul, ir.dim)
                parts.append(block.pow(2).sum(-1).add(1e-12).sqrt())
        return torch.cat(parts, dim=1)

    def node_features(self, pos: Tensor, z: Tensor, batch: Tensor, num_graphs: int | None = None) -> Tensor:
        """Per-atom features ``[A, irreps_hidden.dim]`` after the last layer."""
        if z.shape != pos.shape[:1]:
            raise LatentShapeError(f"z has shape {tuple(z.shape)} for {pos.shape[0]} atoms",
                                   "pass one atomic number per row of pos")
        if z.numel() and (int(z.min()) < 1 or int(z.max()) > self.max_z):
            raise LatentShapeError(f"atomic numbers span {int(z.min())}..{int(z.max())}, the encoder embeds 1..{self.max_z}",
                                   f"build the encoder with max_z >= {int(z.max())}")
        edges = radius_graph(pos, batch, self.cutoff, num_graphs)
        vec = pos[edges[0]] - pos[edges[1]]
        r = vec.norm(dim=1)
        o3, _ = _o3()
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        basis = bessel_basis(r, self.n_basis, self.cutoff)
        h = self.embed(z)
        for layer in self.layers:
            h = layer(h, sh, basis, edges)
        return h

    def forward(self, pos: Tensor, z: Tensor, batch: Tensor, num_graphs: int | None = None) -> Tensor:
        """Graph latent ``[num_graphs, irreps_latent.dim]`` (``num_graphs`` defaults to ``batch.max() + 1``)."""
        n_graphs = (int(batch.max()) + 1 if batch.numel() else 0) if num_graphs is None else num_graphs
        nodes = self.readout(self.node_features(pos, z, batch, n_graphs))
        out = nodes.new_zeros(n_graphs, nodes.shape[1]).index_add_(0, batch, nodes)
        if self.pool == "mean":
            counts = torch.bincount(batch, minlength=n_graphs).clamp(min=1).to(nodes.dtype)
            out = out / counts[:, None]
        return out
