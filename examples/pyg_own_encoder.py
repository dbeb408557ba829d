"""Invariant graph-level vectors from your own PyG encoder's node latents (runs in seconds on a CPU).

A two-layer GCN (untrained, random weights) on synthetic random graphs gives one latent row
per node; relabelling the nodes of every graph permutes those rows.  ``project_nodes`` turns
them into one invariant row per graph, batched like ``to_dense_batch`` (no loop over graphs); with
``max_num_nodes`` the width is fixed for a downstream ``nn.Linear``, and ``return_counts`` tells
zero padding from zero-latent nodes.
"""

import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GCNConv

import eqlatent


class Encoder(torch.nn.Module):
    def __init__(self, d_in: int = 4, d_out: int = 2) -> None:
        super().__init__()
        self.conv1, self.conv2 = GCNConv(d_in, 16), GCNConv(16, d_out)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def random_graph(n: int) -> Data:  # synthetic: random features, a ring plus random chords
    ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    chords = torch.randint(n, (2, n // 2))
    edges = torch.cat([ring, chords], 1)
    return Data(x=torch.randn(n, 4), edge_index=torch.cat([edges, edges.flip(0)], 1))


def relabel(g: Data) -> Data:
    perm = torch.randperm(g.num_nodes)
    inverse = perm.argsort()
    return Data(x=g.x[perm], edge_index=inverse[g.edge_index])


torch.manual_seed(0)
encoder = Encoder().eval()
graphs = [random_graph(int(n)) for n in torch.randint(5, 15, (100,))]
data, data_relabelled = Batch.from_data_list(graphs), Batch.from_data_list([relabel(g) for g in graphs])
with torch.no_grad():
    x, x_rel = encoder(data.x, data.edge_index), encoder(data_relabelled.x, data_relabelled.edge_index)
    print(f"{data.num_graphs} graphs, {data.num_nodes} nodes, node latents {tuple(x.shape)}")
    for method in ("lex_sort", "channel_sort", "sum_pool", "mean_pool", "max_pool"):
        out = eqlatent.project_nodes(x, data.batch, method)
        err = float((eqlatent.project_nodes(x_rel, data.batch, method) - out).abs().max())
        print(f"{method:<12} -> {tuple(out.shape)}, invariance error under node relabelling: {err:.1e}")
    pool = eqlatent.NodeProjection("sum_pool")  # as a module, e.g. inside your model
    print(f"NodeProjection('sum_pool') on the Batch: {tuple(pool(Batch.from_data_list(graphs[:3])).shape)}")
    # a fixed width for a downstream nn.Linear: pad every graph to max_num_nodes slots (a larger graph is an error)
    head = eqlatent.NodeProjection("lex_sort", max_num_nodes=16, in_features=x.shape[1])
    linear = torch.nn.Linear(head.out_features, 1)
    first3 = data.batch < 3
    print(f"NodeProjection('lex_sort', max_num_nodes=16) -> out_features {head.out_features} for any batch: "
          f"{tuple(head(x[first3], data.batch[first3]).shape)}, {tuple(head(x, data.batch).shape)}; "
          f"nn.Linear on top -> {tuple(linear(head(x, data.batch)).shape)}")
    # padding zeros look like zero-latent nodes: append the node counts if that matters
    out, counts = eqlatent.project_nodes(x, data.batch, return_counts=True)
    print(f"with node counts appended: {tuple(torch.cat([out, counts[:, None].to(out.dtype)], 1).shape)}")
    from torch_geometric.utils import to_dense_batch

    dense, _ = to_dense_batch(x, data.batch)  # [graphs, max_nodes, d], zero padding
    print(eqlatent.retention(dense, "lex_sort", "S_n", n_pairs=300, n_knn=100).to_markdown())
