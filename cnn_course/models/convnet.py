"""The course's own small backbone for 32×32 colour images: three VGG-style blocks,
global average pooling and a linear head.

Lectures: ``lectures/09_overfitting.ipynb`` (trained on CIFAR-10 with augmentation),
``lectures/11_transfer_learning.ipynb`` (pretrained on CIFAR-10's animals, shipped
in ``cnn_course/weights/``, fine-tuned on its vehicles).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ConvBlock", "ConvNet", "convnet"]


class ConvBlock(nn.Sequential):
    """Two 3×3 convolutions with batch norm and ReLU, then 2×2 max pooling.

    ``(N, in_channels, H, W) -> (N, out_channels, H/2, W/2)``: VGG's pattern.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)),
            ("bn1", nn.BatchNorm2d(out_channels)),
            ("relu1", nn.ReLU(inplace=True)),
            ("conv2", nn.Conv2d(out_channels, out_channels, 3, padding=1,
                                bias=False)),
            ("bn2", nn.BatchNorm2d(out_channels)),
            ("relu2", nn.ReLU(inplace=True)),
            ("pool", nn.MaxPool2d(2)),
        ]))


class ConvNet(nn.Module):
    """Three :class:`ConvBlock` s, global average pooling and a linear head.

    ``x: (N, in_channels, H, W) -> (N, num_classes)``, H and W multiples of 8 (32×32
    CIFAR images: 32 -> 16 -> 8 -> 4, then the average of the 4×4 map). The blocks
    are named ``block1``, ``block2``, ``block3``, then ``pool`` and ``head``, so
    ``freeze(model, "block1")`` and ``embed(model, X, layer="block2")`` read well.
    With the default widths: 288,230 parameters for 6 classes, 38.6 M multiply-adds
    per 32×32 image.
    """

    head_name = "head"

    def __init__(self, num_classes: int = 10, in_channels: int = 3,
                 widths: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.widths = tuple(widths)
        c1, c2, c3 = self.widths
        self.block1 = ConvBlock(in_channels, c1)
        self.block2 = ConvBlock(c1, c2)
        self.block3 = ConvBlock(c2, c3)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c3, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out",
                                        nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding the head sees: ``(N, widths[-1])``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"convnet expects (N, {self.in_channels}, H, W), got "
                             f"shape {tuple(x.shape)}")
        x = self.block3(self.block2(self.block1(x)))  # (N, c3, H/8, W/8)
        return self.pool(x)  # (N, c3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (N, num_classes)


def convnet(num_classes: int = 10, in_channels: int = 3,
            widths: Sequence[int] = (32, 64, 128)) -> ConvNet:
    """Build the course's small backbone (see :class:`ConvNet`)."""
    return ConvNet(num_classes, in_channels, widths)
