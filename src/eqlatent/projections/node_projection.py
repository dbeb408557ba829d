"""The family of projections of node latents under node permutations (S_n): ``sort`` ... ``max_pool``.

A :class:`NodeProjection` takes node latents as a model returns them -- PyG node rows
``x [num_nodes, d]`` with ``batch [num_nodes]``, a ``torch_geometric`` ``Batch``, or a dense
``[graphs, nodes, d]`` latent (every slot a node, or a padding ``mask``) -- and returns one
S_n-invariant row per graph (:mod:`~eqlatent.projections.node_inputs` turns the input into the dense
layout, with one-line errors).  ``NodeProjection("lex_sort", ...)`` builds the projection of that
name (the registry resolves it): ``eqlatent.NodeProjection`` and ``eqlatent.project_nodes`` are
these classes.

Padding: a molecule with fewer atoms than slots has padding slots, and after a node permutation
they can sit anywhere; given a mask (``mask=``, or ``meta["mask"]``, ``[graphs, nodes]``, True = real
node) padding slots are ignored by pooling and are nodes of latent 0 to the sorting projections
(sorted in with the real nodes: then ``sort`` is the isometric cross-section of the zero-padded
quotient, the distance :func:`eqlatent.quotient_distance` and :func:`eqlatent.retention` compute
between graphs of different sizes), so the result does not depend on where the padding was.
Without a mask every slot counts as a node (the graph VAE's case: its padding slots are an "empty"
node class with latents of their own).

Output width: the sorts (``keeps_nodes``) give ``[graphs, max_nodes * d]``, zero-padded, where
``max_nodes`` is the largest graph *of this batch* unless ``max_num_nodes`` fixes it (then
:attr:`NodeProjection.out_features` sizes an ``nn.Linear``); pooling gives ``[graphs, d]`` from a
scatter over ``batch`` (no dense layout), whatever the graph sizes.  Padding zeros cannot be told
from nodes whose latent is zero; ``return_counts=True`` also returns each graph's node count.

In a model: ``forward`` does not read the data whenever the output shape is fixed without it (a
dense latent, or a batch vector with ``num_graphs`` -- a PyG ``Batch`` carries it -- and, for the
sorts, ``max_num_nodes``): the input conditions are then asserted on the device and it runs under
``torch.compile(fullgraph=True)`` and on the ``meta`` device.  :func:`eqlatent.project_nodes`
checks on the host instead (exact one-line errors, a few syncs).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import torch
from torch import Tensor

from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.inputs import LOW_PRECISION, check_finite
from eqlatent.projections.base import InvariantProjection, Meta
from eqlatent.projections.layouts import NodeLayout
from eqlatent.projections.node_inputs import (check_count, device_counts, empty_graphs_error, pad_dense, scatter,
                                              unpack, validate_batch)
from eqlatent.projections.registry import projection_argument, projection_class

#: the node projection ``NodeProjection()`` builds when no name is given: lossless for any d
DEFAULT = "lex_sort"


class ProjectedNodes(NamedTuple):
    """``project_nodes(..., return_counts=True)``: the invariant rows and the node count of each graph."""

    out: Tensor     #: ``[graphs, width]`` invariant rows
    counts: Tensor  #: ``[graphs]`` (long) number of real nodes of each graph


class NodeProjection(InvariantProjection):
    """Base of the S_n projections, and ``NodeProjection("lex_sort", ...)``: the projection of that name.

    Parameters
    ----------
    projection:
        Its name (``"lex_sort"`` when ``NodeProjection()`` is called with none); a subclass is that
        projection already (``Sort()`` is ``NodeProjection("sort")``).  ``method=`` is its deprecated name.
    max_num_nodes:
        Node slots every graph is padded to, for the sorts (fixes the width; a larger graph is an error,
        never a silent truncation).  Pooling is ``d`` wide whatever the graph sizes.
    in_features:
        d, the channels per node: with ``max_num_nodes`` it fixes :attr:`out_features`; a latent of
        another width is refused.
    return_counts:
        Also return each graph's node count, as ``ProjectedNodes(out, counts)``.
    check_finite:
        Refuse NaN / inf in the latent (a host sync per call); off by default: NaN in, NaN out.

    Examples
    --------
    >>> import torch, eqlatent
    >>> pool = eqlatent.NodeProjection("max_pool", in_features=2)
    >>> pool(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0]))
    tensor([[1., 2.]])
    >>> head = torch.nn.Linear(eqlatent.NodeProjection("lex_sort", max_num_nodes=30, in_features=8).out_features, 1)
    >>> head.in_features
    240
    """

    group = "S_n: permutations of the node axis"
    latent_ndim = 3
    layouts = ("nodes",)
    #: number of channels the projection is defined for (None = any)
    latent_channels: int | None = None
    #: True for the sorts: one block of d numbers per node slot (width max_nodes * d); False: one row of d
    keeps_nodes: bool = True

    def __new__(cls, *args: Any, **kwargs: Any) -> "NodeProjection":
        if cls is NodeProjection:  # the base names a projection: build that one
            given = args[0] if args else kwargs.get("projection")
            cls = projection_class(projection_argument(given, kwargs.get("method"), DEFAULT), "nodes")
        return super().__new__(cls)

    def __init__(self, projection: str | None = None, max_num_nodes: int | None = None, in_features: int | None = None,
                 return_counts: bool = False, check_finite: bool = False, *, method: str | None = None) -> None:
        super().__init__()
        projection = projection_argument(projection, method)
        if projection is not None and projection != self.name:
            raise ConfigError(f"{type(self).__name__} is the projection '{self.name}', not '{projection}'",
                              f"use NodeProjection('{projection}', ...)")
        channels = self.latent_channels
        in_features = check_count("in_features", in_features)
        if channels is not None and in_features not in (None, channels):
            raise ConfigError(f"projection '{self.name}' takes {channels} channel(s) per node, got in_features={in_features}",
                              "use projection='lex_sort' (lossless) or 'channel_sort' for several channels per node")
        self.return_counts, self.check_finite = bool(return_counts), bool(check_finite)
        self.max_num_nodes = check_count("max_num_nodes", max_num_nodes)
        self.in_features = in_features or channels
        self.in_layout = NodeLayout(channels)
        self._checks_width = channels is None  # 'sort' checks its one channel itself, naming lex_sort

    # -- the layout --------------------------------------------------------------------------------

    def layout(self) -> str:
        return self.in_layout.shape

    def check_latent(self, z: Tensor) -> None:
        super().check_latent(z)
        if self.latent_channels is not None and z.shape[-1] != self.latent_channels:
            raise LatentShapeError(
                f"projection '{self.name}' is defined for latents with {self.latent_channels} channel(s) per node, "
                f"got shape {tuple(z.shape)}",
                "use lex_sort or channel_sort for latents with several channels per node",
            )

    def applies_to(self, latent_dim: int) -> bool:
        """Whether this projection is defined for ``latent_dim`` channels per node."""
        return self.latent_channels is None or self.latent_channels == latent_dim

    def example_latent(self, generator: torch.Generator) -> Tensor:
        """``[8, 9, channels]`` float64 (3 channels unless the projection needs a fixed number)."""
        return self.in_layout.example_latent(generator)

    def group_sampler(self, z: Tensor):
        """Random permutations of the node axis (axis 1)."""
        return self.in_layout.group_sampler(z)

    @property
    def out_features(self) -> int:
        """Width of each output row (``d`` for pooling, ``max_num_nodes * d`` for the sorts).

        A one-line :class:`~eqlatent.errors.ConfigError` naming the missing argument when the width is
        not fixed (not an ``AttributeError``, which ``nn.Module.__getattr__`` would turn into "no attribute").
        """
        if self.keeps_nodes and self.max_num_nodes is None:
            raise ConfigError(f"NodeProjection('{self.name}') without max_num_nodes is as wide as each batch's "
                              "largest graph, so out_features is not fixed",
                              "pass max_num_nodes=<most nodes in any graph> (and in_features=d) to fix the width")
        if self.in_features is None:
            raise ConfigError(f"out_features of NodeProjection('{self.name}') needs the number of channels per node",
                              "pass in_features=d (your encoder's node latent width)")
        return self.in_features * (self.max_num_nodes if self.keeps_nodes else 1)

    def extra_repr(self) -> str:
        extras = [f"{k}={getattr(self, k)}" for k in ("max_num_nodes", "in_features") if getattr(self, k) is not None]
        return ", ".join(extras + (["return_counts=True"] if self.return_counts else []))

    # -- the call ----------------------------------------------------------------------------------

    def forward(self, x: Any, batch: Any = None, num_graphs: int | None = None, *, mask: Any = None,
                meta: Meta | None = None) -> Tensor | ProjectedNodes:
        """One invariant row per graph of ``x`` (node rows with ``batch``, a PyG Batch, or a dense latent).

        ``proj(z, meta)`` / ``proj(z, meta={"mask": m})`` is :class:`InvariantProjection`'s call on a dense
        latent: checked, then :meth:`project`.
        """
        if isinstance(batch, Mapping):  # proj(z, meta): the InvariantProjection convention
            batch, meta = None, batch
        if meta is not None:
            if batch is not None or mask is not None:
                raise ConfigError("meta is for a dense latent alone", "pass either (z, meta) or (x, batch) / (z, mask=)")
            self.check_latent(x)
            return self.project(x, meta)
        num_graphs = check_count("num_graphs", num_graphs)
        x, batch, num_graphs = unpack(x, batch, num_graphs)
        if self._checks_width and self.in_features is not None:
            d = x.shape[-1] if x.ndim > 1 else 1
            if d != self.in_features:
                raise LatentShapeError(f"the node latent has {d} channels per node but this NodeProjection was built "
                                       f"with in_features={self.in_features}",
                                       f"pass in_features={d} (or None) or feed latents of width {self.in_features}")
        if self.check_finite:
            check_finite(x, "node latent")
        # the shape is fixed without the data for dense input, or with num_graphs (and max_num_nodes for a sort)
        fixed = batch is None or (num_graphs is not None and (not self.keeps_nodes or self.max_num_nodes is not None))
        res = self.rows(x, batch, num_graphs, mask, on_device=fixed)
        return res if self.return_counts else res.out

    def rows(self, x: Tensor, batch: Tensor | None, num_graphs: int | None, mask: Any,
             on_device: bool) -> ProjectedNodes:
        """The rows and node counts of unpacked input; ``on_device``: conditions asserted on the device (no host sync)."""
        if mask is not None and batch is not None:
            raise ConfigError("mask is for a dense latent [graphs, nodes, d]; a batch vector already says which nodes "
                              "are real", "pass either (x, batch) / a PyG Batch, or (dense, mask=...)")
        dtype = x.dtype
        if dtype in LOW_PRECISION:  # computed in float32, returned in the latent's dtype
            x = x.float()
        if batch is None:
            z, mask = pad_dense(x, self.max_num_nodes if self.keeps_nodes else None, num_graphs, mask)
            if mask is not None:
                if on_device:
                    torch._assert_async(mask.any(1).all(), "a graph of the mask has no nodes: an empty node set has no "
                                        "invariant projection -- fix: drop empty graphs before projecting")
                elif len(empty := torch.nonzero(~mask.any(1)).flatten()):
                    raise empty_graphs_error(empty, None)
            counts = mask.sum(1) if mask is not None else torch.full((z.shape[0],), z.shape[1], device=z.device)
            return ProjectedNodes(self._dense(z, mask).to(dtype), counts)
        if batch.numel() == 0:
            return ProjectedNodes(self._empty(x, num_graphs).to(dtype), torch.zeros(0, dtype=torch.long, device=x.device))
        self.check_latent(x.unsqueeze(0))  # the channel count ('sort': one) before any work
        slots = self.max_num_nodes if self.keeps_nodes else None
        counts = device_counts(batch, num_graphs, slots) if on_device else validate_batch(batch, num_graphs, slots)
        pooled = self.pool_rows(x, batch, counts)
        if pooled is not None:
            return ProjectedNodes(pooled.to(dtype), counts)
        z, mask = scatter(x, batch, counts, slots or int(counts.max()))
        return ProjectedNodes(self.project(z, {"mask": mask}).to(dtype), counts)

    def pool_rows(self, x: Tensor, batch: Tensor, counts: Tensor) -> Tensor | None:
        """``[graphs, d]`` straight from node rows (a scatter over ``batch``), or None to go through the dense layout."""
        return None

    def _dense(self, z: Tensor, mask: Tensor | None) -> Tensor:
        """The projection of a dense latent; zero graphs give ``[0, width]``."""
        self.check_latent(z)
        if z.shape[0] == 0:
            return z.new_zeros(0, z.shape[2] * (z.shape[1] if self.keeps_nodes else 1))
        return self.project(z, {"mask": mask} if mask is not None else {})

    def _empty(self, x: Tensor, num_graphs: int | None) -> Tensor:
        """The ``[0, width]`` result of a batch without nodes, where the width is known; a one-line error otherwise."""
        if num_graphs:
            raise empty_graphs_error(torch.arange(num_graphs), num_graphs)
        self.check_latent(x.new_zeros(0, 1, x.shape[1]))  # 'sort' still needs one channel
        if not self.keeps_nodes:
            return x.new_zeros(0, x.shape[1])
        if self.max_num_nodes is None:
            raise LatentShapeError(f"no graphs to project (x {tuple(x.shape)}, empty batch) and no max_num_nodes, so the "
                                   f"width of '{self.name}' rows (largest graph x d) is undefined",
                                   "pass max_num_nodes=<most nodes per graph> to get an empty [0, max_num_nodes * d] "
                                   "result, or skip empty batches")
        return x.new_zeros(0, self.max_num_nodes * x.shape[1])


def node_mask(z: Tensor, meta: Meta) -> Tensor | None:
    """The ``[batch, nodes]`` boolean mask from ``meta`` (None when absent), checked against ``z``."""
    mask = meta.get("mask") if meta else None
    if mask is None:
        return None
    mask = torch.as_tensor(mask, device=z.device)
    if mask.shape != z.shape[:2]:
        raise LatentShapeError(f"meta['mask'] has shape {tuple(mask.shape)} but the latent is {tuple(z.shape)}",
                               "pass a [batch, nodes] boolean mask matching the latent")
    return mask.bool()


def gather_nodes(z: Tensor, perm: Tensor) -> Tensor:
    """Reorder the node axis of ``z [B, n, d]`` by a per-molecule permutation ``perm [B, n]``."""
    return torch.gather(z, 1, perm.unsqueeze(-1).expand_as(z))


def zero_padding(z: Tensor, mask: Tensor | None) -> Tensor:
    """``z`` with padding slots set to 0 (unchanged without a mask)."""
    return z if mask is None else z * mask.unsqueeze(-1).to(z.dtype)
