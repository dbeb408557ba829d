"""Radius graphs of batched point clouds with ``torch.cdist`` (pyg-lib and torch-cluster are absent here).

Why dense per molecule: QM9 molecules have at most 29 atoms, so padding each molecule to the
batch's largest and taking one batched ``[B, M, M]`` distance tensor costs ``B * 29^2`` pairs
instead of the ``A^2`` of one distance matrix over all atoms of the batch, and pairs across
molecules never have to be masked out.  Everything is built from the input tensors' device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError


def radius_graph(pos: Tensor, batch: Tensor, cutoff: float, num_graphs: int | None = None) -> Tensor:
    """Directed edges ``[2, E]`` (source, target) between distinct atoms of one molecule closer than ``cutoff``.

    ``batch`` must be sorted (PyG's layout: molecule 0's atoms first).  Both directions of each
    pair are returned; no self-loops.  Distances are computed without cdist's matrix-product
    shortcut, so an edge's presence does not depend on where the molecule sits in space beyond
    rounding of the coordinates themselves.

    >>> pos = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [5.0, 0, 0], [0.0, 0, 0]])
    >>> radius_graph(pos, torch.tensor([0, 0, 0, 1]), cutoff=2.0).tolist()
    [[1, 0], [0, 1]]
    """
    if pos.dim() != 2 or pos.shape[1] != 3:
        raise LatentShapeError(f"positions have shape {tuple(pos.shape)}, expected [atoms, 3]",
                               "pass one row of x, y, z per atom")
    if batch.shape != pos.shape[:1] or batch.dtype != torch.long:
        raise LatentShapeError(f"batch has shape {tuple(batch.shape)} and dtype {batch.dtype}, expected "
                               f"[{pos.shape[0]}] long", "pass each atom's molecule number as a long tensor")
    if not cutoff > 0:
        raise LatentShapeError(f"cutoff {cutoff} must be positive", "pass a cutoff in Å, e.g. 5.0")
    if pos.shape[0] == 0:
        return batch.new_zeros(2, 0)
    if bool((batch[1:] < batch[:-1]).any()) or int(batch[0]) < 0:
        raise LatentShapeError("batch is not sorted non-negative molecule numbers",
                               "order atoms by molecule (PyG's layout) before building the graph")
    n_graphs = int(batch[-1]) + 1 if num_graphs is None else num_graphs
    counts = torch.bincount(batch, minlength=n_graphs)
    ptr = torch.cumsum(counts, 0) - counts
    local = torch.arange(pos.shape[0], device=pos.device) - ptr[batch]
    m = int(counts.max())
    dense = pos.new_zeros(n_graphs, m, 3)
    dense[batch, local] = pos
    valid = torch.zeros(n_graphs, m, dtype=torch.bool, device=pos.device)
    valid[batch, local] = True
    dist = torch.cdist(dense, dense, compute_mode="donot_use_mm_for_euclid_dist")
    eye = torch.eye(m, dtype=torch.bool, device=pos.device)
    adj = (dist < cutoff) & valid[:, :, None] & valid[:, None, :] & ~eye
    g, i, j = adj.nonzero(as_tuple=True)
    return torch.stack([ptr[g] + j, ptr[g] + i])
