"""``eqlatent.project_nodes``: S_n-invariant projections of PyG-style node latents, one row per graph.

Why: a PyG encoder returns one row per node, ``x [num_nodes, d]``, with ``batch [num_nodes]``
saying which graph each row belongs to.  The projection of the name asked for
(:class:`~eqlatent.projections.node_projection.NodeProjection`, from the registry) takes such rows
as they are: :mod:`eqlatent.projections.node_inputs` puts them into the dense ``[graphs, nodes, d]``
layout with a padding mask in one vectorised step, and pooling needs no dense layout at all.
:func:`project_nodes` is that module called once, with every input condition checked on the host
(exact one-line errors); the module itself, inside a model, asserts them on the device instead
(see :mod:`eqlatent.projections.node_projection` for padding, widths and compilation).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from eqlatent.groups.inputs import check_finite
from eqlatent.projections.node_inputs import check_count, dense_nodes, unpack
from eqlatent.projections.node_projection import NodeProjection, ProjectedNodes

__all__ = ["NodeProjection", "ProjectedNodes", "dense_nodes", "project_nodes"]


def project_nodes(x: Any, batch: Tensor | None = None, projection: str = "lex_sort", max_num_nodes: int | None = None,
                  num_graphs: int | None = None, return_counts: bool = False, *, mask: Any = None,
                  method: str | None = None) -> Tensor | ProjectedNodes:
    """S_n-invariant projection of node latents, one row per graph.

    Parameters
    ----------
    x:
        ``[num_nodes, d]`` node latents (with ``batch``), a ``torch_geometric.data.Batch`` (its
        ``x`` and ``batch``), or a dense ``[graphs, nodes, d]`` latent (every slot a node, or ``mask``).
    batch:
        ``[num_nodes]`` graph index of every node, a 1-D vector: sorted, ``0 .. G-1`` with every
        id present (PyG's ``data.batch``; relabel other ids with ``torch.unique(batch, return_inverse=True)``).
    projection:
        ``"lex_sort"`` (default: lossless for any d, equal to ``"sort"`` for d = 1), ``"sort"``
        (d = 1 only: lossless isometric cross-section), ``"channel_sort"`` (lossy for d > 1),
        ``"mixing_sort"`` (random mixings of the channels sorted: lossless and, unlike ``lex_sort``,
        continuous; ``n (d - 1) + 1`` columns, so ``n * (n (d - 1) + 1)`` wide),
        ``"sum_pool"``, ``"mean_pool"``, ``"max_pool"`` (lossy pooling): the projections' names
        in ``configs/projection/`` (``method=``, its earlier name, still works with a DeprecationWarning).
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
    proj = NodeProjection(None if method is not None and projection == "lex_sort" else projection,
                          max_num_nodes=max_num_nodes, method=method)
    num_graphs = check_count("num_graphs", num_graphs)
    x, batch, num_graphs = unpack(x, batch, num_graphs)
    check_finite(x, "node latent")
    res = proj.rows(x, batch, num_graphs, mask, on_device=False)
    return res if return_counts else res.out
