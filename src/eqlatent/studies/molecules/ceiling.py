"""Which molecules an equivariant graph VAE can decode exactly from the posterior mean: the ceiling.

Why this bounds exact reconstruction: an equivariant encoder gives atoms that it cannot
tell apart identical latents, and an equivariant decoder fed identical latents for slots
``i`` and ``j`` outputs a bond matrix that is unchanged by swapping ``i`` and ``j``.  So if
the slots fall into classes of indistinguishable atoms, the decoded graph is the molecule
only when, within each class and between every two classes, the bonds are all of one type
(or all absent).  A symmetric ring such as the one in methylcyclohexane fails that test
and is never decoded exactly from the mean, however well the model is trained.

The classes are computed by colour refinement (1-WL) on exactly the graph the encoder
sees -- atom types (empty slots included) and Kekulé bond types.  Atoms in one orbit of
the graph's automorphisms always share a colour; the Maron 2->2 layers separate at most
what this refinement separates on such small graphs, so shared colours are what the
encoder is bound to (for QM9's molecules colour classes and orbits coincide in practice).
"""

from __future__ import annotations

import torch
from torch import Tensor


def symmetry_classes(node_type: Tensor, bond_type: Tensor) -> list[int]:
    """Stable 1-WL colour of each slot of one dense graph (``[n]`` and ``[n, n]``); equal colour = same class."""
    n = node_type.shape[0]
    nodes = [int(t) for t in node_type]
    bonds = bond_type.tolist()
    colour = nodes[:]
    for _ in range(n):
        signature = [(colour[i], tuple(sorted((bonds[i][j], colour[j]) for j in range(n) if j != i)))
                     for i in range(n)]
        palette = {s: c for c, s in enumerate(sorted(set(signature)))}
        new = [palette[s] for s in signature]
        if len(set(new)) == len(set(colour)):
            return new
        colour = new
    return colour


def decodable_from_symmetric_latent(node_type: Tensor, bond_type: Tensor) -> bool:
    """True if the graph is invariant under every permutation within its symmetry classes.

    That is the condition for an equivariant decoder to output it from a latent that is
    identical within each class: every pair of classes (and every class with itself) is
    joined by bonds of one type only, or by none.
    """
    colour = symmetry_classes(node_type, bond_type)
    n = len(colour)
    seen: dict[tuple[int, int], int] = {}
    bonds = bond_type.tolist()
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            key = (colour[i], colour[j])
            if seen.setdefault(key, bonds[i][j]) != bonds[i][j]:
                return False
    return True


def decodable_mask(node_type: Tensor, bond_type: Tensor) -> Tensor:
    """``[B]`` bool: which graphs of a batch an equivariant VAE can decode exactly from its posterior mean."""
    return torch.tensor([decodable_from_symmetric_latent(nt, bt) for nt, bt in zip(node_type, bond_type)],
                        dtype=torch.bool)
