"""Maron-style permutation-equivariant linear layers between node (order 1) and pair (order 2) tensors.

Maron, Ben-Hamu, Shamir & Lipman (ICLR 2019) show that every linear map from order-k to
order-l tensors that commutes with a simultaneous permutation of all node axes is a
weighted sum of a small, fixed set of basis operations (2->2: 15, 1->2 and 2->1: 5,
1->1: 2).  Each layer below stacks those basis operations along the channel axis and
mixes them with one learned matrix, so equivariance holds by construction for any
weights -- which is why the graph VAE's latent is only defined up to a node permutation.

Layouts (channels last):  node tensors ``[B, n, C]``, pair tensors ``[B, n, n, C]``.
Sums over nodes are divided by ``n`` (a fixed, permutation-invariant scale) so that
activations do not grow with the graph size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _eye(n: int, like: Tensor) -> Tensor:
    """``[1, n, n, 1]`` identity mask broadcastable against a pair tensor."""
    return torch.eye(n, dtype=like.dtype, device=like.device).view(1, n, n, 1)


def basis_2_to_2(x: Tensor) -> Tensor:
    """The 15 equivariant linear operations on ``x [B, n, n, C]`` stacked to ``[B, n, n, 15 C]``."""
    b, n, _, c = x.shape
    eye = _eye(n, x)
    diag = torch.diagonal(x, dim1=1, dim2=2).transpose(1, 2)          # [B, n, C]   x_ii
    row = x.mean(dim=2)                                                 # [B, n, C]   mean_j x_ij
    col = x.mean(dim=1)                                                 # [B, n, C]   mean_i x_ij
    diag_all = diag.mean(dim=1)                                         # [B, C]
    total = row.mean(dim=1)                                             # [B, C]

    def on_diag(v: Tensor) -> Tensor:        # node vector -> diagonal of a pair tensor
        return eye * v.unsqueeze(2)

    def rows(v: Tensor) -> Tensor:           # v_i broadcast along j
        return v.unsqueeze(2).expand(b, n, n, c)

    def cols(v: Tensor) -> Tensor:           # v_j broadcast along i
        return v.unsqueeze(1).expand(b, n, n, c)

    def everywhere(v: Tensor) -> Tensor:     # graph-level vector broadcast to all pairs
        return v.view(b, 1, 1, c).expand(b, n, n, c)

    ops = [
        x, x.transpose(1, 2),                                           # identity, transpose
        on_diag(diag), on_diag(row), on_diag(col),                      # node quantities on the diagonal
        eye * diag_all.view(b, 1, 1, c), eye * total.view(b, 1, 1, c),  # graph quantities on the diagonal
        rows(row), cols(row), rows(col), cols(col),                     # row/column means broadcast
        rows(diag), cols(diag),                                         # diagonal broadcast
        everywhere(diag_all), everywhere(total),                        # graph quantities everywhere
    ]
    return torch.cat(ops, dim=-1)


def basis_1_to_2(x: Tensor) -> Tensor:
    """The 5 equivariant linear operations from ``x [B, n, C]`` to pairs, ``[B, n, n, 5 C]``."""
    b, n, c = x.shape
    eye = _eye(n, x)
    mean = x.mean(dim=1)
    ops = [
        eye * x.unsqueeze(2), eye * mean.view(b, 1, 1, c),
        x.unsqueeze(2).expand(b, n, n, c), x.unsqueeze(1).expand(b, n, n, c), mean.view(b, 1, 1, c).expand(b, n, n, c),
    ]
    return torch.cat(ops, dim=-1)


def basis_2_to_1(x: Tensor) -> Tensor:
    """The 5 equivariant linear operations from pairs ``x [B, n, n, C]`` to nodes, ``[B, n, 5 C]``."""
    b, n, _, c = x.shape
    diag = torch.diagonal(x, dim1=1, dim2=2).transpose(1, 2)
    row, col = x.mean(dim=2), x.mean(dim=1)
    ops = [diag, row, col, diag.mean(1, keepdim=True).expand(b, n, c), row.mean(1, keepdim=True).expand(b, n, c)]
    return torch.cat(ops, dim=-1)


def basis_1_to_1(x: Tensor) -> Tensor:
    """The 2 equivariant linear operations on nodes ``x [B, n, C]``: identity and mean, ``[B, n, 2 C]``."""
    return torch.cat([x, x.mean(dim=1, keepdim=True).expand_as(x)], dim=-1)


class _BasisLinear(nn.Module):
    """Mix the stacked basis operations with one learned matrix (+ equivariant biases)."""

    n_basis: int = 1
    out_order: int = 1

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mix = nn.Linear(self.n_basis * in_channels, out_channels)
        # pair outputs get a second bias for the diagonal (both constants are equivariant)
        self.diag_bias = nn.Parameter(torch.zeros(out_channels)) if self.out_order == 2 else None
        nn.init.xavier_uniform_(self.mix.weight, gain=1.0)

    def basis(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        y = self.mix(self.basis(x))
        if self.diag_bias is not None:
            y = y + _eye(y.shape[1], y) * self.diag_bias
        return y

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, {self.n_basis} basis ops"


class Equivariant2to2(_BasisLinear):
    """Pair -> pair layer (15 basis operations), ``[B, n, n, C_in] -> [B, n, n, C_out]``.

    :meth:`forward` computes exactly ``mix(basis_2_to_2(x))`` but mixes the node- and
    graph-level quantities *before* broadcasting them, so only two pair-sized matrix
    products remain (about 7x less work than stacking all 15 operations).
    """

    n_basis, out_order = 15, 2

    def basis(self, x: Tensor) -> Tensor:
        return basis_2_to_2(x)

    def forward(self, x: Tensor) -> Tensor:
        b, n, _, c = x.shape
        w = self.mix.weight.view(self.out_channels, 15, c)

        def block(*ops: int) -> Tensor:          # [k * C_in, C_out] for the basis ops listed
            return w[:, list(ops)].reshape(self.out_channels, -1).t()

        diag = torch.diagonal(x, dim1=1, dim2=2).transpose(1, 2)
        row, col = x.mean(dim=2), x.mean(dim=1)
        nodes = torch.cat([diag, row, col], dim=-1)                      # [B, n, 3 C]
        graph = torch.cat([diag.mean(1), row.mean(1)], dim=-1)           # [B, 2 C]
        y = x @ block(0) + (x @ block(1)).transpose(1, 2)
        on_diag = nodes @ block(2, 3, 4) + (graph @ block(5, 6)).unsqueeze(1) + self.diag_bias
        rows = nodes @ block(11, 7, 9)
        cols = nodes @ block(12, 8, 10)
        everywhere = graph @ block(13, 14) + self.mix.bias
        y = y + rows.unsqueeze(2) + cols.unsqueeze(1) + everywhere.view(b, 1, 1, -1)
        return y + _eye(n, y) * on_diag.unsqueeze(2)


class Equivariant1to2(_BasisLinear):
    """Node -> pair layer (5 basis operations), ``[B, n, C_in] -> [B, n, n, C_out]``.

    :meth:`forward` equals ``mix(basis_1_to_2(x))``, mixing before broadcasting.
    """

    n_basis, out_order = 5, 2

    def basis(self, x: Tensor) -> Tensor:
        return basis_1_to_2(x)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        w = self.mix.weight.view(self.out_channels, 5, c)
        mean = x.mean(dim=1, keepdim=True)                               # [B, 1, C]
        on_diag = x @ w[:, 0].t() + mean @ w[:, 1].t() + self.diag_bias
        y = (x @ w[:, 2].t()).unsqueeze(2) + (x @ w[:, 3].t()).unsqueeze(1)
        y = y + (mean @ w[:, 4].t() + self.mix.bias).unsqueeze(1)
        return y + _eye(n, y) * on_diag.unsqueeze(2)


class Equivariant2to1(_BasisLinear):
    """Pair -> node layer (5 basis operations), ``[B, n, n, C_in] -> [B, n, C_out]``."""

    n_basis, out_order = 5, 1

    def basis(self, x: Tensor) -> Tensor:
        return basis_2_to_1(x)


class Equivariant1to1(_BasisLinear):
    """Node -> node layer (2 basis operations: DeepSets), ``[B, n, C_in] -> [B, n, C_out]``."""

    n_basis, out_order = 2, 1

    def basis(self, x: Tensor) -> Tensor:
        return basis_1_to_1(x)
