"""Latent interpolations judged on many pairs: share of valid and of distinct molecules along the path.

Why many pairs: one drawn path shows what can happen, not how often.  For random pairs of
test molecules that the VAE reconstructs exactly (so both end points are the real
molecules), the straight line between their latents is decoded at evenly spaced points,
once in the equivariant latent as stored (linear in the dataset's node order, an arbitrary
choice) and once between the two molecules' cross-section representatives (nodes sorted,
an order fixed by the latents themselves).  Reported per path kind: the mean share of
decoded points that rdkit accepts (with the model's decoding and, when that is valence
aware, also with plain argmax decoding: how often the path leaves what the decoder
itself gets right), and the mean share of points that are distinct valid molecules
(canonical SMILES), i.e. how much chemistry the path visits.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from eqlatent.data.graphs import graph_to_mol, quiet_rdkit
from eqlatent.models.graph_vae import GraphVAE
from eqlatent.projections.node_projection import gather_nodes


def random_pairs(candidates: Tensor, n_pairs: int, seed: int) -> list[tuple[int, int]]:
    """Up to ``n_pairs`` distinct unordered pairs of distinct entries of ``candidates``, seeded."""
    m = len(candidates)
    if m < 2:
        return []
    g = torch.Generator().manual_seed(seed)
    seen: set[tuple[int, int]] = set()
    limit = min(n_pairs, m * (m - 1) // 2)
    while len(seen) < limit:
        a, b = torch.randint(m, (2,), generator=g).tolist()
        if a != b:
            seen.add((min(a, b), max(a, b)))
    return [(int(candidates[a]), int(candidates[b])) for a, b in sorted(seen)]


@torch.no_grad()
def path_smiles(model: GraphVAE, z_a: Tensor, z_b: Tensor, steps: int, atom_types: Sequence[str],
                valence: bool | None = None) -> list[str | None]:
    """Canonical SMILES (None where invalid) decoded along ``(1 - t) z_a + t z_b``, ``t`` in ``[0, 1]``.

    ``valence``: override the model's decoding (False = plain argmax, no valence repair).
    """
    from rdkit import Chem

    quiet_rdkit()
    ts = torch.linspace(0, 1, steps, dtype=z_a.dtype, device=z_a.device).view(-1, 1, 1)
    node, bond = model.decode_graph((1 - ts) * z_a + ts * z_b, valence=valence)
    mols = [graph_to_mol(nt, bt, list(atom_types)) for nt, bt in zip(node, bond)]
    return [Chem.MolToSmiles(m) if m is not None else None for m in mols]


def sorted_pair(projection: Any, z_a: Tensor, z_b: Tensor) -> tuple[Tensor, Tensor]:
    """Both latents ``[n, d]`` with their nodes in the cross-section's (sorted) order."""
    perm = projection.sorting_permutation(torch.stack([z_a, z_b]))
    out = gather_nodes(torch.stack([z_a, z_b]), perm)
    return out[0], out[1]


def interpolation_stats(model: GraphVAE, z: Tensor, pairs: list[tuple[int, int]], projection: Any,
                        cross_section: str, steps: int, atom_types: Sequence[str]) -> dict[str, Any]:
    """Valid and distinct shares along the equivariant and the cross-section path, averaged over ``pairs``."""
    kinds = {"equivariant latent (stored node order)": lambda a, b: (a, b),
             f"{cross_section} cross-section": lambda a, b: sorted_pair(projection, a, b)}
    rows = {}
    for label, ends in kinds.items():
        valid, raw_valid, distinct, paths = [], [], [], []
        for a, b in pairs:
            za, zb = ends(z[a], z[b])
            smiles = path_smiles(model, za, zb, steps, atom_types)
            valid.append(sum(s is not None for s in smiles) / steps)
            if model.max_valence is not None:    # how often the valence repair was needed along the path
                raw = path_smiles(model, za, zb, steps, atom_types, valence=False)
                raw_valid.append(sum(s is not None for s in raw) / steps)
            distinct.append(len({s for s in smiles if s is not None}) / steps)
            paths.append(smiles)
        rows[label] = {"valid": sum(valid) / len(valid) if pairs else None,
                       "valid_argmax": sum(raw_valid) / len(raw_valid) if raw_valid else None,
                       "distinct": sum(distinct) / len(distinct) if pairs else None, "paths": paths[:5]}
    return {"n_pairs": len(pairs), "steps": steps, "pairs": pairs[:5], "kinds": rows}
