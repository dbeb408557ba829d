"""``eqlatent.project_nodes``: S_n-invariant projections of PyG-style node latents.

Why: a PyG encoder returns one row per node, ``x [num_nodes, d]``, with ``batch [num_nodes]``
saying which graph each row belongs to.  :func:`dense_nodes` scatters that into the studies'
dense ``[graphs, nodes, d]`` layout with a padding mask in one vectorised step (the scatter of
``torch_geometric.utils.to_dense_batch``, no Python loop over graphs), and the studies' own
projection classes (``Sort``, ``LexSort``, ``ChannelSort``, ``SumPool``, ``MeanPool``, ``MaxPool``,
under their config names ``sort`` ... ``max_pool``) do the rest.  A padding slot is a node of
latent 0 to the sorts (sorted in with the real nodes: then ``sort`` is the isometric cross-section
of the zero-padded quotient, the distance :func:`eqlatent.quotient_distance` and
:func:`eqlatent.retention` compute between graphs of different sizes) and is ignored by pooling.
Pooling from a batch vector needs no dense layout at all (a scatter-sum / mean / max over
``batch``), so its width is ``d`` whatever the graph sizes and ``max_num_nodes`` does not limit it.

Everything that would make the result silently wrong is refused with a one-line
:class:`~eqlatent.errors.LatentShapeError` instead: a graph larger than ``max_num_nodes`` for
the sorts (``to_dense_batch`` would drop its extra nodes, and which ones depends on the node
order, so the result would no longer be invariant), graph ids with gaps (a row per missing id),
and empty graphs (no node set to sort or pool).  An empty batch (no graphs) gives an empty
``[0, width]`` result wherever the width is known -- pooling (``d``), the sorts with
``max_num_nodes`` (or a dense ``[0, nodes, d]`` latent) -- as ``invariant_projection`` does, and
a one-line error for a sort without ``max_num_nodes`` (its width, the largest graph, is undefined).

Output width: sorted outputs are ``[graphs, max_nodes * d]``, zero-padded, where ``max_nodes``
is the largest graph *of this batch* unless ``max_num_nodes`` fixes it; pass ``max_num_nodes``
(and use :attr:`NodeProjection.out_features`) to feed an ``nn.Linear`` across batches.  The
padding zeros cannot be told from nodes whose latent is zero; ``return_counts=True`` also
returns the number of nodes of every graph, to append as a feature when that matters.

In a model: :func:`project_nodes` checks its input on the host (a few device-host syncs);
:class:`NodeProjection` does not whenever the output shape is fixed without reading the data
(a dense latent, or a batch vector with ``num_graphs`` -- a PyG ``Batch`` carries it -- and, for
the sorts, ``max_num_nodes``): then the same conditions are asserted on the device
(``torch._assert_async``, one-line messages) and ``forward`` runs under
``torch.compile(fullgraph=True)`` and on the ``meta`` device.
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import torch
from torch import Tensor

from eqlatent.errors import ConfigError, LatentShapeError, check_choice
from eqlatent.groups.inputs import LOW_PRECISION, check_finite
from eqlatent.projections.channel_sort import ChannelSort
from eqlatent.projections.lex_sort import LexSort
from eqlatent.projections.pooling import MaxPool, MeanPool, SumPool
from eqlatent.projections.sort import Sort

#: the projection names, the same as the configs' (``configs/projection/``), the retention CLI's and the report's
NODE_METHODS = {cls.name: cls for cls in (Sort, LexSort, ChannelSort, SumPool, MeanPool, MaxPool)}
#: names of earlier releases -> the one name now (refused with a one-line error naming it)
RENAMED = {"sum": "sum_pool", "mean": "mean_pool", "max": "max_pool"}
#: methods whose output keeps one block of d numbers per node slot (width max_nodes * d)
SORTS = ("sort", "lex_sort", "channel_sort")


class ProjectedNodes(NamedTuple):
    """``project_nodes(..., return_counts=True)``: the invariant rows and the node count of each graph."""

    out: Tensor     #: ``[graphs, width]`` invariant rows
    counts: Tensor  #: ``[graphs]`` (long) number of real nodes of each graph


def _node_projection(method: str):
    check_choice("node projection", method, NODE_METHODS, RENAMED)
    return NODE_METHODS[method]()


def _check_count(name: str, value: Any) -> int | None:
    """``value`` as a positive int (or None), else a one-line :class:`ConfigError`."""
    if value is None:
        return None
    try:
        number = None if isinstance(value, bool) else operator.index(value)  # int, numpy / 0-d torch integers
    except TypeError:
        number = None
    if number is None or number < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}", f"pass {name}=<int >= 1> or leave it None")
    return number


def _ids(ids: Tensor, limit: int = 8) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


def _unpack(x: Any, batch: Any, num_graphs: int | None) -> tuple[Tensor, Tensor | None, int | None]:
    """``(x, batch or None, num_graphs)`` from node rows, a PyG Batch or a dense latent: shape checks only."""
    if hasattr(x, "x") and hasattr(x, "batch") and batch is None:  # torch_geometric Batch / Data
        num_graphs = num_graphs or int(getattr(x, "num_graphs", None) or 1)
        batch = x.batch if x.batch is not None else torch.zeros(x.num_nodes or 0, dtype=torch.long)
        x = x.x
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise LatentShapeError(f"node latents must be a float tensor, got {getattr(x, 'dtype', type(x).__name__)}",
                               "pass x [num_nodes, d] (float) with batch [num_nodes], or a torch_geometric Batch")
    if batch is None:
        return x, None, num_graphs
    if x.ndim == 1:
        x = x.unsqueeze(-1)
    batch = torch.as_tensor(batch, device=x.device)
    if batch.ndim != 1:
        raise LatentShapeError(f"batch must be a 1-D vector [num_nodes] of graph ids, got shape {tuple(batch.shape)}",
                               "pass PyG's data.batch as it is (batch.flatten() if it holds one id per node row)")
    if x.ndim != 2 or len(batch) != len(x):
        raise LatentShapeError(f"batch has {batch.numel()} entries but x has {x.shape[0]} nodes (x {tuple(x.shape)})",
                               "pass one graph index per node row: batch [num_nodes] from your PyG Batch (data.batch)")
    if batch.is_floating_point() or batch.dtype == torch.bool:
        raise LatentShapeError(f"batch must hold integer graph ids, got dtype {batch.dtype}",
                               "pass data.batch (torch.long), or batch.long() if the ids are whole numbers")
    return x, batch.long(), num_graphs


def _pad_dense(x: Tensor, max_num_nodes: int | None, num_graphs: int | None,
               mask: Any = None) -> tuple[Tensor, Tensor | None]:
    """A dense ``[graphs, nodes, d]`` latent and its mask (None: every slot a node), padded to ``max_num_nodes``.

    Shape checks only (no host sync); zero graphs pass (an empty result), graphs of zero slots do not.
    """
    if x.ndim != 3:
        raise LatentShapeError(f"without a batch vector the latent must be dense [graphs, nodes, d], got {tuple(x.shape)}",
                               "pass batch [num_nodes] (graph index per node) for x [num_nodes, d]")
    graphs, nodes = x.shape[:2]
    if nodes == 0 and graphs:
        raise LatentShapeError(f"the dense latent {tuple(x.shape)} has no nodes to project",
                               "pass at least one graph with at least one node")
    if num_graphs is not None and num_graphs != graphs:
        raise LatentShapeError(f"num_graphs={num_graphs} but the dense latent has {graphs} graphs",
                               "leave num_graphs None for dense input (it is x.shape[0])")
    if mask is not None:
        mask = torch.as_tensor(mask, device=x.device).bool()
        if mask.shape != x.shape[:2]:
            raise LatentShapeError(f"mask has shape {tuple(mask.shape)} but the latent is {tuple(x.shape)}",
                                   "pass the [graphs, nodes] mask of to_dense_batch with its dense latent")
    if max_num_nodes is None or max_num_nodes == nodes:
        return x, mask
    if nodes > max_num_nodes:
        raise LatentShapeError(f"the dense latent has {nodes} node slots but max_num_nodes={max_num_nodes}",
                               f"pass max_num_nodes={nodes} or more (or None for the latent's own width)")
    z = torch.cat([x, x.new_zeros(graphs, max_num_nodes - nodes, x.shape[2])], 1)
    real = mask if mask is not None else torch.ones(graphs, nodes, dtype=torch.bool, device=x.device)
    return z, torch.cat([real, real.new_zeros(graphs, max_num_nodes - nodes)], 1)


def _empty_graphs_error(empty: Tensor, num_graphs: int | None) -> LatentShapeError:
    many = len(empty) > 1
    of = f" of {num_graphs}" if num_graphs is not None else ""
    return LatentShapeError(f"graph{'s' if many else ''} {_ids(empty)}{of} {'have' if many else 'has'} no nodes: an "
                            "empty node set has no invariant projection",
                            "drop empty graphs before projecting (e.g. Batch.from_data_list([g for g in graphs "
                            "if g.num_nodes])) and keep their rows yourself if you need them")


def _validate_batch(batch: Tensor, num_graphs: int | None, max_num_nodes: int | None) -> Tensor:
    """``counts [graphs]`` of a non-empty batch vector, after the host checks (one-line errors; a few syncs)."""
    if bool((batch[1:] < batch[:-1]).any()) or int(batch.min()) < 0:
        raise LatentShapeError("batch is not sorted non-negative graph indices",
                               "sort the nodes by graph (order = batch.argsort(stable=True); x, batch = x[order], batch[order])")
    top = int(batch[-1])
    if num_graphs is not None and top >= num_graphs:
        raise LatentShapeError(f"batch holds graph id {top} but num_graphs={num_graphs}",
                               f"pass num_graphs={top + 1} or more, or relabel the ids: "
                               "_, batch = torch.unique(batch, return_inverse=True)")
    counts = torch.bincount(batch, minlength=num_graphs or top + 1)
    empty = torch.nonzero(counts == 0).flatten()
    if len(empty) and num_graphs is None:
        raise LatentShapeError(f"graph ids in batch are not 0..{top} with every id present: "
                               f"{len(empty)} missing (id {_ids(empty)}), so the result would have a row per missing id",
                               "relabel them to 0..G-1: _, batch = torch.unique(batch, return_inverse=True)")
    if len(empty):
        raise _empty_graphs_error(empty, num_graphs)
    largest, where = (int(v) for v in counts.max(0))
    if max_num_nodes is not None and largest > max_num_nodes:
        raise LatentShapeError(f"graph {where} has {largest} nodes but max_num_nodes={max_num_nodes}: its extra nodes "
                               "would be dropped (to_dense_batch truncates), which breaks invariance",
                               f"pass max_num_nodes={largest} or more (the most nodes in any graph you will project)")
    return counts


def _device_counts(batch: Tensor, num_graphs: int, max_num_nodes: int | None) -> Tensor:
    """``counts [num_graphs]`` with the conditions of :func:`_validate_batch` asserted on the device (no host sync)."""
    torch._assert_async(((batch >= 0) & (batch < num_graphs)).all(),
                        f"batch holds a graph id outside 0..{num_graphs - 1} (num_graphs={num_graphs}) -- fix: pass "
                        "num_graphs = the number of graphs, or relabel: _, batch = torch.unique(batch, return_inverse=True)")
    torch._assert_async((batch[1:] >= batch[:-1]).all(),
                        "batch is not sorted graph indices -- fix: sort the nodes by graph "
                        "(order = batch.argsort(stable=True); x, batch = x[order], batch[order])")
    counts = torch.zeros(num_graphs, dtype=torch.long, device=batch.device).scatter_add_(
        0, batch.clamp(0, num_graphs - 1), torch.ones_like(batch))
    torch._assert_async((counts > 0).all(), "a graph of the batch has no nodes: an empty node set has no invariant "
                        "projection -- fix: drop empty graphs before projecting, or pass the right num_graphs")
    if max_num_nodes is not None:
        torch._assert_async((counts <= max_num_nodes).all(),
                            f"a graph has more than max_num_nodes={max_num_nodes} nodes: its extra nodes would be "
                            "dropped, which breaks invariance -- fix: pass a larger max_num_nodes")
    return counts


def _scatter(x: Tensor, batch: Tensor, counts: Tensor, slots: int) -> tuple[Tensor, Tensor]:
    """The ``to_dense_batch`` scatter: row i goes to (its graph, its position inside the graph); no host sync."""
    start = torch.cumsum(counts, 0) - counts
    position = torch.arange(len(batch), device=x.device) - start[batch]
    z = x.new_zeros(len(counts), slots, x.shape[1])
    z[batch, position] = x
    mask = torch.zeros(len(counts), slots, dtype=torch.bool, device=x.device)
    mask[batch, position] = True
    return z, mask


def _pool(x: Tensor, batch: Tensor, counts: Tensor, method: str) -> Tensor:
    """``[graphs, d]`` sum / mean / max over each graph's rows: a scatter, no dense layout, any graph size."""
    if method == "max_pool":
        index = batch.unsqueeze(1).expand_as(x)
        return x.new_zeros(len(counts), x.shape[1]).scatter_reduce_(0, index, x, "amax", include_self=False)
    total = x.new_zeros(len(counts), x.shape[1]).index_add_(0, batch, x)
    return total if method == "sum_pool" else total / counts.clamp(min=1).unsqueeze(1).to(x.dtype)


def _empty(proj: Any, x: Tensor, method: str, max_num_nodes: int | None, num_graphs: int | None) -> Tensor:
    """The ``[0, width]`` result of a batch without nodes, where the width is known; a one-line error otherwise."""
    if num_graphs:
        raise _empty_graphs_error(torch.arange(num_graphs), num_graphs)
    proj.check_latent(x.new_zeros(0, 1, x.shape[1]))  # 'sort' still needs one channel
    if method not in SORTS:
        return x.new_zeros(0, x.shape[1])
    if max_num_nodes is None:
        raise LatentShapeError(f"no graphs to project (x {tuple(x.shape)}, empty batch) and no max_num_nodes, so the "
                               f"width of '{method}' rows (largest graph x d) is undefined",
                               "pass max_num_nodes=<most nodes per graph> to get an empty [0, max_num_nodes * d] "
                               "result, or skip empty batches")
    return x.new_zeros(0, max_num_nodes * x.shape[1])


def _dense(proj: Any, z: Tensor, mask: Tensor | None, method: str) -> Tensor:
    """The projection of a dense latent; zero graphs give ``[0, width]``."""
    proj.check_latent(z)
    if z.shape[0] == 0:
        return z.new_zeros(0, z.shape[2] * (z.shape[1] if method in SORTS else 1))
    return proj(z, {"mask": mask} if mask is not None else None)


def dense_nodes(x: Any, batch: Tensor | None = None, max_num_nodes: int | None = None,
                num_graphs: int | None = None) -> tuple[Tensor, Tensor | None]:
    """``(z [graphs, nodes, d], mask [graphs, nodes] or None)`` from PyG node latents or a dense latent.

    ``mask`` is True on real nodes (``mask.sum(1)`` is the node count of each graph); it is None for
    a dense ``[graphs, nodes, d]`` latent given without ``batch`` and not padded, where every slot is
    a node.  Graph ids must be ``0 .. num_graphs - 1``, sorted, every one present; ``nodes`` is
    ``max_num_nodes`` when given (never smaller than the largest graph), else the largest graph.
    Empty input (no graphs, or no nodes) is a one-line error.
    """
    max_num_nodes = _check_count("max_num_nodes", max_num_nodes)
    num_graphs = _check_count("num_graphs", num_graphs)
    x, batch, num_graphs = _unpack(x, batch, num_graphs)
    check_finite(x, "node latent")
    if batch is None:
        if x.ndim == 3 and x.shape[0] == 0:
            raise LatentShapeError(f"the dense latent {tuple(x.shape)} has no nodes to project",
                                   "pass at least one graph with at least one node")
        return _pad_dense(x, max_num_nodes, num_graphs)
    if batch.numel() == 0:
        raise LatentShapeError(f"no nodes to project (x {tuple(x.shape)}, empty batch)",
                               "pass at least one graph with at least one node")
    counts = _validate_batch(batch, num_graphs, max_num_nodes)
    return _scatter(x, batch, counts, max_num_nodes or int(counts.max()))


def _project(proj: Any, method: str, x: Tensor, batch: Tensor | None, mask: Any, num_graphs: int | None,
             max_num_nodes: int | None, on_device: bool) -> ProjectedNodes:
    """The rows and node counts; ``on_device``: checks asserted on the device (no host sync), else on the host."""
    if mask is not None and batch is not None:
        raise ConfigError("mask is for a dense latent [graphs, nodes, d]; a batch vector already says which nodes "
                          "are real", "pass either (x, batch) / a PyG Batch, or (dense, mask=...)")
    dtype = x.dtype
    if dtype in LOW_PRECISION:  # computed in float32, returned in the latent's dtype
        x = x.float()
    pooled = method not in SORTS
    if batch is None:
        z, mask = _pad_dense(x, None if pooled else max_num_nodes, num_graphs, mask)
        if mask is not None:
            if on_device:
                torch._assert_async(mask.any(1).all(), "a graph of the mask has no nodes: an empty node set has no "
                                    "invariant projection -- fix: drop empty graphs before projecting")
            elif len(empty := torch.nonzero(~mask.any(1)).flatten()):
                raise _empty_graphs_error(empty, None)
        counts = mask.sum(1) if mask is not None else torch.full((z.shape[0],), z.shape[1], device=z.device)
        return ProjectedNodes(_dense(proj, z, mask, method).to(dtype), counts)
    if batch.numel() == 0:
        return ProjectedNodes(_empty(proj, x, method, max_num_nodes, num_graphs).to(dtype),
                              torch.zeros(0, dtype=torch.long, device=x.device))
    proj.check_latent(x.unsqueeze(0))  # the channel count ('sort': one) before any work
    slots = None if pooled else max_num_nodes
    counts = _device_counts(batch, num_graphs, slots) if on_device else _validate_batch(batch, num_graphs, slots)
    if pooled:
        return ProjectedNodes(_pool(x, batch, counts, method).to(dtype), counts)
    z, mask = _scatter(x, batch, counts, slots or int(counts.max()))
    return ProjectedNodes(proj(z, {"mask": mask}).to(dtype), counts)


def project_nodes(x: Any, batch: Tensor | None = None, method: str = "lex_sort", max_num_nodes: int | None = None,
                  num_graphs: int | None = None, return_counts: bool = False, *,
                  mask: Any = None) -> Tensor | ProjectedNodes:
    """S_n-invariant projection of node latents, one row per graph.

    Parameters
    ----------
    x:
        ``[num_nodes, d]`` node latents (with ``batch``), a ``torch_geometric.data.Batch`` (its
        ``x`` and ``batch``), or a dense ``[graphs, nodes, d]`` latent (every slot a node, or ``mask``).
    batch:
        ``[num_nodes]`` graph index of every node, a 1-D vector: sorted, ``0 .. G-1`` with every
        id present (PyG's ``data.batch``; relabel other ids with ``torch.unique(batch, return_inverse=True)``).
    method:
        ``"lex_sort"`` (default: lossless for any d, equal to ``"sort"`` for d = 1), ``"sort"``
        (d = 1 only: lossless isometric cross-section), ``"channel_sort"`` (lossy for d > 1),
        ``"sum_pool"``, ``"mean_pool"``, ``"max_pool"`` (lossy pooling): the projections' names
        in ``configs/projection/``.
    max_num_nodes:
        Number of node slots every graph is padded to, for the sorts.  Without it the sorts' width
        is ``(largest graph of this batch) * d``, which changes from batch to batch and so cannot
        feed an ``nn.Linear``; with it the width is ``max_num_nodes * d`` for every batch.  A graph
        with more nodes is an error for the sorts (never a silent truncation).  Pooling is ``d``
        wide whatever the graph sizes and takes graphs of any size.
    num_graphs:
        Number of graphs, when the batch vector alone does not say (a graph id past the last
        one present, or with no nodes, is an error: an empty node set has no projection).
    return_counts:
        Also return the node count of every graph, as ``ProjectedNodes(out, counts)``.  Zero
        padding equals nodes with zero latents (3 zero nodes and 4 give the same sorted row);
        ``torch.cat([out, counts[:, None].to(out.dtype)], 1)`` keeps such graphs apart.
    mask:
        With a dense latent: ``[graphs, nodes]``, True on real nodes (``to_dense_batch``'s mask).

    Returns
    -------
    Tensor or ProjectedNodes
        ``[graphs, max_nodes * d]`` for the sorts (padding slots are zero nodes, sorted in with the
        real ones: the isometric convention of the zero-padded quotient), ``[graphs, d]`` for pooling;
        with ``return_counts`` the pair ``(out, counts [graphs])``.  No graphs (an empty batch, or a
        dense ``[0, nodes, d]``) give ``[0, width]`` where the width is known (pooling; the sorts with
        ``max_num_nodes`` or a dense latent); a sort of an empty batch without ``max_num_nodes`` is a
        one-line error.  float16 / bfloat16 latents are computed in float32 and returned in their dtype.

    Examples
    --------
    >>> import torch, eqlatent
    >>> x = torch.tensor([[3.0], [1.0], [2.0], [5.0], [-4.0]])
    >>> batch = torch.tensor([0, 0, 0, 1, 1])
    >>> eqlatent.project_nodes(x, batch)  # graph 1's padding slot is a zero node, sorted in
    tensor([[ 1.,  2.,  3.],
            [-4.,  0.,  5.]])
    >>> eqlatent.project_nodes(x, batch, max_num_nodes=4)  # the same width for every batch
    tensor([[ 0.,  1.,  2.,  3.],
            [-4.,  0.,  0.,  5.]])
    >>> eqlatent.project_nodes(x, batch, "mean_pool", return_counts=True)
    ProjectedNodes(out=tensor([[2.0000],
            [0.5000]]), counts=tensor([3, 2]))
    """
    proj = _node_projection(method)
    max_num_nodes = _check_count("max_num_nodes", max_num_nodes)
    num_graphs = _check_count("num_graphs", num_graphs)
    x, batch, num_graphs = _unpack(x, batch, num_graphs)
    check_finite(x, "node latent")
    res = _project(proj, method, x, batch, mask, num_graphs, max_num_nodes, on_device=False)
    return res if return_counts else res.out


class NodeProjection(torch.nn.Module):
    """:func:`project_nodes` as a ``torch.nn.Module``: ``forward(x, batch=None, num_graphs=None, *, mask=None)``.

    ``in_features`` (d, the channels per node) and ``max_num_nodes`` say what the output width
    :attr:`out_features` is, to size a downstream ``nn.Linear``: ``d`` for pooling,
    ``max_num_nodes * d`` for the sorts (``d`` is 1 for ``"sort"``).  ``out_features`` raises a
    one-line :class:`~eqlatent.errors.ConfigError` naming the missing argument when the width is
    not fixed by them (a sort without ``max_num_nodes`` is as wide as each batch's largest graph);
    not an ``AttributeError``, which ``nn.Module.__getattr__`` would replace by "no attribute".
    With ``in_features`` set, a latent with another number of channels is refused.

    In a model: ``forward`` has no host-device sync when the output shape is fixed without
    reading the data -- a dense latent, or a batch vector with ``num_graphs`` (a PyG ``Batch``
    carries it) and, for the sorts, ``max_num_nodes``.  The input conditions of
    :func:`project_nodes` are then asserted on the device (``torch._assert_async``: a
    ``RuntimeError`` with the one-line message on CPU, a device-side assert on CUDA), and it runs
    under ``torch.compile(fullgraph=True)`` and on the ``meta`` device.  Otherwise (no
    ``num_graphs``; a sort without ``max_num_nodes``) the shape depends on the batch vector's
    values and it calls :func:`project_nodes`, which reads them on the host.  NaN / inf pass
    through (NaN in, NaN out) unless ``check_finite=True`` (a host sync per call).

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

    def __init__(self, method: str = "lex_sort", max_num_nodes: int | None = None, in_features: int | None = None,
                 return_counts: bool = False, check_finite: bool = False) -> None:
        super().__init__()
        self.projection = _node_projection(method)  # refuses an unknown method at construction
        channels = self.projection.latent_channels
        in_features = _check_count("in_features", in_features)
        if channels is not None and in_features not in (None, channels):
            raise ConfigError(f"method '{method}' takes {channels} channel(s) per node, got in_features={in_features}",
                              "use method='lex_sort' (lossless) or 'channel_sort' for several channels per node")
        self.method, self.return_counts, self.check_finite = method, return_counts, bool(check_finite)
        self.max_num_nodes = _check_count("max_num_nodes", max_num_nodes)
        self.in_features = in_features or channels
        self._checks_width = channels is None  # 'sort' checks its one channel itself, naming lex_sort

    @property
    def out_features(self) -> int:
        """Width of each output row (``d`` for pooling, ``max_num_nodes * d`` for the sorts)."""
        if self.method in SORTS and self.max_num_nodes is None:
            raise ConfigError(f"NodeProjection('{self.method}') without max_num_nodes is as wide as each batch's "
                              "largest graph, so out_features is not fixed",
                              "pass max_num_nodes=<most nodes in any graph> (and in_features=d) to fix the width")
        if self.in_features is None:
            raise ConfigError(f"out_features of NodeProjection('{self.method}') needs the number of channels per node",
                              "pass in_features=d (your encoder's node latent width)")
        return self.in_features * (self.max_num_nodes if self.method in SORTS else 1)

    def forward(self, x: Any, batch: Tensor | None = None, num_graphs: int | None = None, *,
                mask: Any = None) -> Tensor | ProjectedNodes:
        num_graphs = _check_count("num_graphs", num_graphs)
        x, batch, num_graphs = _unpack(x, batch, num_graphs)
        if self._checks_width and self.in_features is not None:
            d = x.shape[-1] if x.ndim > 1 else 1
            if d != self.in_features:
                raise LatentShapeError(f"the node latent has {d} channels per node but this NodeProjection was built "
                                       f"with in_features={self.in_features}",
                                       f"pass in_features={d} (or None) or feed latents of width {self.in_features}")
        if self.check_finite:
            check_finite(x, "node latent")
        # the shape is fixed without the data for dense input, or with num_graphs (and max_num_nodes for a sort)
        fixed = batch is None or (num_graphs is not None and (self.method not in SORTS or self.max_num_nodes is not None))
        res = _project(self.projection, self.method, x, batch, mask, num_graphs, self.max_num_nodes, on_device=fixed)
        return res if self.return_counts else res.out

    def extra_repr(self) -> str:
        extras = [f"method={self.method!r}"]
        extras += [f"{k}={getattr(self, k)}" for k in ("max_num_nodes", "in_features") if getattr(self, k) is not None]
        return ", ".join(extras + (["return_counts=True"] if self.return_counts else []))
