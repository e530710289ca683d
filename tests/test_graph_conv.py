"""cnn_course.models.graph: the graph convolution of Kipf and Welling (2017),
checked by hand on a small graph, for permutation equivariance, and by training."""

import math

import pytest
import torch

from cnn_course.models import (
    GCN,
    GraphConv,
    adjacency_from_edges,
    normalized_adjacency,
)

PATH = adjacency_from_edges([(0, 1), (1, 2)], 3)  # 0 - 1 - 2


def test_adjacency_from_edges_is_symmetric_without_self_loops():
    """Each undirected edge sets both entries; the diagonal stays zero."""
    assert PATH.tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    with pytest.raises(ValueError, match="outside 0..2"):
        adjacency_from_edges([(0, 3)], 3)


def test_normalized_adjacency_by_hand():
    """Path 0-1-2: degrees with self-loops 2, 3, 2; entry (i, j) is 1/sqrt(d_i d_j)."""
    s6 = 1 / math.sqrt(6)
    expected = torch.tensor([[1 / 2, s6, 0], [s6, 1 / 3, s6], [0, s6, 1 / 2]])
    assert torch.allclose(normalized_adjacency(PATH), expected)
    # symmetric, and its largest eigenvalue is 1 (so stacking layers cannot blow up)
    a_hat = normalized_adjacency(PATH)
    assert torch.allclose(a_hat, a_hat.T)
    assert torch.linalg.eigvalsh(a_hat).max().item() == pytest.approx(1.0)


def test_isolated_node_without_self_loop_gets_a_zero_row():
    """Degree 0 would divide by zero: the row is zero instead."""
    a = adjacency_from_edges([(0, 1)], 3)
    norm = normalized_adjacency(a, self_loops=False)
    assert torch.equal(norm[2], torch.zeros(3))
    assert torch.isfinite(norm).all()


def test_graph_conv_on_the_path_graph_by_hand():
    """x = [1, 2, 3], W = [[1]], no bias: every node averages its neighbourhood."""
    layer = GraphConv(1, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    x = torch.tensor([[1.0], [2.0], [3.0]])
    s6 = 1 / math.sqrt(6)
    expected = torch.tensor([[1 / 2 + 2 * s6], [s6 + 2 / 3 + 3 * s6],
                             [2 * s6 + 3 / 2]])
    assert torch.allclose(layer(x, PATH), expected)


def test_graph_conv_weights_and_bias():
    """H' = Â H W + b with a 2 -> 3 weight; parameters do not grow with the graph."""
    torch.manual_seed(0)
    layer = GraphConv(2, 3)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([1.0, -1.0, 0.5]))
    x = torch.randn(3, 2)
    expected = normalized_adjacency(PATH) @ x @ layer.weight + layer.bias
    assert torch.allclose(layer(x, PATH), expected)
    assert sum(p.numel() for p in layer.parameters()) == 2 * 3 + 3
    # the already-normalised form gives the same answer
    pre = GraphConv(2, 3, normalize=False)
    pre.load_state_dict(layer.state_dict())
    assert torch.allclose(pre(x, normalized_adjacency(PATH)), layer(x, PATH))


def test_graph_conv_is_permutation_equivariant():
    """Renumber the nodes: the output rows are renumbered the same way."""
    torch.manual_seed(0)
    V = 7
    upper = torch.triu((torch.rand(V, V) < 0.4).float(), diagonal=1)
    adjacency = upper + upper.T  # (V, V), symmetric
    x = torch.randn(V, 4)
    layer = GraphConv(4, 5)
    perm = torch.randperm(V)
    P = torch.eye(V)[perm]  # (V, V) permutation matrix: (P x)[i] = x[perm[i]]
    out = layer(x, adjacency)
    out_permuted = layer(P @ x, P @ adjacency @ P.T)
    assert torch.allclose(out_permuted, P @ out, atol=1e-6)
    assert torch.allclose(out_permuted, out[perm], atol=1e-6)
    # the two-layer network too
    model = GCN(4, 8, 3).eval()
    assert torch.allclose(model(x[perm], adjacency[perm][:, perm]),
                          model(x, adjacency)[perm], atol=1e-6)


def test_graph_conv_takes_a_batch_of_feature_sets():
    """(B, V, F) in, (B, V, F') out, each item as if alone."""
    torch.manual_seed(0)
    layer = GraphConv(2, 3)
    x = torch.randn(4, 3, 2)
    out = layer(x, PATH)
    assert out.shape == (4, 3, 3)
    assert torch.allclose(out[2], layer(x[2], PATH))


def test_graph_conv_names_the_shape_it_expects():
    """Wrong feature widths, wrong node counts and non-square adjacencies."""
    layer = GraphConv(2, 3)
    with pytest.raises(ValueError, match=r"expected node features \(V, 2\)"):
        layer(torch.randn(3, 5), PATH)
    with pytest.raises(ValueError, match="V = 3 nodes"):
        layer(torch.randn(4, 2), PATH)
    with pytest.raises(ValueError, match="square adjacency"):
        layer(torch.randn(3, 2), torch.ones(3, 4))


def test_gcn_labels_two_communities_from_two_labels():
    """Two dense groups joined by one edge, one labelled node each: the rest follow."""
    groups = [range(0, 6), range(6, 12)]
    edges = [(i, j) for g in groups for i in g for j in g if i < j] + [(5, 6)]
    adjacency = adjacency_from_edges(edges, 12)
    x = torch.eye(12)  # no features: each node only knows who it is
    y = torch.tensor([0] * 6 + [1] * 6)
    labelled = torch.tensor([0, 11])
    torch.manual_seed(0)
    model = GCN(12, 8, 2, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(50):
        loss = torch.nn.functional.cross_entropy(model(x, adjacency)[labelled],
                                                 y[labelled])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.equal(model(x, adjacency).argmax(dim=1), y)
