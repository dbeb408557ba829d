"""Sort a random linear mixing of the channels over the nodes: injective and bi-Lipschitz for several channels.

A node latent ``Z [n, d]`` is a multiset of ``n`` points of ``R^d`` (S_n permutes its rows).  With
one channel, sorting the column is the isometric cross-section (:mod:`~eqlatent.projections.sort`).
With ``d > 1`` channels the two sorts the package had each give something up:

* :mod:`~eqlatent.projections.lex_sort` (rows in lexicographic order) is lossless, but it jumps where
  two nodes tie in the first channel: ``(0, 1), (0, -1)`` and ``(-1e-9, 1), (0, -1)`` are two latents
  ``1e-9`` apart in the quotient whose projections are ``2 sqrt(2)`` apart;
* :mod:`~eqlatent.projections.channel_sort` sorts each channel on its own (the mixing below with
  ``W = I``, ``m = d`` columns): 1-Lipschitz, but it forgets which values sat on the same node, so
  ``{(0, 1), (1, 0)}`` and ``{(0, 0), (1, 1)}`` collide.

``mixing_sort`` sorts ``m`` random directions instead of the ``d`` coordinate axes: ``Z W`` with ``W
[d, m]`` (seeded Gaussian columns of unit length), each of its ``m`` columns sorted over the nodes
independently, ``n * m`` numbers scaled by ``sqrt(d / m)``.  For generic ``W`` (a Gaussian draw is
generic with probability one) this map is injective on orbits as soon as ``m >= n (d - 1) + 1``
(e.g. "Quantitative bounds for sorting-based permutation-invariant embeddings", SampTA 2025 /
arXiv:2510.22186; earlier, with more columns, Balan, Haghani & Singh 2022), and for such sorting
embeddings injective implies bi-Lipschitz (Balan, Tsoukanis & Wellershoff 2024, "Stability of
sorting based embeddings"): distances in the quotient are kept up to a bounded factor, the
distortion ``eqlatent.retention`` reports.  Amir & Dym (ICLR 2025, the Fourier sliced-Wasserstein
embedding) build bi-Lipschitz multiset embeddings of about ``2 n d`` numbers from the same sorted
projections.  Unlike ``lex_sort`` it is continuous: sorting each column is 1-Lipschitz, so
``||pi(Z1) - pi(Z2)|| <= sqrt(d / m) ||W||_2 min_P ||Z1 - P Z2||`` -- it never jumps at a tie.

Why ``columns=None`` means ``n (d - 1) + 1`` for the latent's ``n`` node slots: it is the number of
columns the injectivity bound needs, so the default is lossless for every latent.  The price is the
width, ``n * (n (d - 1) + 1)``: quadratic in the node count (QM9, 9 heavy atoms, d = 8: 9 x 64 =
576 numbers; 50 nodes of 128 channels: 317,550).  For large latents pass ``columns=`` (e.g. ``2d + 1``,
about twice the latent's width): still invariant and Lipschitz, injective no longer guaranteed
(``lossless`` then says so).  Without ``max_num_nodes`` the node slots are each batch's largest
graph, so (as for every sort) the width, and here also ``m``, follow the batch; with
``max_num_nodes`` they are fixed.  The columns are drawn one by one from ``seed``, so the ``m``
columns of a smaller batch are the first ``m`` of a larger one, and the same ``(seed, d, m)`` always
gives the same ``W``.

Padding (``meta["mask"]`` / a batch vector) is handled as by the other sorts: a padding slot is a
node of latent 0, sorted in with the real ones (the zero-padded quotient
:func:`eqlatent.quotient_distance` and :func:`eqlatent.retention` compare graphs of different sizes
in).  Gradients are finite everywhere, exact ties included: a sort's backward is a gather.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from eqlatent.projections.base import Meta
from eqlatent.projections.node_inputs import check_count
from eqlatent.projections.node_projection import NodeProjection, node_mask, zero_padding


def injective_columns(nodes: int, channels: int) -> int:
    """``n (d - 1) + 1``: the number of generic mixing columns that makes the sort injective on ``n`` nodes of ``d`` channels."""
    return nodes * (channels - 1) + 1


def mixing_columns(channels: int, columns: int, seed: int) -> Tensor:
    """``W [channels, columns]`` float64: unit-length Gaussian columns, drawn one by one from ``seed``.

    One by one, so that the first ``m`` columns are the same whatever ``columns`` is (a batch with
    fewer node slots, hence fewer default columns, uses a prefix of a larger batch's ``W``).
    """
    gen = torch.Generator().manual_seed(int(seed))
    w = torch.stack([torch.randn(channels, generator=gen, dtype=torch.float64) for _ in range(columns)], 1)
    return w / w.norm(dim=0, keepdim=True)


class MixingSort(NodeProjection):
    """Sort of ``z W`` over the nodes, ``[batch, nodes, d] -> [batch, nodes * m]``.  Group: S_n.

    Lossless (injective on orbits, hence bi-Lipschitz) with the default ``m = n (d - 1) + 1`` columns;
    continuous everywhere, unlike ``lex_sort``; ``channel_sort`` is its special case ``W = I``.

    Parameters
    ----------
    projection, max_num_nodes, in_features, return_counts, check_finite:
        As for every :class:`~eqlatent.projections.node_projection.NodeProjection` (``NodeProjection("mixing_sort",
        ...)`` builds this class).  With ``in_features`` and ``max_num_nodes`` (or ``columns``) the buffer
        ``mixing`` (``W``, float64) is drawn at construction, so the module runs under
        ``torch.compile(fullgraph=True)`` from its first call; otherwise it is drawn (and kept) at the first
        call, and drawn again from ``seed`` when a latent needs another ``(d, m)``.
    columns:
        ``m``, the random directions sorted (keyword only).  None (default): ``n (d - 1) + 1`` for the latent's ``n``
        node slots (``max_num_nodes`` when given), the injectivity bound.  Fewer columns are lossy in general.
    seed:
        Seed of ``W`` (keyword only); the same seed, ``d`` and ``m`` give the same projection.

    Examples
    --------
    >>> import torch
    >>> proj = MixingSort()
    >>> a = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])   # {(0, 1), (1, 0)}
    >>> b = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])   # {(0, 0), (1, 1)}: the same channel sorts
    >>> proj(a).shape, bool((proj(a) - proj(b)).abs().max() > 0.1)
    (torch.Size([1, 6]), True)
    """

    name = "mixing_sort"
    lossless = True  # with the default columns; an instance with fewer columns says False
    isometric = False
    cross_section = False

    def __init__(self, projection: str | None = None, max_num_nodes: int | None = None, in_features: int | None = None,
                 return_counts: bool = False, check_finite: bool = False, *, columns: int | None = None,
                 seed: int = 0, method: str | None = None) -> None:
        super().__init__(projection, max_num_nodes, in_features, return_counts, check_finite, method=method)
        self.columns = check_count("columns", columns)
        self.seed = int(seed)
        if self.columns is not None:  # fewer columns than the bound: lossy in general
            self.lossless = self.in_features is not None and self.lossless_for(self.in_features)
        d = self.in_features
        m = None if d is None else self._columns_for(d, self.max_num_nodes)
        self.register_buffer("mixing", None if m is None else mixing_columns(d, m, self.seed))

    @classmethod
    def examples(cls) -> list["MixingSort"]:
        """The default (the injectivity bound, drawn at the first call) and a fixed-width one with fewer columns."""
        return [cls(), cls(max_num_nodes=9, in_features=3, columns=5, seed=1)]

    # -- the columns -------------------------------------------------------------------------------

    def _columns_for(self, channels: int, nodes: int | None) -> int | None:
        """``m`` for latents of ``nodes`` slots and ``channels`` channels (None when it needs the unknown node count)."""
        if self.columns is not None:
            return self.columns
        return None if nodes is None else injective_columns(nodes, channels)

    def lossless_for(self, latent_dim: int, nodes: int | None = None) -> bool:
        """Whether ``m`` reaches the injectivity bound for ``latent_dim`` channels on ``nodes`` slots (``max_num_nodes``).

        Always with the default columns; with fixed ``columns``, only when the node count is known
        (``nodes`` or ``max_num_nodes``) and ``columns >= n (d - 1) + 1`` (or ``d = 1``: any column
        is a nonzero multiple of the channel, and sorting it is lossless).
        """
        if self.columns is None or latent_dim == 1:
            return True
        nodes = self.max_num_nodes if nodes is None else nodes
        return nodes is not None and self.columns >= injective_columns(nodes, latent_dim)

    def mixing_matrix(self, channels: int, nodes: int) -> Tensor:
        """``W [channels, m]`` (the buffer, float64) for latents of ``nodes`` slots; drawn from ``seed`` when its shape differs."""
        m = self._columns_for(channels, nodes)
        w = self.mixing
        if w is None or tuple(w.shape) != (channels, m):
            w = mixing_columns(channels, m, self.seed)
            # kept where the module lives (not on the meta device, which holds no values)
            self.mixing = w if self.mixing is None or self.mixing.is_meta else w.to(self.mixing.device)
        return self.mixing

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        """A saved ``W`` is taken whatever this instance drew (or did not draw yet), as a lazy module does."""
        saved = state_dict.get(prefix + "mixing")
        if saved is not None and (self.mixing is None or self.mixing.shape != saved.shape):
            self.mixing = torch.empty_like(saved, device="cpu" if self.mixing is None else self.mixing.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- widths ------------------------------------------------------------------------------------

    @property
    def out_features(self) -> int:
        """``max_num_nodes * m``; a one-line error naming what to pass when it is not fixed."""
        super().out_features  # the same one-line errors when max_num_nodes or in_features is missing
        return self.max_num_nodes * self._columns_for(self.in_features, self.max_num_nodes)

    def extra_repr(self) -> str:
        columns = f"columns={self.columns}" if self.columns is not None else "columns=n(d-1)+1"
        return ", ".join(filter(None, [columns, f"seed={self.seed}", super().extra_repr()]))

    def _dense(self, z: Tensor, mask: Tensor | None) -> Tensor:
        if z.shape[0] == 0:  # no graphs: [0, nodes * m]
            self.check_latent(z)
            return z.new_zeros(0, z.shape[1] * self._columns_for(z.shape[2], z.shape[1]))
        return super()._dense(z, mask)

    def _empty(self, x: Tensor, num_graphs: int | None) -> Tensor:
        super()._empty(x, num_graphs)  # its one-line errors (graphs without nodes, no max_num_nodes)
        return x.new_zeros(0, self.max_num_nodes * self._columns_for(x.shape[1], self.max_num_nodes))

    # -- the projection ----------------------------------------------------------------------------

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        z = zero_padding(z, node_mask(z, meta))   # padding: nodes of latent 0, sorted in with the real ones
        nodes, channels = z.shape[1], z.shape[2]
        w = self.mixing_matrix(channels, nodes)
        # sqrt(d / m): with unit random columns E ||x W||^2 = (m / d) ||x||^2, so distances stay on the latent's scale
        w = w.to(device=z.device, dtype=z.dtype) * math.sqrt(channels / w.shape[1])
        return torch.sort(z @ w, dim=1).values.reshape(z.shape[0], -1)
