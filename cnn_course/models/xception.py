"""Xception (Chollet, 2017): Inception taken to the extreme.

Lecture: ``lectures/10_architectures.ipynb``.

An Inception module maps cross-channel correlations (1×1 convolutions) and
spatial correlations (3×3 convolutions on a few channels) separately. Xception
separates them completely: every convolution is a **depthwise separable** one, a
3×3 depthwise convolution (each channel filtered on its own) followed by a 1×1
pointwise convolution (the channels mixed), with no non-linearity in between.
A 3×3 separable convolution from ``C`` to ``C'`` channels has ``9 C + C C'``
weights instead of ``9 C C'``.

The network is the paper's Figure 5 at 299×299: an entry flow (two plain 3×3
convolutions, then three blocks that halve the map and widen it to 128, 256,
728), a middle flow of eight identical 728-channel blocks of three separable
convolutions, and an exit flow (a block to 1024, separable convolutions to 1536
and 2048, global average pooling, the dense classifier). Every block except the
last two convolutions has a residual connection, a strided 1×1 convolution where
the block changes size. Batch norm follows every convolution (no conv bias).

22,855,952 parameters: the paper's Table 3 exactly (Inception V3: 23,626,728).
8.36 G multiply-adds at 299×299 as built; the paper gives no operation count.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_input, init_conv_bn


class SeparableConv2d(nn.Module):
    """3×3 depthwise then 1×1 pointwise: ``(N, C, H, W) -> (N, out_channels, H, W)``.

    No batch norm or ReLU between the two: the paper found that an intermediate
    non-linearity makes Xception worse (its Figure 10).
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int = 3) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size,
                                   padding=kernel_size // 2, groups=in_channels,
                                   bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """``(N, C, H, W) -> (N, widths[-1], H/stride, W/stride)`` with a shortcut.

    ``len(widths)`` times (ReLU, separable 3×3, batch norm), then a 3×3 max
    pooling with ``stride`` 2 when the block downsamples. ``relu_first=False``
    drops the first ReLU (the first block follows a ReLU already).
    """

    def __init__(self, in_channels: int, widths: list[int], stride: int = 1,
                 relu_first: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            if i > 0 or relu_first:
                # not in place: the shortcut still needs the block's input
                layers.append(nn.ReLU(inplace=i > 0))
            layers += [SeparableConv2d(channels, width), nn.BatchNorm2d(width)]
            channels = width
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride=stride, padding=1))
        self.rep = nn.Sequential(*layers)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.skip = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rep(x) + self.skip(x)


class Xception(nn.Module):
    """``x: (N, in_channels, 299, 299) -> logits (N, num_classes)`` (any H, W >= 32)."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3,
                 middle_blocks: int = 8) -> None:
        super().__init__()
        self.in_channels = in_channels

        def conv_bn_relu(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride=stride, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.entry_flow = nn.Sequential(
            *conv_bn_relu(in_channels, 32, 2),  # (N, 32, 149, 149): no padding
            *conv_bn_relu(32, 64, 1),  # (N, 64, 147, 147)
            XceptionBlock(64, [128, 128], stride=2, relu_first=False),  # 74×74
            XceptionBlock(128, [256, 256], stride=2),  # (N, 256, 37, 37)
            XceptionBlock(256, [728, 728], stride=2),  # (N, 728, 19, 19)
        )
        self.middle_flow = nn.Sequential(
            *[XceptionBlock(728, [728, 728, 728]) for _ in range(middle_blocks)]
        )
        self.exit_flow = nn.Sequential(
            XceptionBlock(728, [728, 1024], stride=2),  # (N, 1024, 10, 10)
            SeparableConv2d(1024, 1536), nn.BatchNorm2d(1536), nn.ReLU(inplace=True),
            SeparableConv2d(1536, 2048), nn.BatchNorm2d(2048), nn.ReLU(inplace=True),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)
        init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "xception", self.in_channels, min_size=32)
        x = self.entry_flow(x)  # (N, 728, 19, 19) at 299×299
        x = self.middle_flow(x)  # (N, 728, 19, 19)
        x = self.exit_flow(x)  # (N, 2048, 10, 10)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 2048)
        return self.fc(x)  # (N, num_classes)


def xception(num_classes: int = 1000, in_channels: int = 3) -> Xception:
    """Build Xception (the paper's Figure 5, for 299×299 images)."""
    return Xception(num_classes, in_channels)


#: Reference numbers (3×299×299 input, 1000 classes), checked by the tests against
#: the model as built: the paper's Table 3 parameter count, and the multiply-adds
#: of the convolutions and the dense layer as built.
REFERENCE = {
    "xception": {"params": 22_855_952, "macs": 8_357_403_496, "input_size": 299},
}
