"""Reconstruction quality of the graph VAE and chemical validity of what it decodes.

Why both the posterior mean and a sample: an equivariant *deterministic* encoder gives
symmetric atoms (e.g. the six carbons of a ring) identical means, and an equivariant
decoder then cannot tell them apart, so some graphs can only be decoded from a sampled
latent whose noise breaks the tie.  Reporting both makes that visible.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from eqlatent.data.graphs import graph_to_mol, quiet_rdkit
from eqlatent.models.graph_vae import GraphVAE


def validity(node_type: Tensor, bond_type: Tensor, atom_types: Sequence[str]) -> tuple[Tensor, Tensor]:
    """``[B]`` masks: rdkit sanitises the decoded graph (graph_to_mol is not None), and it is also one fragment.

    Sanitisation alone accepts e.g. nine isolated fluorine atoms, so the connected
    fraction is the stricter, more meaningful number for a molecule decoder.
    """
    from rdkit import Chem

    quiet_rdkit()
    mols = [graph_to_mol(nt, bt, list(atom_types)) for nt, bt in zip(node_type, bond_type)]
    valid = torch.tensor([m is not None for m in mols], dtype=torch.bool)
    connected = torch.tensor([m is not None and len(Chem.GetMolFrags(m)) == 1 for m in mols], dtype=torch.bool)
    return valid, connected


@torch.no_grad()
def exact_matches(model: GraphVAE, z: Tensor, node_true: Tensor, bond_true: Tensor) -> Tensor:
    """``[B]`` bool: ``decode_graph(z)`` is exactly the true graph, in the same node order."""
    node, bond = model.decode_graph(z)
    return (node == node_true).all(1) & (bond == bond_true).flatten(1).all(1)


@torch.no_grad()
def reconstruction_scores(model: GraphVAE, z: Tensor, node_true: Tensor, bond_true: Tensor,
                          atom_types: Sequence[str], decodable: Tensor | None = None) -> tuple[dict[str, float], Tensor]:
    """Node-type / bond accuracy, whole-graph exact match and validity of ``decode_graph(z)``.

    Node accuracy counts every slot (empty slots must be decoded empty); bond accuracy
    counts every off-diagonal pair of slots; ``atom_acc`` / ``bond_acc_real`` restrict to
    real atoms and to truly bonded pairs, which are the harder, rarer cases.
    """
    node, bond = model.decode_graph(z)
    n = node.shape[1]
    off = ~torch.eye(n, dtype=torch.bool, device=node.device)
    real = node_true >= 0
    bonded = (bond_true > 0) & off
    exact = (node == node_true).all(1) & (bond == bond_true).flatten(1).all(1)
    valid, connected = validity(node, bond, atom_types)
    return {
        "node_acc": float((node == node_true).float().mean()),
        "atom_acc": float((node == node_true)[real].float().mean()),
        "bond_acc": float((bond == bond_true)[:, off].float().mean()),
        "bond_acc_real": float((bond == bond_true)[bonded].float().mean()),
        "graph_exact": float(exact.float().mean()),
        "validity": float(valid.float().mean()),
        "valid_connected": float(connected.float().mean()),
        "exact_of_decodable": float(exact[decodable].float().mean()) if decodable is not None and decodable.any()
        else None,
    }, exact


def posterior_sample(mu: Tensor, logvar: Tensor, seed: int) -> Tensor:
    """One reproducible sample ``mu + sigma * eps`` from the per-node posterior."""
    # drawn on the CPU, so the sample is the same on every device
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed)).to(mu.device, mu.dtype)
    return mu + eps * (0.5 * logvar).exp()
