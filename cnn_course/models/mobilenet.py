"""MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov and Chen, 2018).

Lecture: ``lectures/10_architectures.ipynb``.

The inverted residual block expands a thin input ``t`` times with a 1×1
convolution, filters each channel on its own with a 3×3 depthwise convolution
(``groups`` = channels: 9 weights per channel instead of 9 × channels), and
projects back to a thin output with a linear 1×1 convolution (no ReLU: the "linear
bottleneck"). The shortcut joins the thin ends when stride and width allow.
A depthwise-separable 3×3 costs ``H W C (9 + C')`` multiply-adds against
``9 H W C C'`` for a full one. MobileNetV2 (width 1.0) has 3,504,872 parameters
and 0.30 G multiply-adds at 224×224 (the paper: 3.4 M and 300 M).
``small_input=True`` keeps the first two strides at 1, for 32×32 images.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_input


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round a width to a multiple of ``divisor`` without losing more than 10 %."""
    new_value = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


class ConvBNReLU6(nn.Sequential):
    """Convolution (no bias), batch norm, ReLU6 (clipped at 6 for low precision)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                      groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """``(N, C, H, W) -> (N, C', H/stride, W/stride)``: expand, depthwise, project."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 expand_ratio: int) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(in_channels, hidden, kernel_size=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),  # depthwise
            nn.Conv2d(hidden, out_channels, 1, bias=False),  # linear projection
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


#: Table 2 of the paper: expansion t, output channels c, repeats n, first stride s.
INVERTED_RESIDUAL_SETTING = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


class MobileNetV2(nn.Module):
    """``x: (N, in_channels, H, W) -> logits (N, num_classes)``."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3,
                 width_mult: float = 1.0, small_input: bool = False,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.in_channels = in_channels
        input_channel = _make_divisible(32 * width_mult)
        last_channel = _make_divisible(1280 * max(1.0, width_mult))
        first_stride = 1 if small_input else 2
        features: list[nn.Module] = [
            ConvBNReLU6(in_channels, input_channel, stride=first_stride)
        ]
        for stage, (t, c, n, s) in enumerate(INVERTED_RESIDUAL_SETTING):
            if small_input and stage == 1:
                s = 1  # keep 32×32 images large enough for the later stages
            output_channel = _make_divisible(c * width_mult)
            for i in range(n):
                stride = s if i == 0 else 1
                block = InvertedResidual(input_channel, output_channel, stride, t)
                features.append(block)
                input_channel = output_channel
        features.append(ConvBNReLU6(input_channel, last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(last_channel, num_classes)
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "mobilenet_v2", self.in_channels, min_size=32)
        x = self.features(x)  # (N, 1280, H/32, W/32); small input: (N, 1280, H/8, W/8)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 1280)
        return self.classifier(x)  # (N, num_classes)


def mobilenet_v2(num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 small_input: bool = False) -> MobileNetV2:
    """Build MobileNetV2 with width multiplier ``width_mult``."""
    return MobileNetV2(num_classes, in_channels, width_mult, small_input)


#: Reference numbers (3×224×224 input, 1000 classes), checked by the tests.
REFERENCE = {
    "mobilenet_v2": {"params": 3_504_872, "macs": 300_774_272, "gmacs": "0.30"},
}
