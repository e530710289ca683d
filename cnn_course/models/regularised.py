"""DropConnect, and a small CNN in which every regulariser is a switch.

Lecture: ``lectures/09_overfitting.ipynb`` (the ablation: one technique at a time,
all on the same split).

DropConnect (Wan, Zeiler, Zhang, LeCun and Fergus, 2013) drops *weights* where
dropout (Srivastava et al., 2014) drops *activations*: each training step draws a
new 0/1 mask over the weight matrix, so every example sees a different random
sub-network of connections. Here the mask is scaled by ``1 / (1 - p)`` as in
inverted dropout, so evaluation uses the plain weights. (The paper instead
approximates the average over masks at test time by sampling from a Gaussian; the
mean used here is the simpler rule.)

:class:`SmallCNN` is the network the lecture overfits on purpose: three
convolution - ReLU - 2×2 max-pooling stages and a two-layer dense head, with
switches for the narrower net ("fewer parameters"), batch normalisation after every
convolution, and dropout or DropConnect in the head.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_input

__all__ = ["DropConnectLinear", "SmallCNN", "small_cnn"]


class DropConnectLinear(nn.Linear):
    """``nn.Linear`` whose weights are dropped with probability ``p`` in training.

    ``x: (N, in_features) -> (N, out_features)``. In ``train()`` mode each forward
    call keeps every weight with probability ``1 - p`` (the bias is kept) and scales
    the kept ones by ``1 / (1 - p)``; in ``eval()`` mode it is ``nn.Linear``.
    """

    def __init__(self, in_features: int, out_features: int, p: float = 0.5,
                 bias: bool = True) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"expected a drop probability p in [0, 1), got {p!r}")
        super().__init__(in_features, out_features, bias)
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return F.linear(x, self.weight, self.bias)
        keep = torch.rand_like(self.weight) >= self.p  # (out, in): one mask per step
        weight = self.weight * keep / (1.0 - self.p)
        return F.linear(x, weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


def _stage(in_channels: int, out_channels: int, batchnorm: bool) -> nn.Sequential:
    """3×3 convolution ("same"), optional batch norm, ReLU, 2×2 max pooling:
    ``(N, in, H, W) -> (N, out, H/2, W/2)``."""
    layers = [("conv", nn.Conv2d(in_channels, out_channels, 3, padding=1,
                                 bias=not batchnorm))]  # BN's beta is the bias
    if batchnorm:
        layers.append(("bn", nn.BatchNorm2d(out_channels)))
    layers += [("relu", nn.ReLU(inplace=True)), ("pool", nn.MaxPool2d(2))]
    return nn.Sequential(OrderedDict(layers))


class SmallCNN(nn.Module):
    """Three conv stages (``width``, ``2 * width``, ``4 * width`` channels) and a
    dense head ``4 * width * 4 * 4 -> hidden -> num_classes``.

    ``x: (N, in_channels, 32, 32) -> (N, num_classes)``. The switches:

    - ``width``, ``hidden``: fewer parameters;
    - ``batchnorm``: ``BatchNorm2d`` after every convolution;
    - ``dropout``: ``nn.Dropout(dropout)`` before each dense layer;
    - ``dropconnect``: the dense layers become :class:`DropConnectLinear` with
      ``p = dropconnect``.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, *,
                 width: int = 16, hidden: int = 256, batchnorm: bool = False,
                 dropout: float = 0.0, dropconnect: float = 0.0) -> None:
        super().__init__()
        if dropout and dropconnect:
            raise ValueError(f"expected dropout or DropConnect, not both; got "
                             f"dropout={dropout}, dropconnect={dropconnect}")
        self.in_channels = in_channels
        widths = (width, 2 * width, 4 * width)
        self.features = nn.Sequential(OrderedDict([
            ("stage1", _stage(in_channels, widths[0], batchnorm)),  # 32 -> 16
            ("stage2", _stage(widths[0], widths[1], batchnorm)),  # 16 -> 8
            ("stage3", _stage(widths[1], widths[2], batchnorm)),  # 8 -> 4
        ]))
        flat = widths[2] * 4 * 4

        def dense(n_in: int, n_out: int) -> nn.Linear:
            if dropconnect:
                return DropConnectLinear(n_in, n_out, p=dropconnect)
            return nn.Linear(n_in, n_out)

        head = [("flatten", nn.Flatten())]
        if dropout:
            head.append(("drop1", nn.Dropout(dropout)))
        head += [("fc1", dense(flat, hidden)), ("relu", nn.ReLU(inplace=True))]
        if dropout:
            head.append(("drop2", nn.Dropout(dropout)))
        head.append(("fc2", dense(hidden, num_classes)))
        self.head = nn.Sequential(OrderedDict(head))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "SmallCNN", self.in_channels, (32, 32))
        x = self.features(x)  # (N, 4 * width, 4, 4)
        return self.head(x)  # (N, num_classes)


def small_cnn(num_classes: int = 10, in_channels: int = 3, **switches) -> SmallCNN:
    """Build :class:`SmallCNN`: ``small_cnn(dropout=0.5)``, ``small_cnn(width=8)``."""
    return SmallCNN(num_classes, in_channels, **switches)
