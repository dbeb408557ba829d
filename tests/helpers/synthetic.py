"""SYNTHETIC inputs for tests: dense molecular-like graphs with padding anywhere."""

from __future__ import annotations

import torch
from torch import Tensor


def random_dense_graphs(batch: int, n: int, n_types: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """SYNTHETIC dense graphs for tests: ``node_type [B, n]`` (-1 = empty slot, ~30 %) and symmetric ``bond_type``.

    Bonds (types 1-4, ~30 % of pairs) join only occupied slots, and empty slots sit at random
    places, so a test also sees padding in the middle of a graph.
    """
    node = torch.randint(n_types, (batch, n), generator=generator)
    node[torch.rand(batch, n, generator=generator) < 0.3] = -1
    bond = torch.randint(5, (batch, n, n), generator=generator) * (torch.rand(batch, n, n, generator=generator) < 0.3)
    bond = torch.triu(bond, 1)
    bond = bond + bond.transpose(1, 2)
    real = node >= 0
    return node, bond * (real.unsqueeze(1) & real.unsqueeze(2))
