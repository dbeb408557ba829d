"""Node latents as they come from a model -> the dense ``[graphs, nodes, d]`` latent a node projection computes on.

Why: a PyG encoder returns one row per node, ``x [num_nodes, d]``, with ``batch [num_nodes]``
saying which graph each row belongs to.  :func:`scatter` puts that into the dense
``[graphs, nodes, d]`` layout with a padding mask in one vectorised step (the scatter of
``torch_geometric.utils.to_dense_batch``, no Python loop over graphs); :func:`dense_nodes` is the
whole way from any input (node rows, a PyG ``Batch``, a dense latent) to that layout.

Everything that would make a result silently wrong is refused with a one-line
:class:`~eqlatent.errors.LatentShapeError`: a graph larger than ``max_num_nodes`` (``to_dense_batch``
would drop its extra nodes, and which ones depends on the node order, so the result would no
longer be invariant), graph ids with gaps (a row per missing id), and empty graphs (no node set to
sort or pool).  :func:`validate_batch` checks on the host (a few device-host syncs, exact messages);
:func:`device_counts` asserts the same conditions on the device (``torch._assert_async``), for a
module inside a compiled model.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.inputs import check_finite


def check_count(name: str, value: Any) -> int | None:
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


def unpack(x: Any, batch: Any, num_graphs: int | None) -> tuple[Tensor, Tensor | None, int | None]:
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


def pad_dense(x: Tensor, max_num_nodes: int | None, num_graphs: int | None,
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


def empty_graphs_error(empty: Tensor, num_graphs: int | None) -> LatentShapeError:
    many = len(empty) > 1
    of = f" of {num_graphs}" if num_graphs is not None else ""
    return LatentShapeError(f"graph{'s' if many else ''} {_ids(empty)}{of} {'have' if many else 'has'} no nodes: an "
                            "empty node set has no invariant projection",
                            "drop empty graphs before projecting (e.g. Batch.from_data_list([g for g in graphs "
                            "if g.num_nodes])) and keep their rows yourself if you need them")


def validate_batch(batch: Tensor, num_graphs: int | None, max_num_nodes: int | None) -> Tensor:
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
        raise empty_graphs_error(empty, num_graphs)
    largest, where = (int(v) for v in counts.max(0))
    if max_num_nodes is not None and largest > max_num_nodes:
        raise LatentShapeError(f"graph {where} has {largest} nodes but max_num_nodes={max_num_nodes}: its extra nodes "
                               "would be dropped (to_dense_batch truncates), which breaks invariance",
                               f"pass max_num_nodes={largest} or more (the most nodes in any graph you will project)")
    return counts


def device_counts(batch: Tensor, num_graphs: int, max_num_nodes: int | None) -> Tensor:
    """``counts [num_graphs]`` with the conditions of :func:`validate_batch` asserted on the device (no host sync)."""
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


def scatter(x: Tensor, batch: Tensor, counts: Tensor, slots: int) -> tuple[Tensor, Tensor]:
    """The ``to_dense_batch`` scatter: row i goes to (its graph, its position inside the graph); no host sync."""
    start = torch.cumsum(counts, 0) - counts
    position = torch.arange(len(batch), device=x.device) - start[batch]
    z = x.new_zeros(len(counts), slots, x.shape[1])
    z[batch, position] = x
    mask = torch.zeros(len(counts), slots, dtype=torch.bool, device=x.device)
    mask[batch, position] = True
    return z, mask


def dense_nodes(x: Any, batch: Tensor | None = None, max_num_nodes: int | None = None,
                num_graphs: int | None = None) -> tuple[Tensor, Tensor | None]:
    """``(z [graphs, nodes, d], mask [graphs, nodes] or None)`` from PyG node latents or a dense latent.

    ``mask`` is True on real nodes (``mask.sum(1)`` is the node count of each graph); it is None for
    a dense ``[graphs, nodes, d]`` latent given without ``batch`` and not padded, where every slot is
    a node.  Graph ids must be ``0 .. num_graphs - 1``, sorted, every one present; ``nodes`` is
    ``max_num_nodes`` when given (never smaller than the largest graph), else the largest graph.
    Empty input (no graphs, or no nodes) is a one-line error.
    """
    max_num_nodes = check_count("max_num_nodes", max_num_nodes)
    num_graphs = check_count("num_graphs", num_graphs)
    x, batch, num_graphs = unpack(x, batch, num_graphs)
    check_finite(x, "node latent")
    if batch is None:
        if x.ndim == 3 and x.shape[0] == 0:
            raise LatentShapeError(f"the dense latent {tuple(x.shape)} has no nodes to project",
                                   "pass at least one graph with at least one node")
        return pad_dense(x, max_num_nodes, num_graphs)
    if batch.numel() == 0:
        raise LatentShapeError(f"no nodes to project (x {tuple(x.shape)}, empty batch)",
                               "pass at least one graph with at least one node")
    counts = validate_batch(batch, num_graphs, max_num_nodes)
    return scatter(x, batch, counts, max_num_nodes or int(counts.max()))
