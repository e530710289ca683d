"""Inception-ResNet v1 and v2 (Szegedy, Ioffe, Vanhoucke and Alemi, 2016): Inception
modules with residual connections.

Lecture: ``lectures/10_architectures.ipynb``.

Each Inception-ResNet block runs a few Inception branches side by side, joins
them, and projects the result back to the block's input width with a **linear**
1×1 convolution (no batch norm, no ReLU) so that it can be added to the input:
``y = relu(x + scale * up(concat(branches(x))))``. The residual is scaled down
(the paper: by 0.1 to 0.3) because wide residual stacks otherwise "died" early in
training. Batch norm follows every other convolution, never the sum.

The schema of the paper's Figure 15, the same for both versions: stem, 5 ×
Inception-ResNet-A (35×35), Reduction-A, 10 × Inception-ResNet-B (17×17),
Reduction-B, 5 × Inception-ResNet-C (8×8), average pooling, dropout (keep 0.8),
the dense classifier. At 299×299:

- ``version="v1"`` (Figures 10-14, Reduction-A with k, l, m, n = 192, 192, 256,
  384): stages of 35×35×256, 17×17×896 and 8×8×1792, as Figure 15 prints them.
  22,756,328 parameters and 6.21 G multiply-adds as built (the paper gives
  neither).
- ``version="v2"`` (the stem of Inception-v4, Figure 3; Figures 16-19; k, l, m,
  n = 256, 256, 384, 384): stages of 35×35×384, 17×17×1152 and 8×8×2144.
  32,433,928 parameters and 9.26 G multiply-adds as built.

**Two slips in the paper** (v2): Figure 17 ends Inception-ResNet-B with a "1×1
Conv (1154 Linear)" and Figure 19 ends Inception-ResNet-C with "1×1 Conv (2048
Linear)", but a residual sum needs the block's input width: 1152 (= 384 + 384 +
384 out of Reduction-A) and 2144 (= 1152 + 384 + 288 + 320 out of Reduction-B).
The model uses 1152 and 2144. The better-known 55.8 M-parameter
"inception_resnet_v2" of TF-slim (and timm) is a different layout: an
Inception-v3-like stem to 35×35×320, 10, 20 and 10 blocks, and a final 1×1
convolution to 1536.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_input
from .googlenet import ConvBlock


def conv_bn(in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
            stride: int = 1, valid: bool = False) -> ConvBlock:
    """Convolution, batch norm, ReLU. "Same" padding unless ``valid`` (the paper's
    "V") or ``stride`` 2 (every strided convolution in the paper is valid)."""
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    padding = (0, 0) if valid or stride > 1 else (k[0] // 2, k[1] // 2)
    return ConvBlock(in_channels, out_channels, k, stride, padding, batch_norm=True)


class StemV1(nn.Sequential):
    """Figure 14: ``(N, C, 299, 299) -> (N, 256, 35, 35)``, a plain stack."""

    out_channels = 256

    def __init__(self, in_channels: int) -> None:
        super().__init__(
            conv_bn(in_channels, 32, 3, stride=2),  # (N, 32, 149, 149)
            conv_bn(32, 32, 3, valid=True),  # (N, 32, 147, 147)
            conv_bn(32, 64, 3),  # (N, 64, 147, 147)
            nn.MaxPool2d(3, stride=2),  # (N, 64, 73, 73)
            conv_bn(64, 80, 1),  # (N, 80, 73, 73)
            conv_bn(80, 192, 3, valid=True),  # (N, 192, 71, 71)
            conv_bn(192, 256, 3, stride=2),  # (N, 256, 35, 35)
        )


class StemV2(nn.Module):
    """Figure 3 (Inception-v4's stem): ``(N, C, 299, 299) -> (N, 384, 35, 35)``.

    Three times it concatenates two paths: a pooling beside a strided convolution,
    and a 3×3 path beside a factorised 7×7 (7×1 and 1×7) one.
    """

    out_channels = 384

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            conv_bn(in_channels, 32, 3, stride=2),  # (N, 32, 149, 149)
            conv_bn(32, 32, 3, valid=True),  # (N, 32, 147, 147)
            conv_bn(32, 64, 3),  # (N, 64, 147, 147)
        )
        self.pool1 = nn.MaxPool2d(3, stride=2)
        self.conv1 = conv_bn(64, 96, 3, stride=2)
        self.branch_3x3 = nn.Sequential(conv_bn(160, 64, 1),
                                        conv_bn(64, 96, 3, valid=True))
        self.branch_7x7 = nn.Sequential(
            conv_bn(160, 64, 1), conv_bn(64, 64, (7, 1)), conv_bn(64, 64, (1, 7)),
            conv_bn(64, 96, 3, valid=True),
        )
        self.conv2 = conv_bn(192, 192, 3, stride=2)
        self.pool2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)  # (N, 64, 147, 147)
        x = torch.cat([self.pool1(x), self.conv1(x)], 1)  # (N, 160, 73, 73)
        x = torch.cat([self.branch_3x3(x), self.branch_7x7(x)], 1)  # (N, 192, 71, 71)
        return torch.cat([self.conv2(x), self.pool2(x)], 1)  # (N, 384, 35, 35)


class ResidualInception(nn.Module):
    """``(N, C, H, W) -> (N, C, H, W)``: ``relu(x + scale * up(concat(branches)))``.

    The subclasses build ``self.branches``; ``up`` is the linear 1×1 projection
    back to ``channels`` (with a bias: there is no batch norm after it).
    """

    def __init__(self, channels: int, branches: list[nn.Module], scale: float
                 ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        joined = sum(_out_channels(branch) for branch in branches)
        self.up = nn.Conv2d(joined, channels, 1)
        self.scale = scale
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        joined = torch.cat([branch(x) for branch in self.branches], 1)
        return self.relu(x + self.scale * self.up(joined))  # (N, C, H, W)


def _out_channels(branch: nn.Module) -> int:
    """Output width of a branch: its last convolution's."""
    convs = [m for m in branch.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


class InceptionResNetA(ResidualInception):
    """35×35 block: 1×1 | 1×1, 3×3 | 1×1, 3×3, 3×3 (Figures 10 and 16)."""

    def __init__(self, channels: int, widths: tuple[int, ...], scale: float = 0.17
                 ) -> None:
        b0, b1a, b1b, b2a, b2b, b2c = widths
        super().__init__(channels, [
            conv_bn(channels, b0, 1),
            nn.Sequential(conv_bn(channels, b1a, 1), conv_bn(b1a, b1b, 3)),
            nn.Sequential(conv_bn(channels, b2a, 1), conv_bn(b2a, b2b, 3),
                          conv_bn(b2b, b2c, 3)),
        ], scale)


class InceptionResNetB(ResidualInception):
    """17×17 block: 1×1 | 1×1, 1×7, 7×1 (Figures 11 and 17)."""

    def __init__(self, channels: int, widths: tuple[int, ...], scale: float = 0.10
                 ) -> None:
        b0, b1a, b1b, b1c = widths
        super().__init__(channels, [
            conv_bn(channels, b0, 1),
            nn.Sequential(conv_bn(channels, b1a, 1), conv_bn(b1a, b1b, (1, 7)),
                          conv_bn(b1b, b1c, (7, 1))),
        ], scale)


class InceptionResNetC(ResidualInception):
    """8×8 block: 1×1 | 1×1, 1×3, 3×1 (Figures 13 and 19)."""

    def __init__(self, channels: int, widths: tuple[int, ...], scale: float = 0.20
                 ) -> None:
        b0, b1a, b1b, b1c = widths
        super().__init__(channels, [
            conv_bn(channels, b0, 1),
            nn.Sequential(conv_bn(channels, b1a, 1), conv_bn(b1a, b1b, (1, 3)),
                          conv_bn(b1b, b1c, (3, 1))),
        ], scale)


class ReductionA(nn.Module):
    """Figure 7: ``(N, C, 35, 35) -> (N, C + n + m, 17, 17)``.

    Max pooling | 3×3/2 to ``n`` | 1×1 to ``k``, 3×3 to ``l``, 3×3/2 to ``m``.
    """

    def __init__(self, channels: int, k: int, l: int, m: int, n: int) -> None:
        super().__init__()
        self.out_channels = channels + n + m
        self.pool = nn.MaxPool2d(3, stride=2)
        self.branch1 = conv_bn(channels, n, 3, stride=2)
        self.branch2 = nn.Sequential(conv_bn(channels, k, 1), conv_bn(k, l, 3),
                                     conv_bn(l, m, 3, stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pool(x), self.branch1(x), self.branch2(x)], 1)


class ReductionB(nn.Module):
    """Figures 12 and 18: ``(N, C, 17, 17) -> (N, C + w1 + w2 + w3, 8, 8)``.

    Max pooling | 1×1, 3×3/2 to ``w1`` | 1×1, 3×3/2 to ``w2`` | 1×1, 3×3, 3×3/2 to
    ``w3``; ``widths = (r1, w1, r2, w2, r3a, r3b, w3)``.
    """

    def __init__(self, channels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        r1, w1, r2, w2, r3a, r3b, w3 = widths
        self.out_channels = channels + w1 + w2 + w3
        self.pool = nn.MaxPool2d(3, stride=2)
        self.branch1 = nn.Sequential(conv_bn(channels, r1, 1),
                                     conv_bn(r1, w1, 3, stride=2))
        self.branch2 = nn.Sequential(conv_bn(channels, r2, 1),
                                     conv_bn(r2, w2, 3, stride=2))
        self.branch3 = nn.Sequential(conv_bn(channels, r3a, 1), conv_bn(r3a, r3b, 3),
                                     conv_bn(r3b, w3, 3, stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.pool(x), self.branch1(x), self.branch2(x), self.branch3(x)]
        return torch.cat(branches, 1)


#: The widths of every block, from the paper's figures (branch by branch, left to
#: right), and Reduction-A's k, l, m, n from its Table 1.
CONFIGS: dict[str, dict] = {
    "v1": {"stem": StemV1, "a": (32, 32, 32, 32, 32, 32),
           "reduction_a": (192, 192, 256, 384), "b": (128, 128, 128, 128),
           "reduction_b": (256, 384, 256, 256, 256, 256, 256),
           "c": (192, 192, 192, 192)},
    "v2": {"stem": StemV2, "a": (32, 32, 32, 32, 48, 64),
           "reduction_a": (256, 256, 384, 384), "b": (192, 128, 160, 192),
           "reduction_b": (256, 384, 256, 288, 256, 288, 320),
           "c": (192, 192, 224, 256)},
}

#: Blocks per stage (Figure 15): A, B, C.
REPEATS = (5, 10, 5)


class InceptionResNet(nn.Module):
    """``x: (N, in_channels, 299, 299) -> logits (N, num_classes)`` (any H, W >= 75)."""

    def __init__(self, version: str = "v2", num_classes: int = 1000,
                 in_channels: int = 3, dropout: float = 0.2) -> None:
        super().__init__()
        if version not in CONFIGS:
            raise ValueError(f"expected version 'v1' or 'v2', got {version!r}")
        cfg = CONFIGS[version]
        self.name = f"inception_resnet_{version}"
        self.in_channels = in_channels
        self.stem = cfg["stem"](in_channels)
        width = self.stem.out_channels
        self.blocks_a = nn.Sequential(
            *[InceptionResNetA(width, cfg["a"]) for _ in range(REPEATS[0])])
        self.reduction_a = ReductionA(width, *cfg["reduction_a"])
        width = self.reduction_a.out_channels
        self.blocks_b = nn.Sequential(
            *[InceptionResNetB(width, cfg["b"]) for _ in range(REPEATS[1])])
        self.reduction_b = ReductionB(width, cfg["reduction_b"])
        width = self.reduction_b.out_channels
        self.blocks_c = nn.Sequential(
            *[InceptionResNetC(width, cfg["c"]) for _ in range(REPEATS[2])])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)  # the paper's "keep 0.8"
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.name, self.in_channels, min_size=75)
        x = self.stem(x)  # (N, 256 | 384, 35, 35) at 299×299 (v1 | v2)
        x = self.reduction_a(self.blocks_a(x))  # (N, 896 | 1152, 17, 17)
        x = self.reduction_b(self.blocks_b(x))  # (N, 1792 | 2144, 8, 8)
        x = self.blocks_c(x)  # (N, 1792 | 2144, 8, 8)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 1792 | 2144)
        return self.fc(self.dropout(x))  # (N, num_classes)


def inception_resnet(version: str = "v2", num_classes: int = 1000,
                     in_channels: int = 3) -> InceptionResNet:
    """Build Inception-ResNet ``version`` "v1" or "v2" as the paper draws it."""
    return InceptionResNet(version, num_classes, in_channels)


def inception_resnet_v1(**kwargs) -> InceptionResNet:
    return inception_resnet("v1", **kwargs)


def inception_resnet_v2(**kwargs) -> InceptionResNet:
    return inception_resnet("v2", **kwargs)


#: Reference numbers (3×299×299 input, 1000 classes), checked by the tests against
#: the models as built. "stages": (height, width, channels) after the stem, blocks
#: A, Reduction-A, blocks B, Reduction-B and blocks C, from the paper's figures
#: (Figure 15 prints v1's; v2's follow from Figures 3, 7 and 18). The paper gives
#: no parameter or operation counts; "params" and "macs" are the models as built.
REFERENCE = {
    "inception_resnet_v1": {
        "stages": {"stem": (35, 35, 256), "blocks_a": (35, 35, 256),
                   "reduction_a": (17, 17, 896), "blocks_b": (17, 17, 896),
                   "reduction_b": (8, 8, 1792), "blocks_c": (8, 8, 1792)},
        "params": 22_756_328, "macs": 6_206_361_696,
    },
    "inception_resnet_v2": {
        "stages": {"stem": (35, 35, 384), "blocks_a": (35, 35, 384),
                   "reduction_a": (17, 17, 1152), "blocks_b": (17, 17, 1152),
                   "reduction_b": (8, 8, 2144), "blocks_c": (8, 8, 2144)},
        "params": 32_433_928, "macs": 9_257_953_632,
    },
}

#: Widths the paper prints that cannot be right (v2), and the widths as built.
PAPER_SLIPS = {
    "inception_resnet_v2": {
        "blocks_b.up": {"figure": 17, "paper": 1154, "true": 1152},
        "blocks_c.up": {"figure": 19, "paper": 2048, "true": 2144},
    },
}
