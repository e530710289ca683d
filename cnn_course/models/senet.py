"""Squeeze-and-Excitation networks (Hu, Shen, Albanie, Sun and Wu, 2017):
SE-ResNet-50.

Lecture: ``lectures/10_architectures.ipynb``.

An SE block lets a network weigh its own channels, image by image:

- **squeeze**: global average pooling turns the ``(N, C, H, W)`` map into one
  number per channel, ``(N, C)``;
- **excitation**: two dense layers ``C -> C/r -> C`` (ReLU, then a sigmoid) turn
  those into ``C`` weights in (0, 1);
- **scale**: every channel of the map is multiplied by its weight.

SE-ResNet-50 puts one block (``r = 16``) on the residual branch of every
bottleneck, before the addition (the paper's Figure 3). The block adds
``2 C² / r`` weights per bottleneck: 2,530,992 parameters over ResNet-50's
25,557,032, so 28,088,024 in all (the paper: "~2.5 million additional parameters
beyond the ~25 million", ~10 %). Its dense layers cost only 2.5 M
multiply-adds: 3.8605 G for SE-ResNet-50 (paper layout, stride in the first
1×1) against ResNet-50's 3.8580 G. The paper reports 3.87 against 3.86 GFLOPs;
the extra 0.01 G are the pooling's additions and the scaling's multiplications
(5.5 M each), which ``count_macs`` does not count.
"""

from __future__ import annotations

import torch
from torch import nn

from .resnet import LAYERS, Bottleneck, ResNet


class SqueezeExcitation(nn.Module):
    """``(N, C, H, W) -> (N, C, H, W)``: each channel scaled by a learned weight."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)
        self.gate = nn.Sigmoid()

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The excitation: ``(N, C, H, W) -> (N, C)`` channel weights in (0, 1)."""
        s = torch.flatten(self.pool(x), 1)  # squeeze: (N, C)
        return self.gate(self.fc2(self.relu(self.fc1(s))))  # (N, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)[:, :, None, None]  # scale: (N, C, H, W)


class SEBottleneck(Bottleneck):
    """A ResNet bottleneck whose residual branch is rescaled by an SE block."""

    reduction = 16

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, layout: str = "v1",
                 groups: int = 1, base_width: int = 64) -> None:
        super().__init__(inplanes, planes, stride, downsample, layout, groups,
                         base_width)
        self.se = SqueezeExcitation(planes * self.expansion, self.reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))  # (N, 4 planes, H/s, W/s)
        out = self.se(out)  # recalibrated channels, before the addition
        return self.relu(out + identity)


def se_resnet50(num_classes: int = 1000, in_channels: int = 3, layout: str = "v1",
                stem: str = "imagenet", zero_init_residual: bool = False) -> ResNet:
    """Build SE-ResNet-50: ResNet-50 with an SE block (r = 16) in every bottleneck.

    ``x: (N, in_channels, H, W) -> logits (N, num_classes)``, ``H, W >= 32``.
    ``layout``: "v1" (the paper's, default) or "v1.5" (stride in the 3×3).
    """
    _, layers = LAYERS[50]
    return ResNet(SEBottleneck, layers, num_classes, in_channels, layout, stem,
                  zero_init_residual, name="se_resnet50")


#: Reference numbers (3×224×224 input, 1000 classes), checked by the tests against
#: the model as built. "macs" counts conv and linear layers (count_macs); the
#: paper's GFLOPs also count the SE blocks' pooling and scaling.
REFERENCE = {
    "se_resnet50": {"params": 28_088_024, "se_params": 2_530_992,
                    "macs": {"v1": 3_860_488_192, "v1.5": 4_091_699_200},
                    "paper": {"gflops": "3.87", "resnet50_gflops": "3.86",
                              "extra_params_millions": "2.5"}},
}
