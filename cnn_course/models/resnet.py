"""ResNet (He, Zhang, Ren and Sun, 2015): depths 18, 34, 50, 101 and 152, and the
paper's CIFAR networks (20, 32, 44, 56, 110).

Lecture: ``lectures/10_architectures.ipynb``.

A residual block adds its input back: ``y = relu(F(x) + shortcut(x))``. ResNet-18
and -34 stack basic blocks (two 3×3 convolutions); 50, 101 and 152 stack bottleneck
blocks (1×1 down to ``planes``, 3×3, 1×1 up to ``4 * planes``). Where a stage halves
the map and widens it, the shortcut is a projection (1×1 convolution with stride 2
and batch norm, the paper's option B).

Where the stride of a downsampling bottleneck sits changes the multiply-adds:

- ``layout="v1"``: in the first 1×1 convolution, as in the paper and its Table 1
  (ResNet-50: 3.858 G multiply-adds at 224×224, the paper's "3.8 × 10⁹ FLOPs");
- ``layout="v1.5"``: in the 3×3 convolution, as in torchvision and most later code
  (ResNet-50: 4.089 G). The 3×3 then runs on the full-size map, which costs more
  and was found to be slightly more accurate.

Basic blocks put the stride in their first 3×3 either way; parameter counts do not
depend on the layout (11,689,512, 21,797,672, 25,557,032 for 18, 34, 50).

``groups`` and ``width_per_group`` (torchvision's names) widen the bottleneck's
3×3 convolution and split it into groups: ResNeXt (:mod:`.resnext`) is this
ResNet with ``groups=32, width_per_group=4``.

``stem="cifar"`` replaces the 7×7 stride-2 convolution and the max pooling by one
3×3 stride-1 convolution, for 32×32 images (a 4×4 map reaches the pooling).
``resnet_cifar(depth)`` is the paper's own CIFAR-10 family (Section 4.2): three
stages of 16, 32, 64 filters, 6n + 2 layers, parameter-free shortcuts (option A).
``resnet_cifar(depth, plain=True)`` is its "plain" twin without the shortcuts
(same parameters), for the paper's Figure 6: deeper plain nets train worse.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_input, init_conv_bn


def conv3x3(in_planes: int, out_planes: int, stride: int = 1,
            groups: int = 1) -> nn.Conv2d:
    """3×3 convolution with padding 1 (keeps the map size at stride 1), no bias.

    ``groups`` splits it into that many independent convolutions (ResNeXt).
    """
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1,
                     groups=groups, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution, no bias (batch norm follows and has its own shift)."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions: ``(N, inplanes, H, W) -> (N, planes, H/s, W/s)``."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, layout: str = "v1",
                 groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64, "
                             f"got groups={groups}, base_width={base_width}")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1, 3×3, 1×1: ``(N, inplanes, H, W) -> (N, 4 * planes, H/stride, W/stride)``.

    The inner width is ``planes * base_width / 64 * groups``: ``planes`` for
    ResNet; for ResNeXt-50 32×4d (``groups=32, base_width=4``) twice that, split
    into 32 groups of 4 channels in the 3×3 convolution.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, layout: str = "v1",
                 groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        # v1 (paper): the first 1×1 subsamples, so the 3×3 runs on the small map.
        # v1.5 (torchvision): the 3×3 subsamples; 1×1 convs never skip pixels.
        stride1, stride2 = (stride, 1) if layout == "v1" else (1, stride)
        self.conv1 = conv1x1(inplanes, width, stride1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride2, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """``x: (N, in_channels, H, W) -> logits (N, num_classes)``.

    Any ``H, W >= 32`` works (global average pooling); the reference numbers are
    for 224×224 (``stem="imagenet"``) and 32×32 (``stem="cifar"``).
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int],
                 num_classes: int = 1000, in_channels: int = 3, layout: str = "v1",
                 stem: str = "imagenet", zero_init_residual: bool = False,
                 name: str = "resnet", groups: int = 1,
                 width_per_group: int = 64) -> None:
        super().__init__()
        if layout not in ("v1", "v1.5"):
            raise ValueError(f"expected layout 'v1' or 'v1.5', got {layout!r}")
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"expected stem 'imagenet' or 'cifar', got {stem!r}")
        self.name = name
        self.in_channels = in_channels
        self.layout = layout
        self.stem = stem
        self.groups = groups
        self.base_width = width_per_group
        self.inplanes = 64
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = conv3x3(in_channels, 64)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int,
                    blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            # projection shortcut (option B): match the new width and map size
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.layout,
                        self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, layout=self.layout,
                                groups=self.groups, base_width=self.base_width))
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        init_conv_bn(self)
        if zero_init_residual:
            # every block starts as the identity (Goyal et al., 2017)
            for module in self.modules():
                if isinstance(module, Bottleneck):
                    nn.init.zeros_(module.bn3.weight)
                elif isinstance(module, BasicBlock):
                    nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.name, self.in_channels, min_size=32)
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 64, H/2, W/2); cifar: H, W
        x = self.maxpool(x)  # (N, 64, H/4, W/4), cifar: unchanged
        x = self.layer1(x)  # (N, 64 e, H/4, W/4), e = block.expansion
        x = self.layer2(x)  # (N, 128 e, H/8, W/8)
        x = self.layer3(x)  # (N, 256 e, H/16, W/16)
        x = self.layer4(x)  # (N, 512 e, H/32, W/32)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 512 e)
        return self.fc(x)  # (N, num_classes)


#: Blocks per stage, Table 1 of the paper.
LAYERS: dict[int, tuple[type[BasicBlock | Bottleneck], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}


def resnet(depth: int = 50, num_classes: int = 1000, in_channels: int = 3,
           layout: str = "v1", stem: str = "imagenet",
           zero_init_residual: bool = False) -> ResNet:
    """Build ResNet-``depth``.

    ``layout``: "v1" (paper) or "v1.5"; ``stem``: "imagenet" or "cifar".
    """
    if depth not in LAYERS:
        raise ValueError(f"expected depth in {sorted(LAYERS)}, got {depth!r}")
    block, layers = LAYERS[depth]
    return ResNet(block, layers, num_classes, in_channels, layout, stem,
                  zero_init_residual, name=f"resnet{depth}")


def resnet18(**kwargs) -> ResNet:
    return resnet(18, **kwargs)


def resnet34(**kwargs) -> ResNet:
    return resnet(34, **kwargs)


def resnet50(**kwargs) -> ResNet:
    return resnet(50, **kwargs)


def resnet101(**kwargs) -> ResNet:
    return resnet(101, **kwargs)


def resnet152(**kwargs) -> ResNet:
    return resnet(152, **kwargs)


class ShortcutA(nn.Module):
    """Option A shortcut: subsample by 2, zero-pad the new channels (no weights)."""

    def __init__(self, extra_channels: int) -> None:
        super().__init__()
        self.extra_channels = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::2, ::2]  # (N, C, H/2, W/2)
        half = self.extra_channels // 2
        pads = (0, 0, 0, 0, half, self.extra_channels - half)  # W, H, then channels
        return F.pad(x, pads)  # (N, C + extra_channels, H/2, W/2)


class CifarBasicBlock(BasicBlock):
    """A basic block whose downsampling shortcut is option A (zero padding).

    ``shortcut=False`` drops the addition: the paper's "plain" block, the same two
    convolutions with the same weights (option A has none), ``relu(F(x))``.
    """

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 shortcut: bool = True) -> None:
        projection = None
        if stride != 1 or inplanes != planes:
            projection = ShortcutA(planes - inplanes)
        super().__init__(inplanes, planes, stride, projection)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut:
            return super().forward(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))  # no "+ x": a plain block


class ResNetCifar(nn.Module):
    """The paper's CIFAR-10 ResNet: ``(N, in_channels, 32, 32) -> (N, num_classes)``.

    ``plain=True`` builds the paper's plain counterpart (its Figure 6): the same
    layers and parameters without the shortcuts.
    """

    def __init__(self, depth: int = 20, num_classes: int = 10,
                 in_channels: int = 3, plain: bool = False) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(
                f"expected depth = 6n + 2 (20, 32, 44, 56, 110), got {depth}")
        n = (depth - 2) // 6
        self.name = f"{'plain' if plain else 'resnet'}{depth} (cifar)"
        self.in_channels = in_channels
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        stages = []
        inplanes = 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = [CifarBasicBlock(inplanes, planes, stride, not plain)]
            blocks += [CifarBasicBlock(planes, planes, shortcut=not plain)
                       for _ in range(1, n)]
            stages.append(nn.Sequential(*blocks))
            inplanes = planes
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out",
                                        nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.name, self.in_channels, (32, 32))
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 16, 32, 32)
        x = self.layer3(self.layer2(self.layer1(x)))  # (N, 64, 8, 8)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 64)
        return self.fc(x)  # (N, num_classes)


def resnet_cifar(depth: int = 20, num_classes: int = 10, in_channels: int = 3,
                 plain: bool = False) -> ResNetCifar:
    """Build the paper's CIFAR ResNet-``depth`` (depth = 6n + 2); ``plain=True``:
    the same network without shortcuts."""
    return ResNetCifar(depth, num_classes, in_channels, plain)


#: Reference numbers (3×224×224 input, 1000 classes; CIFAR: 3×32×32, 10 classes),
#: checked by the tests against the models as built. "gmacs" are the stated digits.
REFERENCE = {
    "resnet18": {"params": 11_689_512,
                 "macs": {"v1": 1_814_073_344, "v1.5": 1_814_073_344},
                 "gmacs": {"v1": "1.814", "v1.5": "1.814"}},
    "resnet34": {"params": 21_797_672,
                 "macs": {"v1": 3_663_761_408, "v1.5": 3_663_761_408},
                 "gmacs": {"v1": "3.664", "v1.5": "3.664"}},
    "resnet50": {"params": 25_557_032,
                 "macs": {"v1": 3_857_973_248, "v1.5": 4_089_184_256},
                 "gmacs": {"v1": "3.858", "v1.5": "4.089"}},
    "resnet101": {"params": 44_549_160,
                  "macs": {"v1": 7_570_194_432, "v1.5": 7_801_405_440},
                  "gmacs": {"v1": "7.570"}},
    "resnet152": {"params": 60_192_808,
                  "macs": {"v1": 11_282_415_616, "v1.5": 11_513_626_624},
                  "gmacs": {"v1": "11.282"}},
    # stem="cifar", 10 classes, 3×32×32
    "resnet18_cifar_stem": {"params": 11_173_962, "macs": 555_422_720},
    # the paper's Table 6 (in millions): 0.27, 0.46, 0.66, 0.85, 1.7
    "resnet_cifar": {"params": {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018,
                                110: 1_727_962},
                     "params_millions": {20: "0.27", 32: "0.46", 44: "0.66",
                                         56: "0.85", 110: "1.7"}},
}
