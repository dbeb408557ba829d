"""GraphVAE.decode_graph in chunks: the same graphs as one pass, for any chunk size."""

from __future__ import annotations

import pytest
import torch

import eqlatent.models.graph_vae as graph_vae
from eqlatent.models.graph_vae import GraphVAE

VALENCE = {"valence_decoding": True, "atom_types": ["C", "N", "O", "F"],
           "bond_types": ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]}


@pytest.mark.parametrize("options", [{}, VALENCE], ids=["argmax", "valence"])
@pytest.mark.parametrize("per_chunk", [1, 3, 7])
def test_chunked_decoding_equals_one_pass(monkeypatch, options, per_chunk):
    model = GraphVAE(n_atom_types=4, max_nodes=6, latent_dim=2, hidden=8, n_layers=2, width=8, **options)
    model = model.double().eval()
    z = torch.randn(10, 6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    whole_node, whole_bond = model.decode_graph(z)                      # 10 x 36 pairs: one chunk by default
    monkeypatch.setattr(graph_vae, "DECODE_PAIRS", per_chunk * 36)      # chunks of per_chunk molecules
    sizes, decode_chunk = [], model._decode_chunk
    monkeypatch.setattr(model, "_decode_chunk", lambda part, valence: sizes.append(len(part)) or decode_chunk(part, valence))
    node, bond = model.decode_graph(z)
    assert sizes == [per_chunk] * (10 // per_chunk) + ([10 % per_chunk] if 10 % per_chunk else [])
    assert torch.equal(node, whole_node) and torch.equal(bond, whole_bond)
    assert node.shape == (10, 6) and bond.shape == (10, 6, 6)


def test_decoding_keeps_no_graph_for_gradients():
    model = GraphVAE(n_atom_types=4, max_nodes=5, latent_dim=2, hidden=8, n_layers=2, width=8)
    node, bond = model.eval().decode_graph(torch.randn(3, 5, 2, requires_grad=True))
    assert not node.requires_grad and not bond.requires_grad and node.grad_fn is None
