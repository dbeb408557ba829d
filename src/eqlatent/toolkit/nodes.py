"""``eqlatent.project_nodes``: S_n-invariant projections of PyG-style node latents.

Why: a PyG encoder returns one row per node, ``x [num_nodes, d]``, with ``batch [num_nodes]``
saying which graph each row belongs to.  ``torch_geometric.utils.to_dense_batch`` turns that
into the studies' dense ``[graphs, max_nodes, d]`` layout with a padding mask in one
vectorised call (no Python loop over graphs), and the studies' own projection classes
(``Sort``, ``LexSort``, ``ChannelSort``, ``SumPool``, ``MeanPool``, ``MaxPool``, under their config
names ``sort`` ... ``max_pool``) do the rest,
padding placed last / ignored exactly as in the studies.  Sorted outputs are
``[graphs, max_nodes * d]``, zero-padded; pass ``max_num_nodes`` for a fixed width.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError, check_choice
from eqlatent.groups.inputs import check_finite
from eqlatent.projections.channel_sort import ChannelSort
from eqlatent.projections.lex_sort import LexSort
from eqlatent.projections.pooling import MaxPool, MeanPool, SumPool
from eqlatent.projections.sort import Sort

#: the projection names, the same as the configs' (``configs/projection/``), the retention CLI's and the report's
NODE_METHODS = {cls.name: cls for cls in (Sort, LexSort, ChannelSort, SumPool, MeanPool, MaxPool)}
#: names of earlier releases -> the one name now (refused with a one-line error naming it)
RENAMED = {"sum": "sum_pool", "mean": "mean_pool", "max": "max_pool"}


def _node_projection(method: str):
    check_choice("node projection", method, NODE_METHODS, RENAMED)
    return NODE_METHODS[method]()


def dense_nodes(x: Any, batch: Tensor | None = None, max_num_nodes: int | None = None,
                num_graphs: int | None = None) -> tuple[Tensor, Tensor | None]:
    """``(z [graphs, nodes, d], mask [graphs, nodes] or None)`` from PyG node latents or a dense latent."""
    if hasattr(x, "x") and hasattr(x, "batch") and batch is None:  # torch_geometric Batch / Data
        batch = x.batch if x.batch is not None else torch.zeros(x.num_nodes, dtype=torch.long)
        num_graphs = num_graphs or int(getattr(x, "num_graphs", 1))
        x = x.x
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise LatentShapeError(f"node latents must be a float tensor, got {getattr(x, 'dtype', type(x).__name__)}",
                               "pass x [num_nodes, d] (float) with batch [num_nodes], or a torch_geometric Batch")
    check_finite(x, "node latent")
    if batch is None:
        if x.ndim != 3:
            raise LatentShapeError(f"without a batch vector the latent must be dense [graphs, nodes, d], got {tuple(x.shape)}",
                                   "pass batch [num_nodes] (graph index per node) for x [num_nodes, d]")
        return x, None
    if x.ndim == 1:
        x = x.unsqueeze(-1)
    batch = torch.as_tensor(batch, device=x.device)
    if x.ndim != 2 or batch.ndim != 1 or len(batch) != len(x):
        raise LatentShapeError(f"batch has {batch.numel()} entries but x has {x.shape[0]} nodes (x {tuple(x.shape)})",
                               "pass one graph index per node row: batch [num_nodes] from your PyG Batch (data.batch)")
    if batch.numel() and (bool((batch[1:] < batch[:-1]).any()) or int(batch.min()) < 0):
        raise LatentShapeError("batch is not sorted non-negative graph indices",
                               "sort the nodes by graph (order = batch.argsort(stable=True); x, batch = x[order], batch[order])")
    from torch_geometric.utils import to_dense_batch

    return to_dense_batch(x, batch.long(), max_num_nodes=max_num_nodes, batch_size=num_graphs)


def project_nodes(x: Any, batch: Tensor | None = None, method: str = "sort", max_num_nodes: int | None = None,
                  num_graphs: int | None = None) -> Tensor:
    """S_n-invariant projection of node latents, one row per graph.

    Parameters
    ----------
    x:
        ``[num_nodes, d]`` node latents (with ``batch``), a ``torch_geometric.data.Batch`` (its
        ``x`` and ``batch``), or a dense ``[graphs, nodes, d]`` latent without padding.
    batch:
        ``[num_nodes]`` graph index of every node, sorted (PyG's ``data.batch``).
    method:
        ``"sort"`` (d = 1: lossless isometric cross-section), ``"lex_sort"`` (lossless, any d),
        ``"channel_sort"`` (lossy for d > 1), ``"sum_pool"``, ``"mean_pool"``, ``"max_pool"`` (lossy
        pooling): the projections' names in ``configs/projection/``.
    max_num_nodes:
        Fixed number of node slots for the sorting methods (default: the largest graph).

    Returns
    -------
    Tensor
        ``[graphs, max_nodes * d]`` for the sorts (padding zeros last), ``[graphs, d]`` for pooling.

    Examples
    --------
    >>> import torch, eqlatent
    >>> x = torch.tensor([[3.0], [1.0], [2.0], [5.0], [4.0]])
    >>> batch = torch.tensor([0, 0, 0, 1, 1])
    >>> eqlatent.project_nodes(x, batch, "sort")
    tensor([[1., 2., 3.],
            [4., 5., 0.]])
    >>> eqlatent.project_nodes(x, batch, "mean_pool")
    tensor([[2.0000],
            [4.5000]])
    """
    proj = _node_projection(method)
    z, mask = dense_nodes(x, batch, max_num_nodes, num_graphs)
    return proj(z, {"mask": mask} if mask is not None else None)


class NodeProjection(torch.nn.Module):
    """:func:`project_nodes` as a ``torch.nn.Module``: ``forward(x, batch=None)``.

    Examples
    --------
    >>> import torch, eqlatent
    >>> pool = eqlatent.NodeProjection("max_pool")
    >>> pool(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0]))
    tensor([[1., 2.]])
    """

    def __init__(self, method: str = "sort", max_num_nodes: int | None = None) -> None:
        super().__init__()
        _node_projection(method)  # refuse an unknown method at construction
        self.method, self.max_num_nodes = method, max_num_nodes

    def forward(self, x: Any, batch: Tensor | None = None) -> Tensor:
        return project_nodes(x, batch, self.method, self.max_num_nodes)

    def extra_repr(self) -> str:
        return f"method={self.method!r}"
