"""Fully convolutional networks for semantic segmentation (Long, Shelhamer and
Darrell, 2015): FCN-32s, FCN-16s and FCN-8s on a classification backbone.

Lecture: ``lectures/12_beyond_classification.ipynb``.

A classifier's body downsamples by 32. The FCN scores every position of the
stride-32 map with a 1×1 convolution (one map per class), then upsamples the scores
back to the input with transposed convolutions initialised to bilinear
interpolation. FCN-16s and FCN-8s first add scores from the stride-16 and stride-8
maps, which restores the detail the coarse map lost:

    32s:  up×32(score(c32))
    16s:  up×16(up×2(score(c32)) + score(c16))
    8s:   up×8(up×2(up×2(score(c32)) + score(c16)) + score(c8))

On the VGG16 backbone fc6 and fc7 become convolutions (7×7 with 4,096 filters, then
1×1), as in the paper; on a ResNet backbone the stage outputs are scored directly.
Inputs must divide by 32, so every upsampled map lines up exactly with its skip.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_input
from .resnet import resnet
from .vgg import cfgs, make_layers

BACKBONES = ("vgg16", "resnet18", "resnet34", "resnet50")


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weights ``(channels, channels, k, k)`` that make a transposed convolution
    interpolate each channel bilinearly (and not mix channels).

    Always made on the CPU (``copy_`` moves them where the layer is): under
    ``torch.device("meta")`` an ``arange`` would import torch's compiler, seconds.
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    steps = torch.arange(kernel_size, dtype=torch.float32, device="cpu")
    filt_1d = 1 - (steps - center).abs() / factor  # (k,)
    filt = filt_1d[:, None] * filt_1d[None, :]  # (k, k)
    weight = torch.zeros(channels, channels, kernel_size, kernel_size,
                         device="cpu")
    weight[range(channels), range(channels)] = filt
    return weight


def upsample(channels: int, factor: int) -> nn.ConvTranspose2d:
    """Transposed convolution that multiplies the map size by exactly ``factor``.

    Kernel ``2 * factor``, stride ``factor``, padding ``factor / 2``:
    ``(n - 1) * f - 2 * (f / 2) + 2 f = n f``.
    """
    layer = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor,
                               padding=factor // 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(bilinear_kernel(channels, 2 * factor))
    return layer


class Backbone(nn.Module):
    """A classifier body cut into three stages that end at strides 8, 16 and 32.

    ``forward`` returns ``[c8, c16, c32]``; ``channels`` gives their widths.
    """

    def __init__(self, name: str = "vgg16", in_channels: int = 3) -> None:
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"expected backbone in {BACKBONES}, got {name!r}")
        if name == "vgg16":
            features = make_layers(cfgs["D"], in_channels)
            pools = [i for i, layer in enumerate(features)
                     if isinstance(layer, nn.MaxPool2d)]
            self.stages = nn.ModuleList([
                features[: pools[2] + 1],  # pool3: stride 8, 256 maps
                features[pools[2] + 1 : pools[3] + 1],  # pool4: stride 16, 512
                nn.Sequential(
                    *features[pools[3] + 1 :],  # pool5: stride 32, 512
                    # fc6 and fc7 as convolutions ("convolutionalised" classifier)
                    nn.Conv2d(512, 4096, 7, padding=3),  # fc6
                    nn.ReLU(inplace=True),
                    nn.Dropout2d(),
                    nn.Conv2d(4096, 4096, 1),  # fc7
                    nn.ReLU(inplace=True),
                    nn.Dropout2d(),
                ),
            ])
            self.channels = (256, 512, 4096)
        else:
            net = resnet(int(name[len("resnet"):]), in_channels=in_channels)
            stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
            self.stages = nn.ModuleList([
                nn.Sequential(stem, net.layer1, net.layer2),  # stride 8
                net.layer3,  # stride 16
                net.layer4,  # stride 32
            ])
            expansion = 4 if name == "resnet50" else 1
            self.channels = (128 * expansion, 256 * expansion, 512 * expansion)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        # [(N, c8, H/8, W/8), (N, c16, H/16, W/16), (N, c32, H/32, W/32)]
        return outputs


class FCN(nn.Module):
    """``x: (N, in_channels, H, W) -> per-pixel scores (N, num_classes, H, W)``."""

    def __init__(self, num_classes: int = 21, in_channels: int = 3,
                 backbone: str = "vgg16", skips: str = "8s") -> None:
        super().__init__()
        if skips not in ("32s", "16s", "8s"):
            raise ValueError(f"expected skips '32s', '16s' or '8s', got {skips!r}")
        self.name = f"fcn{skips} ({backbone})"
        self.in_channels = in_channels
        self.skips = skips
        self.backbone = Backbone(backbone, in_channels)
        c8, c16, c32 = self.backbone.channels
        self.score32 = nn.Conv2d(c32, num_classes, 1)
        if skips == "32s":
            self.up_final = upsample(num_classes, 32)
            return
        self.score16 = nn.Conv2d(c16, num_classes, 1)
        self.up32 = upsample(num_classes, 2)
        if skips == "16s":
            self.up_final = upsample(num_classes, 16)
            return
        self.score8 = nn.Conv2d(c8, num_classes, 1)
        self.up16 = upsample(num_classes, 2)
        self.up_final = upsample(num_classes, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.name, self.in_channels, multiple_of=32)
        c8, c16, c32 = self.backbone(x)
        scores = self.score32(c32)  # (N, classes, H/32, W/32)
        if self.skips in ("16s", "8s"):
            scores = self.up32(scores) + self.score16(c16)  # (N, classes, H/16, W/16)
        if self.skips == "8s":
            scores = self.up16(scores) + self.score8(c8)  # (N, classes, H/8, W/8)
        return self.up_final(scores)  # (N, classes, H, W)


def fcn(num_classes: int = 21, in_channels: int = 3, backbone: str = "vgg16",
        skips: str = "8s") -> FCN:
    """Build FCN-``skips`` (``"32s"``, ``"16s"``, ``"8s"``) on ``backbone``."""
    return FCN(num_classes, in_channels, backbone, skips)
