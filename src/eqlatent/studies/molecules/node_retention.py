"""How much of a molecule latent each node projection keeps: distances, neighbours, decodability.

Three measures per projection, all against the exact permutation-quotient geometry:

* quotient-distance preservation: Spearman / Pearson / relative error between
  ``||pi(z_i) - pi(z_j)||`` and ``min_P ||z_i - P z_j||`` over every pair of the
  evaluation molecules (the toolkit's engine, eqlatent.toolkit.retention_measure, in its all-pairs mode);
* kNN consistency: shared k nearest neighbours, quotient vs projected;
* decodability: run the decoder on the projection (putting the nodes back with the
  inverse sorting permutation where the projection is a cross-section) and count the
  molecules whose graph comes back exactly.
"""

from __future__ import annotations

from typing import Any, Mapping

import networkx as nx
import torch
from omegaconf import DictConfig
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups.quotient import quotient_distance
from eqlatent.models.graph_vae import GraphVAE
from eqlatent.projections.base import InvariantProjection
from eqlatent.projections.identity import Identity
from eqlatent.projections.node_projection import gather_nodes
from eqlatent.projections.registry import build_projection, projection_class
from eqlatent.studies.projection_configs import projection_config
from eqlatent.toolkit.retention_measure import measure_retention


def instantiate_projections(cfg_projection: DictConfig | None) -> dict[str, InvariantProjection]:
    """Build every projection named in the ``projection`` config group (name -> object), through the registry."""
    if not cfg_projection:
        raise ConfigError("no projections selected", "pass projection=molecules_all or projection=<name>")
    out = {}
    for key, entry in cfg_projection.items():
        projection, kwargs = projection_config(key, entry)
        if projection_class(projection).layouts not in ((), ("nodes",)):
            raise ConfigError(f"projection '{key}' ({projection}) is not a node-latent projection",
                              "use projection=molecules_all or one of its entries with experiment=molecules")
        out[key] = build_projection(projection, **kwargs)
    return out


def applies(proj: InvariantProjection, latent_dim: int) -> bool:
    """Whether ``proj`` is defined for latents with ``latent_dim`` channels per node."""
    check = getattr(proj, "applies_to", None)
    return True if check is None else bool(check(latent_dim))


def random_node_permutations(n_mol: int, n_nodes: int, seed: int) -> Tensor:
    """One independent uniform random permutation of the node slots per molecule, ``[n_mol, n_nodes]``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n_mol, n_nodes, generator=gen).argsort(dim=1)


def distance_retention(z: Tensor, projections: Mapping[str, InvariantProjection], knn_k: int) -> dict[str, dict]:
    """Distance preservation and kNN consistency of each projection on ``z [m, n, d]`` (all pairs).

    Measured by the toolkit's engine (:func:`eqlatent.toolkit.retention_measure.measure_retention`, all-pairs
    mode) against the exact S_n quotient distances; a cross-section also reports ``orbit_dev``.
    """
    d_quot = quotient_distance(z, None, "S_n", pairwise=True)
    out = {}
    for name, proj in projections.items():
        stats = measure_retention(d_quot, proj(z.double()), knn_k)
        if hasattr(proj, "sorting_permutation"):
            # a cross-section must return a member of the input's orbit: quotient distance to the input ~ 0
            stats["orbit_dev"] = float(quotient_distance(proj(z.double()).view(z.shape), z.double(), "S_n").max())
        out[name] = stats
    return out


def graph_match(node_a: Tensor, bond_a: Tensor, node_b: Tensor, bond_b: Tensor) -> Tensor:
    """``[B]`` True where two batches of dense graphs are identical slot by slot."""
    return (node_a == node_b).all(1) & (bond_a == bond_b).flatten(1).all(1)


def _nx_graph(node: Tensor, bond: Tensor) -> nx.Graph:
    g = nx.Graph()
    real = [i for i in range(len(node)) if int(node[i]) >= 0]
    g.add_nodes_from((i, {"t": int(node[i])}) for i in real)
    g.add_edges_from((i, j, {"b": int(bond[i, j])}) for i in real for j in real if i < j and int(bond[i, j]) > 0)
    return g


def isomorphic(node_a: Tensor, bond_a: Tensor, node_b: Tensor, bond_b: Tensor) -> Tensor:
    """``[B]`` True where two batches of graphs are equal up to a node relabelling (atom and bond types kept)."""
    same = []
    for na, ba, nb, bb in zip(node_a, bond_a, node_b, bond_b):
        if int((na >= 0).sum()) != int((nb >= 0).sum()):
            same.append(False)
            continue
        same.append(nx.is_isomorphic(_nx_graph(na, ba), _nx_graph(nb, bb),
                                     node_match=lambda x, y: x["t"] == y["t"], edge_match=lambda x, y: x["b"] == y["b"]))
    return torch.tensor(same, dtype=torch.bool)


@torch.no_grad()
def decodability(model: GraphVAE, z: Tensor, node_true: Tensor, bond_true: Tensor,
                 projections: Mapping[str, InvariantProjection]) -> dict[str, dict[str, Any]]:
    """Fraction of molecules the decoder gets back exactly from each projection.

    Cross-sections (``sorting_permutation``) are decoded and then un-permuted, then
    compared slot by slot; other projections that keep a node axis (channel sort) are
    compared up to graph isomorphism; pooled vectors have no node axis and are not
    decodable by a node-wise decoder (reported as None).
    """
    out: dict[str, dict[str, Any]] = {}
    b, n, d = z.shape
    for name, proj in projections.items():
        if hasattr(proj, "sorting_permutation"):
            perm = proj.sorting_permutation(z)
            node, bond = model.decode_graph(gather_nodes(z, perm))
            inv = perm.argsort(dim=1)
            node = torch.gather(node, 1, inv)
            bond = torch.gather(torch.gather(bond, 1, inv.unsqueeze(-1).expand(b, n, n)), 2,
                                inv.unsqueeze(1).expand(b, n, n))
            ok, how = graph_match(node, bond, node_true, bond_true), "exact, after the inverse permutation"
        elif isinstance(proj, Identity):
            node, bond = model.decode_graph(z)
            ok, how = graph_match(node, bond, node_true, bond_true), "exact"
        else:
            feats = proj(z)
            if feats.shape[1] != n * d:
                out[name] = {"exact_match": None, "how": "not decodable: no node axis"}
                continue
            node, bond = model.decode_graph(feats.view(b, n, d))
            ok, how = isomorphic(node, bond, node_true, bond_true), "up to graph isomorphism"
        out[name] = {"exact_match": float(ok.float().mean()), "how": how}
    return out
