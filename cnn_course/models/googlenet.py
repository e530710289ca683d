"""GoogLeNet / Inception-v1 (Szegedy et al., 2014).

Lecture: ``lectures/10_architectures.ipynb``.

Two Inception modules, as in the paper's Figure 2:

- ``InceptionNaive``: 1×1, 3×3 and 5×5 convolutions and a 3×3 max pooling side by
  side, concatenated. The pooling branch passes all its input channels through, so
  the width can only grow, and the 5×5 convolutions on wide inputs are expensive
  (5×5×48 filters on 14×14×480: 576,000 weights, 112.9 M multiply-adds).
- ``Inception``: 1×1 "reduction" convolutions before the 3×3 and 5×5 ones and after
  the pooling (the same 5×5×48 behind a 16-channel 1×1: 26,880 weights, 5.27 M).

Two layouts of the network:

- ``layout="torchvision"`` (default) reproduces torchvision's ``googlenet``:
  batch norm after every convolution (no conv bias), a 2×2 last pooling, and a
  **3×3** kernel in the branch the paper draws as 5×5 (a known torchvision slip kept
  for weight compatibility). 6,624,904 parameters without the auxiliary heads.
- ``layout="paper"``: the paper's Table 1: 5×5 kernels, conv bias, ReLU, LRN after
  the first pooling and after conv 3×3, no batch norm, dropout 0.4. 6,998,552
  parameters without the auxiliary heads.

Both end with global average pooling instead of a 7×7×1024 → 1024 dense layer
(which would cost 51.38 M weights). ``aux_logits=True`` adds the two auxiliary
classifiers on 4a and 4d; in training mode the network then returns
``GoogLeNetOutputs(logits, aux1, aux2)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ._common import check_input, paper_lrn

# Table 1 of the paper: #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj.
INCEPTION_CFG: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


class GoogLeNetOutputs(NamedTuple):
    logits: torch.Tensor
    aux1: torch.Tensor | None
    aux2: torch.Tensor | None


class ConvBlock(nn.Module):
    """Convolution, optional batch norm, ReLU: the unit every branch is made of."""

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=not batch_norm)
        # eps=0.001 as in torchvision (the TensorFlow default its weights came from)
        self.bn = (nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm
                   else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class InceptionNaive(nn.Module):
    """The naive module: ``(N, C, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + C, H, W)``."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels
        self.branch1 = ConvBlock(in_channels, ch1x1, 1, batch_norm=batch_norm)
        bn = batch_norm
        self.branch2 = ConvBlock(in_channels, ch3x3, 3, padding=1, batch_norm=bn)
        self.branch3 = ConvBlock(in_channels, ch5x5, 5, padding=2, batch_norm=bn)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, dim=1)


class Inception(nn.Module):
    """The module with 1×1 reductions.

    ``(N, C, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)``.
    ``kernel5`` is the kernel of the "5×5" branch: 5 in the paper, 3 in torchvision.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int,
                 ch5x5red: int, ch5x5: int, pool_proj: int, batch_norm: bool = False,
                 kernel5: int = 5) -> None:
        super().__init__()
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = ConvBlock(in_channels, ch1x1, 1, batch_norm=batch_norm)
        self.branch2 = nn.Sequential(
            ConvBlock(in_channels, ch3x3red, 1, batch_norm=batch_norm),
            ConvBlock(ch3x3red, ch3x3, 3, padding=1, batch_norm=batch_norm),
        )
        self.branch3 = nn.Sequential(
            ConvBlock(in_channels, ch5x5red, 1, batch_norm=batch_norm),
            ConvBlock(ch5x5red, ch5x5, kernel5, padding=kernel5 // 2,
                      batch_norm=batch_norm),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            ConvBlock(in_channels, pool_proj, 1, batch_norm=batch_norm),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on 4a or 4d: ``(N, C, 14, 14) -> (N, num_classes)``.

    Average pooling 5×5 stride 3 (14 -> 4), 1×1 convolution to 128, dense 1024,
    dropout 0.7, dense to the classes.
    """

    def __init__(self, in_channels: int, num_classes: int, batch_norm: bool = False,
                 adaptive: bool = False) -> None:
        super().__init__()
        # torchvision pools adaptively to 4×4, which is 5×5/3 at 224×224.
        self.pool = nn.AdaptiveAvgPool2d(4) if adaptive else nn.AvgPool2d(5, stride=3)
        self.conv = ConvBlock(in_channels, 128, 1, batch_norm=batch_norm)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pool(x))  # (N, 128, 4, 4)
        x = torch.flatten(x, 1)  # (N, 2048)
        x = self.dropout(self.relu(self.fc1(x)))  # (N, 1024)
        return self.fc2(x)  # (N, num_classes)


class GoogLeNet(nn.Module):
    """``x: (N, in_channels, 224, 224) -> logits (N, num_classes)``.

    ``inception="naive"`` builds the same network from naive modules, to show how
    wide and expensive it would be (3a to 5b grow from 416 to 4,944 channels).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3,
                 aux_logits: bool = True, layout: str = "torchvision",
                 inception: str = "reduced") -> None:
        super().__init__()
        if layout not in ("torchvision", "paper"):
            raise ValueError(
                f"expected layout 'torchvision' or 'paper', got {layout!r}")
        if inception not in ("reduced", "naive"):
            raise ValueError(
                f"expected inception 'reduced' or 'naive', got {inception!r}")
        self.layout = layout
        self.in_channels = in_channels
        self.aux_logits = aux_logits
        tv = layout == "torchvision"
        bn = tv

        self.conv1 = ConvBlock(in_channels, 64, 7, stride=2, padding=3, batch_norm=bn)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # 112 -> 56
        self.lrn1 = nn.Identity() if tv else paper_lrn()
        self.conv2 = ConvBlock(64, 64, 1, batch_norm=bn)
        self.conv3 = ConvBlock(64, 192, 3, padding=1, batch_norm=bn)
        self.lrn2 = nn.Identity() if tv else paper_lrn()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # 56 -> 28

        def module(name: str, channels: int) -> nn.Module:
            c1, c3r, c3, c5r, c5, proj = INCEPTION_CFG[name]
            if inception == "naive":
                return InceptionNaive(channels, c1, c3, c5, batch_norm=bn)
            return Inception(channels, c1, c3r, c3, c5r, c5, proj, batch_norm=bn,
                             kernel5=3 if tv else 5)

        self.inception3a = module("3a", 192)
        self.inception3b = module("3b", self.inception3a.out_channels)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # 28 -> 14
        self.inception4a = module("4a", self.inception3b.out_channels)
        self.inception4b = module("4b", self.inception4a.out_channels)
        self.inception4c = module("4c", self.inception4b.out_channels)
        self.inception4d = module("4d", self.inception4c.out_channels)
        self.inception4e = module("4e", self.inception4d.out_channels)
        # the paper pools 3×3/2 here; torchvision 2×2/2. Both give 14 -> 7.
        self.maxpool4 = nn.MaxPool2d(2 if tv else 3, stride=2, ceil_mode=True)
        self.inception5a = module("5a", self.inception4e.out_channels)
        self.inception5b = module("5b", self.inception5a.out_channels)

        if aux_logits:
            self.aux1 = InceptionAux(self.inception4a.out_channels, num_classes, bn, tv)
            self.aux2 = InceptionAux(self.inception4d.out_channels, num_classes, bn, tv)
        else:
            self.aux1 = None
            self.aux2 = None

        # Global average pooling: no weights where a dense layer would have 51 M.
        self.avgpool = nn.AdaptiveAvgPool2d(1) if tv else nn.AvgPool2d(7, stride=1)
        self.dropout = nn.Dropout(0.2 if tv else 0.4)
        self.fc = nn.Linear(self.inception5b.out_channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01, a=-2, b=2)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        if self.layout == "paper":
            check_input(x, "googlenet (paper layout)", self.in_channels, (224, 224))
        else:
            check_input(x, "googlenet", self.in_channels, min_size=32)
        x = self.maxpool1(self.conv1(x))  # (N, 64, 56, 56)
        x = self.lrn1(x)
        x = self.conv3(self.conv2(x))  # (N, 192, 56, 56)
        x = self.maxpool2(self.lrn2(x))  # (N, 192, 28, 28)
        x = self.inception3b(self.inception3a(x))  # (N, 480, 28, 28)
        x = self.maxpool3(x)  # (N, 480, 14, 14)
        x = self.inception4a(x)  # (N, 512, 14, 14)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (N, 528, 14, 14)
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))  # (N, 832, 7, 7)
        x = self.inception5b(self.inception5a(x))  # (N, 1024, 7, 7)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 1024)
        logits = self.fc(self.dropout(x))  # (N, num_classes)
        if self.aux_logits and self.training:
            return GoogLeNetOutputs(logits, aux1, aux2)
        return logits


def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
              layout: str = "torchvision", inception: str = "reduced") -> GoogLeNet:
    """Build GoogLeNet; see the module docstring for the layouts."""
    return GoogLeNet(num_classes, in_channels, aux_logits, layout, inception)


#: Reference numbers (3×224×224 input, 1000 classes, no auxiliary heads), checked by
#: the tests against the models as built. MACs: conv and linear multiply-adds.
REFERENCE = {
    "googlenet_torchvision": {"params": 6_624_904, "macs": 1_498_376_192,
                              "gmacs": "1.50"},
    "googlenet_paper": {"params": 6_998_552, "macs": 1_582_671_872},
}

#: Table 1 of the paper, "ops" column, in millions of multiply-adds (paper layout).
#: The paper's "convolution 3×3" row includes its 1×1 reduction (conv2 + conv3).
PAPER_OPS_MILLIONS = {
    "conv2+conv3": 360,
    "inception3a": 128, "inception3b": 304, "inception4a": 73, "inception4b": 88,
    "inception4c": 100, "inception4d": 119, "inception4e": 170,
    "inception5b": 71, "fc": 1,
}

#: Rows of Table 1 that do not follow from the layer sizes (the tests check that
#: they differ from the model as built by about as much as stated).
PAPER_TABLE_SLIPS = {
    # 2.7K params and 34M ops, but 7×7×3×64 = 9,408 weights on a 112×112×64 map
    # are 118.0M multiply-adds (34M = 2.7K × 112 × 112: the table is consistent
    # with itself, not with a 3-channel input).
    "conv1": {"paper": 34, "true": 118.0},
    # 54M, but 5a is 4e's module on a 7×7 map with 832 inputs: 51.1M.
    "inception5a": {"paper": 54, "true": 51.1},
}
