"""Highway networks (Srivastava, Greff and Schmidhuber, 2015).

Lecture: ``lectures/10_architectures.ipynb``.

A highway layer learns how much of its input to transform and how much to carry:

    y = H(x) * T(x) + x * (1 - T(x)),    T(x) = sigmoid(W_T x + b_T).

With the transform gate's bias ``b_T`` started negative (the paper uses -1 to -3,
deeper nets more negative) every layer begins close to the identity, so a 50- or
100-layer stack still passes gradients: the idea ResNet later fixed to ``T = 1/2``
(and dropped the gate). ``highway_net`` is the paper's MNIST experiment: one plain
layer, then ``depth - 1`` highway layers of width 50, then a linear classifier;
``kind="plain"`` builds the plain counterpart (ReLU layers, width 71 in the paper,
about as many parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_input


class HighwayLayer(nn.Module):
    """Fully connected highway layer: ``x: (N, features) -> (N, features)``."""

    def __init__(self, features: int, gate_bias: float = -2.0) -> None:
        super().__init__()
        self.transform = nn.Linear(features, features)  # H
        self.gate = nn.Linear(features, features)  # T
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.transform(x))  # (N, features)
        t = torch.sigmoid(self.gate(x))  # (N, features), in (0, 1)
        return h * t + x * (1 - t)


class HighwayConv2d(nn.Module):
    """Convolutional highway layer: ``x: (N, C, H, W) -> (N, C, H, W)``.

    ``H`` and ``T`` are ``kernel_size`` convolutions with "same" padding, so the
    carried input and the transformed output line up pixel by pixel.
    """

    def __init__(self, channels: int, kernel_size: int = 3,
                 gate_bias: float = -2.0) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.transform = nn.Conv2d(channels, channels, kernel_size, padding=pad)
        self.gate = nn.Conv2d(channels, channels, kernel_size, padding=pad)
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.transform(x))  # (N, C, H, W)
        t = torch.sigmoid(self.gate(x))  # (N, C, H, W)
        return h * t + x * (1 - t)


class HighwayNet(nn.Module):
    """``x: (N, in_channels, S, S) -> logits (N, num_classes)``, S = ``input_size``."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, depth: int = 10,
                 width: int | None = None, input_size: int = 28, kind: str = "highway",
                 gate_bias: float = -2.0) -> None:
        super().__init__()
        if kind not in ("highway", "plain"):
            raise ValueError(f"expected kind 'highway' or 'plain', got {kind!r}")
        if depth < 1:
            raise ValueError(f"expected depth >= 1, got {depth}")
        width = width if width is not None else (50 if kind == "highway" else 71)
        self.name = f"highway_net ({kind})"
        self.in_channels = in_channels
        self.input_size = input_size
        self.input_layer = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * input_size * input_size, width),
            nn.ReLU(),
        )
        if kind == "highway":
            body = [HighwayLayer(width, gate_bias) for _ in range(depth - 1)]
        else:
            body = [nn.Sequential(nn.Linear(width, width), nn.ReLU())
                    for _ in range(depth - 1)]
        self.layers = nn.Sequential(*body)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.name, self.in_channels, (self.input_size,) * 2)
        x = self.input_layer(x)  # (N, width)
        x = self.layers(x)  # (N, width)
        return self.classifier(x)  # (N, num_classes)


def highway_net(num_classes: int = 10, in_channels: int = 1, depth: int = 10,
                width: int | None = None, input_size: int = 28, kind: str = "highway",
                gate_bias: float = -2.0) -> HighwayNet:
    """Build the paper's MNIST highway (or plain) network: ``depth`` hidden layers."""
    return HighwayNet(num_classes, in_channels, depth, width, input_size, kind,
                      gate_bias)
