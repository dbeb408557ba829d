"""Valence-aware decoding: turn the graph VAE's bond logits into a graph no atom of which is over-bonded.

Why: plain argmax decoding reads every pair of atoms on its own, so one atom can collect
more bonds than its valence allows and rdkit rejects the molecule.  Here bonds are
committed greedily, most confident pair first, and each pair takes the most likely of
"no bond" and the bond types that still fit both atoms' remaining valence; fragments
left over are then joined by their most likely single bonds.  When the argmax graph is
a connected graph within the valences the result equals it, so exact reconstruction of
a (connected) molecule is never lowered by this step.

Ties (equal confidences) are broken by slot index -- the only place where the decoder
is not permutation-equivariant, and only for latents that are themselves symmetric
(identical per-node latents), whose argmax graph could not be the molecule anyway.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

#: usual (uncharged) valences of the heavy atoms the datasets use
VALENCE = {"C": 4, "N": 3, "O": 2, "F": 1, "S": 6, "Cl": 1, "Br": 1, "I": 1, "P": 5, "B": 3, "Si": 4, "Se": 2}
#: valence used by one bond of each type; aromatic bonds count 1 (a Kekulé ring alternates 1 and 2)
BOND_ORDER = {"SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "AROMATIC": 1}


def valences_for(atom_types: Sequence[str]) -> list[int]:
    """Maximum valence per atom type, in vocabulary order."""
    missing = [a for a in atom_types if a not in VALENCE]
    if missing:
        raise ValueError(f"no valence known for atom types {missing}; add them to eqlatent.models.valence_decoding.VALENCE")
    return [VALENCE[a] for a in atom_types]


def bond_orders_for(bond_types: Sequence[str]) -> list[int]:
    """Valence used per bond type, in vocabulary order (without "no bond")."""
    return [BOND_ORDER[b] for b in bond_types]


@torch.no_grad()
def valence_decode(node_type: Tensor, bond_logits: Tensor, max_valence: Sequence[int],
                   bond_order: Sequence[int], connect: bool = True) -> Tensor:
    """Bond matrix ``[B, n, n]`` (0 = no bond) that respects ``max_valence``, from logits ``[B, n, n, K+1]``.

    ``node_type [B, n]`` indexes ``max_valence`` (-1 = empty slot, never bonded);
    ``bond_order[k - 1]`` is the valence bond type ``k`` uses.  ``connect``: then join
    left-over fragments by their most likely single bonds where valences allow.
    """
    b, n, _, k1 = bond_logits.shape
    iu, ju = (t.tolist() for t in torch.triu_indices(n, n, offset=1))
    pair_logp = torch.log_softmax(bond_logits.double(), dim=-1)[:, iu, ju]        # [B, P, K+1]
    # confidence of a pair = its best bond probability; most confident bonds are committed first
    ranking = torch.argsort(-pair_logp[..., 1:].max(-1).values, dim=1, stable=True).tolist()
    order = [0] + [int(o) for o in bond_order]
    cap = [int(v) for v in max_valence]
    out = torch.zeros(b, n, n, dtype=torch.long)
    rows = out.tolist()
    for m, (types, lp, rank) in enumerate(zip(node_type.tolist(), pair_logp.tolist(), ranking)):
        real = [t >= 0 for t in types]
        left = [cap[t] if t >= 0 else 0 for t in types]
        bond = rows[m]
        for p in rank:
            i, j = iu[p], ju[p]
            room = min(left[i], left[j])
            if room <= 0:
                continue
            scores = lp[p]
            best, best_k = scores[0], 0
            for k in range(1, k1):
                if order[k] <= room and scores[k] > best:
                    best, best_k = scores[k], k
            if best_k:
                bond[i][j] = bond[j][i] = best_k
                left[i] -= order[best_k]
                left[j] -= order[best_k]
        if connect:
            _join_fragments(bond, real, left, lp, iu, ju, rank)
    return torch.tensor(rows, dtype=torch.long).view(b, n, n)


def _join_fragments(bond: list[list[int]], real: list[bool], left: list[int], lp: list[list[float]], iu: list[int],
                    ju: list[int], ranking: list[int]) -> None:
    """Add single bonds, most likely first, between fragments while valence allows (in place).

    A molecule is one fragment; the greedy pass may leave several when the decoder is
    unsure of a bond.  The true graph is connected, so this never undoes an exact decoding.
    """
    n = len(real)
    root = list(range(n))

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    for i in range(n):
        for j in range(i + 1, n):
            if bond[i][j] > 0:
                root[find(i)] = find(j)
    # candidates by how much more likely a single bond is than no bond
    order = sorted(ranking, key=lambda p: lp[p][0] - lp[p][1])
    for p in order:
        i, j = iu[p], ju[p]
        if real[i] and real[j] and left[i] >= 1 and left[j] >= 1 and find(i) != find(j):
            bond[i][j] = bond[j][i] = 1
            left[i] -= 1
            left[j] -= 1
            root[find(i)] = find(j)
