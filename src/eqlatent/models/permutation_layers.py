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


def node_diagonal(x: Tensor) -> Tensor:
    """Pair tensor ``x [B, n, n, C]`` -> its diagonal as a node tensor ``[B, n, C]`` (``x_ii``); inverse of
    :func:`_on_diagonal` on diagonal tensors.  The encoders read the node classes of ``pair_input`` with it."""
    return torch.diagonal(x, dim1=1, dim2=2).transpose(1, 2)


def _eye(n: int, like: Tensor) -> Tensor:
    """``[1, n, n, 1]`` identity mask broadcastable against a pair tensor."""
    return torch.eye(n, dtype=like.dtype, device=like.device).view(1, n, n, 1)


def basis_2_to_2(x: Tensor) -> Tensor:
    """The 15 equivariant linear operations on ``x [B, n, n, C]`` stacked to ``[B, n, n, 15 C]``."""
    b, n, _, c = x.shape
    eye = _eye(n, x)
    diag = node_diagonal(x)          # [B, n, C]   x_ii
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
    diag = node_diagonal(x)
    row, col = x.mean(dim=2), x.mean(dim=1)
    ops = [diag, row, col, diag.mean(1, keepdim=True).expand(b, n, c), row.mean(1, keepdim=True).expand(b, n, c)]
    return torch.cat(ops, dim=-1)


def basis_1_to_1(x: Tensor) -> Tensor:
    """The 2 equivariant linear operations on nodes ``x [B, n, C]``: identity and mean, ``[B, n, 2 C]``."""
    return torch.cat([x, x.mean(dim=1, keepdim=True).expand_as(x)], dim=-1)


def _on_diagonal(v: Tensor) -> Tensor:
    """Node tensor ``v [B, n, C]`` -> pair tensor ``[B, n, n, C]`` holding ``v`` on its diagonal, zeros elsewhere.

    One ``diag_embed`` instead of building an identity mask and multiplying by it (two
    fewer kernels per call; the graph VAE calls this in every pair layer of every step).
    """
    return torch.diag_embed(v.transpose(1, 2), dim1=1, dim2=2)


class _BasisLinear(nn.Module):
    """Mix the stacked basis operations with one learned matrix (+ equivariant biases).

    ``mix.weight [C_out, n_basis * C_in]`` is the one learned matrix for every layer type,
    so checkpoints do not depend on how :meth:`forward` evaluates it.  The fast forwards
    of the subclasses compute exactly ``mix(basis(x))`` (the tests compare the two) but
    gather the weight blocks they need with one index per call and mix the node- and
    graph-level quantities *before* broadcasting them: on a GPU a step of the graph VAE is
    bound by the number of kernels it launches, not by arithmetic.
    """

    n_basis: int = 1
    out_order: int = 1
    #: basis operations in the order the fast forward reads their weight blocks (``None``: the stacked basis)
    block_order: tuple[int, ...] | None = None

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mix = nn.Linear(self.n_basis * in_channels, out_channels)
        # pair outputs get a second bias for the diagonal (both constants are equivariant)
        self.diag_bias = nn.Parameter(torch.zeros(out_channels)) if self.out_order == 2 else None
        nn.init.xavier_uniform_(self.mix.weight, gain=1.0)
        if self.block_order is not None:
            self.register_buffer("_block_index", torch.tensor(self.block_order), persistent=False)

    def basis(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def blocks(self) -> Tensor:
        """``[len(block_order), C_in, C_out]``: the weight block of each basis operation, in :attr:`block_order`."""
        w = self.mix.weight.view(self.out_channels, self.n_basis, self.in_channels)
        return w.index_select(1, self._block_index).permute(1, 2, 0)

    def reference_forward(self, x: Tensor) -> Tensor:
        """The layer's definition, ``mix(basis(x))`` plus the diagonal bias: every subclass's :meth:`forward`
        computes the same with fewer kernels, and the tests compare the two."""
        y = self.mix(self.basis(x))
        if self.diag_bias is not None:
            y = y + _eye(y.shape[1], y) * self.diag_bias
        return y

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, {self.n_basis} basis ops"


class Equivariant2to2(_BasisLinear):
    """Pair -> pair layer (15 basis operations), ``[B, n, n, C_in] -> [B, n, n, C_out]``.

    :meth:`forward` computes exactly ``mix(basis_2_to_2(x))`` with two pair-sized inputs
    (``x`` and its transpose) in one matrix product, the three node quantities (diagonal,
    row and column means) in another and the two graph quantities in a third, each product
    yielding every output that reads those inputs at once (about 7x less arithmetic and a
    third of the kernels of stacking all 15 operations).
    """

    n_basis, out_order = 15, 2
    # identity, transpose | node inputs (diag, row, col) -> on the diagonal, along rows, along columns | graph inputs
    # (diag mean, total) -> on the diagonal, everywhere
    block_order = (0, 1, 2, 3, 4, 11, 7, 9, 12, 8, 10, 5, 6, 13, 14)

    def basis(self, x: Tensor) -> Tensor:
        return basis_2_to_2(x)

    def forward(self, x: Tensor) -> Tensor:
        b, n, _, c = x.shape
        o = self.out_channels
        w = self.blocks()                                                 # [15, C, O]
        w_pair = w[:2].reshape(2 * c, o)
        # [3 (input: diag, row, col), C, 3 (output: diagonal, rows, cols), O]
        w_node = w[2:11].view(3, 3, c, o).permute(1, 2, 0, 3).reshape(3 * c, 3 * o)
        w_graph = w[11:].view(2, 2, c, o).permute(1, 2, 0, 3).reshape(2 * c, 2 * o)
        diag = node_diagonal(x)          # [B, n, C]
        row, col = x.mean(dim=2), x.mean(dim=1)
        nodes = torch.cat([diag, row, col], dim=-1) @ w_node              # [B, n, 3 O]
        graph = torch.cat([diag.mean(1), row.mean(1)], dim=-1) @ w_graph  # [B, 2 O]
        on_diag, rows, cols = nodes.split(o, dim=-1)
        graph_diag, everywhere = graph.split(o, dim=-1)
        y = torch.cat([x, x.transpose(1, 2)], dim=-1) @ w_pair            # [B, n, n, O]
        cols = cols + (everywhere + self.mix.bias).unsqueeze(1)
        y = y + rows.unsqueeze(2) + cols.unsqueeze(1)
        return y + _on_diagonal(on_diag + (graph_diag + self.diag_bias).unsqueeze(1))


class Equivariant1to2(_BasisLinear):
    """Node -> pair layer (5 basis operations), ``[B, n, C_in] -> [B, n, n, C_out]``.

    :meth:`forward` equals ``mix(basis_1_to_2(x))``, mixing before broadcasting, with one
    product for the node inputs and one for their mean.
    """

    n_basis, out_order = 5, 2
    block_order = (0, 2, 3, 1, 4)   # node input -> diagonal, rows, cols | mean -> diagonal, everywhere

    def basis(self, x: Tensor) -> Tensor:
        return basis_1_to_2(x)

    def forward(self, x: Tensor) -> Tensor:
        o = self.out_channels
        w = self.blocks()                                                 # [5, C, O]
        nodes = x @ w[:3].permute(1, 0, 2).flatten(1)                     # [B, n, 3 O]
        graph = x.mean(dim=1) @ w[3:].permute(1, 0, 2).flatten(1)         # [B, 2 O]
        on_diag, rows, cols = nodes.split(o, dim=-1)
        graph_diag, everywhere = graph.split(o, dim=-1)
        cols = cols + (everywhere + self.mix.bias).unsqueeze(1)
        y = rows.unsqueeze(2) + cols.unsqueeze(1)
        return y + _on_diagonal(on_diag + (graph_diag + self.diag_bias).unsqueeze(1))


class Equivariant2to1(_BasisLinear):
    """Pair -> node layer (5 basis operations), ``[B, n, n, C_in] -> [B, n, C_out]``.

    :meth:`forward` equals ``mix(basis_2_to_1(x))``: one product of the three node
    quantities and one of the two graph means, instead of stacking five broadcast copies.
    """

    n_basis, out_order = 5, 1

    def basis(self, x: Tensor) -> Tensor:
        return basis_2_to_1(x)

    def forward(self, x: Tensor) -> Tensor:
        c, o = self.in_channels, self.out_channels
        w = self.mix.weight.t()                                           # [5 C, O], blocks in basis order
        diag = node_diagonal(x)
        row, col = x.mean(dim=2), x.mean(dim=1)
        nodes = torch.cat([diag, row, col], dim=-1) @ w[: 3 * c]
        graph = torch.cat([diag.mean(1), row.mean(1)], dim=-1) @ w[3 * c:] + self.mix.bias
        return nodes + graph.unsqueeze(1)


class Equivariant1to1(_BasisLinear):
    """Node -> node layer (2 basis operations: DeepSets), ``[B, n, C_in] -> [B, n, C_out]``.

    :meth:`forward` equals ``mix(basis_1_to_1(x))``, with the mean mixed before it is broadcast.
    """

    n_basis, out_order = 2, 1

    def basis(self, x: Tensor) -> Tensor:
        return basis_1_to_1(x)

    def forward(self, x: Tensor) -> Tensor:
        c = self.in_channels
        w = self.mix.weight
        return torch.nn.functional.linear(x, w[:, :c], self.mix.bias) + x.mean(dim=1, keepdim=True) @ w[:, c:].t()
