"""Convolution on graphs: the graph convolution layer of Kipf and Welling (2017).

Lecture: ``lectures/12_beyond_classification.ipynb`` (the outlook).

An image is a graph whose nodes are pixels and whose edges join neighbouring
pixels; a convolution mixes every pixel with its neighbours. On any other graph
(molecules, road maps, citation networks) a node has no "left" or "above", so a
graph convolution treats all neighbours alike: it averages their feature vectors,
then applies one weight matrix shared by every node (the weight sharing of a
convolution). Kipf and Welling's layer ("Semi-supervised classification with graph
convolutional networks", ICLR 2017) normalises the average symmetrically:

    Â = A + I                       (every node is its own neighbour)
    D̂_ii = Σ_j Â_ij                 (degree, counting the self-loop)
    H' = D̂^(-1/2) Â D̂^(-1/2) H W + b

so the message from node j to node i is weighted ``1 / sqrt(d_i d_j)``. Shapes:
``A: (V, V)``, features ``H: (V, F_in)`` or a batch ``(B, V, F_in)``,
``W: (F_in, F_out)``, output ``(V, F_out)``. Renumbering the nodes renumbers the
output rows the same way (permutation equivariance): the layer cannot depend on
the order the nodes were listed in.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["adjacency_from_edges", "normalized_adjacency", "GraphConv", "GCN"]


def _check_adjacency(adjacency: torch.Tensor) -> torch.Tensor:
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"expected a square adjacency matrix (V, V), got shape "
                         f"{tuple(adjacency.shape)}")
    return adjacency


def adjacency_from_edges(edges: Iterable[tuple[int, int]],
                         num_nodes: int) -> torch.Tensor:
    """The symmetric 0/1 adjacency ``(V, V)`` of an undirected graph.

    ``adjacency_from_edges([(0, 1), (1, 2)], 3)`` is the path 0 - 1 - 2. No
    self-loops are added here (:func:`normalized_adjacency` adds them).
    """
    adjacency = torch.zeros(num_nodes, num_nodes)
    for i, j in edges:
        if not (0 <= i < num_nodes and 0 <= j < num_nodes):
            raise ValueError(f"edge ({i}, {j}) names a node outside 0..{num_nodes - 1}")
        adjacency[i, j] = adjacency[j, i] = 1.0
    return adjacency


def normalized_adjacency(adjacency: torch.Tensor,
                         self_loops: bool = True) -> torch.Tensor:
    """``D̂^(-1/2) Â D̂^(-1/2)`` with ``Â = A + I`` (``A`` itself without
    ``self_loops``): ``(V, V) -> (V, V)``.

    Entry ``(i, j)`` is ``Â_ij / sqrt(d_i d_j)``. An isolated node without a
    self-loop has degree 0 and gets a zero row rather than a division by zero.
    """
    adjacency = _check_adjacency(adjacency).float()
    if self_loops:
        adjacency = adjacency + torch.eye(adjacency.shape[0],
                                          device=adjacency.device)
    degree = adjacency.sum(dim=1)  # (V,)
    inv_sqrt = degree.pow(-0.5)
    inv_sqrt[degree == 0] = 0.0
    return inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]  # (V, V)


class GraphConv(nn.Module):
    """One graph convolution: ``H' = D̂^(-1/2) Â D̂^(-1/2) H W + b``.

    ``forward(x, adjacency)``: ``x: (V, in_features)`` or ``(B, V, in_features)``,
    ``adjacency: (V, V)`` the graph's plain adjacency (0/1 or weighted, no
    self-loops needed: the layer normalises it) -> ``(V, out_features)`` or
    ``(B, V, out_features)``. ``normalize=False`` takes ``adjacency`` as already
    normalised (compute it once with :func:`normalized_adjacency` for a fixed
    graph). Parameters: ``in_features * out_features (+ out_features)``, whatever
    the size of the graph.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 normalize: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.normalize = normalize
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.xavier_uniform_(self.weight)  # Glorot, as in the paper

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        _check_adjacency(adjacency)
        V = adjacency.shape[0]
        if x.ndim not in (2, 3) or x.shape[-2] != V or x.shape[-1] != self.in_features:
            raise ValueError(f"expected node features (V, {self.in_features}) or "
                             f"(B, V, {self.in_features}) with V = {V} nodes, got "
                             f"shape {tuple(x.shape)}")
        a_hat = normalized_adjacency(adjacency) if self.normalize else adjacency
        support = x @ self.weight  # (..., V, out): transform every node alike
        out = a_hat.to(support.dtype) @ support  # (..., V, out): mix neighbours
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class GCN(nn.Module):
    """Kipf and Welling's two-layer network for classifying the nodes of a graph.

    ``softmax(Â ReLU(Â X W0) W1)`` with dropout on the inputs of both layers;
    ``forward(x: (V, in_features), adjacency: (V, V)) -> logits (V, num_classes)``.
    Every node's output depends on its neighbours up to two edges away: the
    receptive field of two stacked layers.
    """

    def __init__(self, in_features: int, hidden: int, num_classes: int,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.conv1 = GraphConv(in_features, hidden)
        self.conv2 = GraphConv(hidden, num_classes)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        x = F.dropout(x, self.dropout, self.training)
        x = F.relu(self.conv1(x, adjacency))  # (V, hidden)
        x = F.dropout(x, self.dropout, self.training)
        return self.conv2(x, adjacency)  # (V, num_classes)
