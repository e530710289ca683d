"""DenseNet (Huang, Liu, van der Maaten and Weinberger, 2017): DenseNet-121, -169, -201.

Lecture: ``lectures/10_architectures.ipynb``.

Inside a dense block every layer receives the concatenation of all earlier maps of
the block and adds ``growth_rate`` new ones (BN-ReLU-1×1 conv to
``bn_size * growth_rate``, BN-ReLU-3×3 conv to ``growth_rate``: the "DenseNet-B"
bottleneck). Between blocks a transition (BN-ReLU-1×1 conv, 2×2 average pooling)
halves both the width (compression 0.5, "DenseNet-C") and the map. DenseNet-121 has
7,978,856 parameters and 2.83 G multiply-adds at 224×224 (torchvision's numbers).
``small_input=True`` swaps the 7×7/2 stem and its pooling for one 3×3 stride-1
convolution, for 32×32 images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_input


class DenseLayer(nn.Module):
    """``(N, C, H, W) -> (N, growth_rate, H, W)``; the block concatenates it on."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1,
                               bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.norm1(x)))  # (N, bn_size * k, H, W)
        return self.conv2(self.relu2(self.norm2(out)))  # (N, k, H, W)


class DenseBlock(nn.Module):
    """``(N, C, H, W) -> (N, C + num_layers * growth_rate, H, W)``."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int,
                 bn_size: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size)
            for i in range(num_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


class Transition(nn.Sequential):
    """``(N, C, H, W) -> (N, C_out, H/2, W/2)``: BN, ReLU, 1×1 conv, 2×2 avg pool."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2, stride=2)


class DenseNet(nn.Module):
    """``x: (N, in_channels, H, W) -> logits (N, num_classes)``."""

    def __init__(self, growth_rate: int = 32,
                 block_config: tuple[int, ...] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4,
                 num_classes: int = 1000, in_channels: int = 3,
                 small_input: bool = False, name: str = "densenet") -> None:
        super().__init__()
        self.name = name
        self.in_channels = in_channels
        if small_input:
            stem = [nn.Conv2d(in_channels, num_init_features, 3, padding=1,
                              bias=False)]
        else:
            stem = [
                nn.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3,
                          bias=False),
                nn.BatchNorm2d(num_init_features),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            ]
        self.features = nn.Sequential(*stem)
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                # compression 0.5: the transition halves the width
                transition = Transition(channels, channels // 2)
                self.features.add_module(f"transition{i + 1}", transition)
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.name, self.in_channels, min_size=32)
        x = F.relu(self.features(x))  # (N, C, H/32, W/32); small input: H/8, W/8
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # (N, C)
        return self.classifier(x)  # (N, num_classes)


def _densenet(block_config: tuple[int, ...], name: str, num_classes: int = 1000,
              in_channels: int = 3, small_input: bool = False) -> DenseNet:
    return DenseNet(32, block_config, 64, 4, num_classes, in_channels, small_input,
                    name)


def densenet121(num_classes: int = 1000, in_channels: int = 3,
                small_input: bool = False) -> DenseNet:
    return _densenet((6, 12, 24, 16), "densenet121", num_classes, in_channels,
                     small_input)


def densenet169(num_classes: int = 1000, in_channels: int = 3,
                small_input: bool = False) -> DenseNet:
    return _densenet((6, 12, 32, 32), "densenet169", num_classes, in_channels,
                     small_input)


def densenet201(num_classes: int = 1000, in_channels: int = 3,
                small_input: bool = False) -> DenseNet:
    return _densenet((6, 12, 48, 32), "densenet201", num_classes, in_channels,
                     small_input)


#: Reference numbers (3×224×224 input, 1000 classes), checked by the tests.
REFERENCE = {
    "densenet121": {"params": 7_978_856, "macs": 2_834_161_664, "gmacs": "2.83"},
}
