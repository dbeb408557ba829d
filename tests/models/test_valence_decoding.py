"""Valence-aware decoding and the exact-decoding ceiling, on hand-built molecules (SMILES written here).

Checks: greedy valence decoding never over-bonds an atom and equals argmax decoding when
that is already valid; the symmetry ceiling rejects graphs with interchangeable but
differently bonded atoms (methylcyclohexane, Kekulé benzene) and accepts asymmetric or
fully symmetric ones (ethanol, cyclopropane).
"""

from __future__ import annotations

import pytest
import torch

from eqlatent.data.graphs import BOND_TYPES, graph_to_mol, smiles_to_graph
from eqlatent.models.valence_decoding import bond_orders_for, valence_decode, valences_for
from eqlatent.studies.molecules.ceiling import decodable_from_symmetric_latent, symmetry_classes

ATOMS = ("C", "N", "O", "F")
N = 9


def _dense(smiles: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = smiles_to_graph(smiles, ATOMS, N)
    node = torch.full((N,), -1, dtype=torch.long)
    node[: len(g.node_type)] = torch.tensor(g.node_type)
    bond = torch.zeros(N, N, dtype=torch.long)
    for i, j, k in g.edges:
        bond[i, j] = bond[j, i] = k + 1
    return node, bond


def _logits_from(bond: torch.Tensor, sharp: float = 5.0) -> torch.Tensor:
    return sharp * torch.nn.functional.one_hot(bond, len(BOND_TYPES) + 1).double()


@pytest.mark.parametrize("smiles", ["CCO", "CC1=CC=CC=C1", "C#CC(=O)N", "OC1CC1F"])
def test_valence_decoding_keeps_a_valid_argmax_graph(smiles):
    node, bond = _dense(smiles)
    out = valence_decode(node[None], _logits_from(bond)[None], valences_for(ATOMS), bond_orders_for(BOND_TYPES))
    assert torch.equal(out[0], bond)


def test_valence_decoding_drops_the_least_likely_excess_bond():
    # a carbon asked for five single bonds (CH4 core + one more): the weakest one must go
    node = torch.tensor([0, 0, 0, 0, 0, 0, -1, -1, -1])
    logits = torch.zeros(N, N, len(BOND_TYPES) + 1, dtype=torch.float64)
    logits[..., 0] = 2.0                                    # "no bond" by default
    for j, strength in zip(range(1, 6), (6.0, 5.0, 4.5, 4.0, 3.0)):
        logits[0, j, 1] = logits[j, 0, 1] = strength        # single bond 0-j, the last one weakest
    out = valence_decode(node[None], logits[None], valences_for(ATOMS), bond_orders_for(BOND_TYPES))[0]
    assert out[0, 1:5].tolist() == [1, 1, 1, 1] and int(out[0, 5]) == 0
    assert graph_to_mol(node, out, list(ATOMS)) is not None


def test_valence_decoding_demotes_a_double_bond_to_fit():
    # O=C=O is fine, but O with two double bonds is not: the second falls back to a single bond if likely enough
    node = torch.tensor([2, 0, 0, -1, -1, -1, -1, -1, -1])          # O, C, C
    logits = torch.zeros(N, N, len(BOND_TYPES) + 1, dtype=torch.float64)
    logits[..., 0] = 1.0
    logits[0, 1, 2] = logits[1, 0, 2] = 6.0                          # O=C (strong)
    logits[0, 2, 2] = logits[2, 0, 2] = 5.0                          # O=C (weaker; no valence left)
    logits[1, 2, 1] = logits[2, 1, 1] = 4.0                          # C-C
    out = valence_decode(node[None], logits[None], valences_for(ATOMS), bond_orders_for(BOND_TYPES))[0]
    assert int(out[0, 1]) == 2 and int(out[0, 2]) == 0 and int(out[1, 2]) == 1
    used = [sum({0: 0, 1: 1, 2: 2, 3: 3}[int(b)] for b in out[i]) for i in range(3)]
    assert used[0] <= 2 and used[1] <= 4 and used[2] <= 4


def test_valence_decoding_never_bonds_empty_slots():
    node = torch.tensor([0, 0, -1, -1, -1, -1, -1, -1, -1])
    logits = torch.zeros(1, N, N, len(BOND_TYPES) + 1, dtype=torch.float64)
    logits[..., 1] = 3.0                                              # every pair "wants" a single bond
    out = valence_decode(node[None], logits, valences_for(ATOMS), bond_orders_for(BOND_TYPES))[0]
    assert int(out[2:].sum()) == 0 and int(out[:, 2:].sum()) == 0 and int(out[0, 1]) == 1


@pytest.mark.parametrize("smiles,decodable", [
    ("CCO", True),              # every atom distinguishable
    ("C1CC1", True),            # one class, every pair bonded alike
    ("CC(C)C", True),           # three methyls alike, all bonded to the centre, none to each other
    ("CC1CCCCC1", False),       # the ring's mirror-image carbons are alike but bonded differently
    ("C1=CC=CC=C1", False),     # Kekulé benzene: six alike carbons, single and double bonds
    ("CC#N", True),
])
def test_decodability_ceiling_on_hand_built_molecules(smiles, decodable):
    node, bond = _dense(smiles)
    assert decodable_from_symmetric_latent(node, bond) is decodable


def test_symmetry_classes_are_invariant_to_the_node_order():
    node, bond = _dense("CC1CCCCC1")
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(0))
    c, cp = symmetry_classes(node, bond), symmetry_classes(node[perm], bond[perm][:, perm])
    assert [c[int(p)] for p in perm] == cp
    assert len(set(c)) == 6          # methyl, C1, two ortho, two meta, para, empty slots


def test_valence_decoding_joins_fragments_by_the_most_likely_single_bond():
    # C-C and C-O decoded as two fragments; of the bridging pairs, 1-2 is the most likely single bond
    node = torch.tensor([0, 0, 0, 2, -1, -1, -1, -1, -1])
    logits = torch.zeros(N, N, len(BOND_TYPES) + 1, dtype=torch.float64)
    logits[..., 0] = 3.0
    for (i, j), single in {(0, 1): 6.0, (2, 3): 6.0, (1, 2): 2.5, (0, 3): 1.0}.items():
        logits[i, j, 1] = logits[j, i, 1] = single
    args = (node[None], logits[None], valences_for(ATOMS), bond_orders_for(BOND_TYPES))
    assert int(valence_decode(*args, connect=False)[0, 1, 2]) == 0
    out = valence_decode(*args)[0]
    assert int(out[1, 2]) == 1 and int(out[0, 3]) == 0
    assert graph_to_mol(node, out, list(ATOMS)) is not None


def test_random_pairs_are_distinct_unordered_and_seeded():
    from eqlatent.studies.molecules.interpolation import random_pairs

    rows = torch.tensor([3, 8, 11, 20, 42])
    pairs = random_pairs(rows, 50, seed=0)
    assert len(pairs) == 10 and len(set(pairs)) == 10                  # capped at C(5, 2)
    assert all(a != b and a in rows.tolist() and b in rows.tolist() for a, b in pairs)
    assert random_pairs(rows, 4, seed=1) == random_pairs(rows, 4, seed=1)
    assert random_pairs(rows[:1], 4, seed=0) == []
