"""ShuffleNet v1 (Zhang, Zhou, Lin and Sun, 2017): grouped 1×1 convolutions and the
channel shuffle.

Lecture: ``lectures/10_architectures.ipynb``.

In a small network the 1×1 convolutions cost almost everything (a depthwise 3×3
is cheap). ShuffleNet splits them into ``g`` groups, which divides their cost by
``g``, but then every output group only ever sees its own input group. The
**channel shuffle** fixes that: reshape the channels to ``(g, C/g)``, transpose
to ``(C/g, g)`` and flatten, so the next grouped convolution gets channels from
every group.

A ShuffleNet unit (the paper's Figure 2) is a bottleneck: grouped 1×1 to a
quarter of the output width, shuffle, 3×3 depthwise (batch norm, no ReLU), grouped
1×1 back up, added to the input. A unit with stride 2 puts a 3×3/2 average
pooling on the shortcut and **concatenates** instead of adding, so it widens the
map for free. The first grouped 1×1 of stage 2 is a plain one (24 input
channels are too few to split).

``shufflenet_v1(groups=3, width=1.0)`` is the paper's Table 1 network for
``g = 3``: stage outputs 28×28×240, 14×14×480 and 7×7×960 at 224×224, and 137 M
multiply-adds ("MFLOPs") in the paper; the model as built has 1,865,728
parameters (the paper gives none) and 137.5 M multiply-adds in its
convolutions and its dense layer. ``small_input=True`` keeps the first
convolution at stride 1 and drops the max pooling, for 32×32 images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_input, init_conv_bn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channel groups: ``(N, C, H, W) -> (N, C, H, W)``.

    Channels ``[a1 a2 | b1 b2 | c1 c2]`` (3 groups) become ``[a1 b1 c1 a2 b2 c2]``.
    """
    n, c, h, w = x.shape
    x = x.reshape(n, groups, c // groups, h, w)  # (N, g, C/g, H, W)
    x = x.transpose(1, 2)  # (N, C/g, g, H, W)
    return x.reshape(n, c, h, w)  # (N, C, H, W), groups interleaved


class ShuffleUnit(nn.Module):
    """``(N, C, H, W) -> (N, out_channels, H/stride, W/stride)``."""

    def __init__(self, in_channels: int, out_channels: int, groups: int,
                 stride: int = 1, group_first: bool = True) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"expected stride 1 or 2, got {stride}")
        self.stride = stride
        self.groups = groups
        # with stride 2 the shortcut brings in_channels, the branch the rest
        branch_out = out_channels - in_channels if stride == 2 else out_channels
        mid = out_channels // 4
        first_groups = groups if group_first else 1
        self.conv1 = nn.Conv2d(in_channels, mid, 1, groups=first_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.shuffle_groups = first_groups
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=mid,
                               bias=False)  # depthwise
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, branch_out, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(branch_out)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (N, mid, H, W)
        if self.shuffle_groups > 1:
            out = channel_shuffle(out, self.shuffle_groups)
        out = self.bn2(self.conv2(out))  # (N, mid, H/s, W/s): no ReLU here
        out = self.bn3(self.conv3(out))  # (N, branch_out, H/s, W/s)
        if self.stride == 2:
            shortcut = F.avg_pool2d(x, 3, stride=2, padding=1)  # (N, C, H/2, W/2)
            return self.relu(torch.cat([shortcut, out], dim=1))
        return self.relu(out + x)


#: Table 1 of the paper: stage output channels at width 1× for each g.
STAGE_CHANNELS = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960),
                  4: (272, 544, 1088), 8: (384, 768, 1536)}

#: Table 1 of the paper: complexity in MFLOPs (multiply-adds) at width 1× for each g.
PAPER_MFLOPS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}

#: Units per stage (the first with stride 2): 4, 8, 4.
STAGE_REPEATS = (4, 8, 4)


class ShuffleNetV1(nn.Module):
    """``x: (N, in_channels, H, W) -> logits (N, num_classes)``."""

    def __init__(self, groups: int = 3, width: float = 1.0, num_classes: int = 1000,
                 in_channels: int = 3, small_input: bool = False) -> None:
        super().__init__()
        if groups not in STAGE_CHANNELS:
            raise ValueError(
                f"expected groups in {sorted(STAGE_CHANNELS)}, got {groups!r}")
        self.name = f"shufflenet_v1 (g={groups}, {width:g}x)"
        self.in_channels = in_channels
        self.small_input = small_input
        stem = int(24 * width)
        stride = 1 if small_input else 2
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
        )
        self.maxpool = (nn.Identity() if small_input
                        else nn.MaxPool2d(3, stride=2, padding=1))
        channels = stem
        stages = []
        for stage, (out, repeats) in enumerate(zip(STAGE_CHANNELS[groups],
                                                   STAGE_REPEATS)):
            out = int(out * width)
            units = [ShuffleUnit(channels, out, groups, stride=2,
                                 group_first=stage > 0)]
            units += [ShuffleUnit(out, out, groups) for _ in range(1, repeats)]
            stages.append(nn.Sequential(*units))
            channels = out
        self.stage2, self.stage3, self.stage4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.name, self.in_channels,
                    min_size=8 if self.small_input else 32)
        x = self.maxpool(self.conv1(x))  # (N, 24, 56, 56) at 224×224
        x = self.stage2(x)  # (N, 240, 28, 28) for g = 3
        x = self.stage3(x)  # (N, 480, 14, 14)
        x = self.stage4(x)  # (N, 960, 7, 7)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 960)
        return self.fc(x)  # (N, num_classes)


def shufflenet_v1(groups: int = 3, width: float = 1.0, num_classes: int = 1000,
                  in_channels: int = 3, small_input: bool = False) -> ShuffleNetV1:
    """Build ShuffleNet v1 with ``groups`` (1, 2, 3, 4 or 8) at ``width`` × (1×)."""
    return ShuffleNetV1(groups, width, num_classes, in_channels, small_input)


#: Reference numbers (3×224×224 input, 1000 classes), checked by the tests against
#: the model as built. Table 1 of the paper, g = 3, 1×: the stage outputs
#: (height, width, channels) and the complexity in millions of multiply-adds.
REFERENCE = {
    "shufflenet_v1_g3": {
        "stages": {"conv1": (112, 112, 24), "maxpool": (56, 56, 24),
                   "stage2": (28, 28, 240), "stage3": (14, 14, 480),
                   "stage4": (7, 7, 960)},
        "paper_mflops": 137,
        "params": 1_865_728, "macs": 137_460_672,
    },
}
