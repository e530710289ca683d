"""SqueezeNet (Iandola, Han, Moskewicz, Ashraf, Dally and Keutzer, 2016): versions
1.0 and 1.1.

Lecture: ``lectures/10_architectures.ipynb``.

AlexNet-level accuracy with 50× fewer parameters, from three ideas: replace most
3×3 filters by 1×1 ones, feed the remaining 3×3 filters few input channels, and
pool late so the convolutions see large maps. The unit is the **fire module**: a
"squeeze" 1×1 convolution to ``s`` channels, then an "expand" layer of ``e1`` 1×1
and ``e3`` 3×3 filters side by side, concatenated (``s < e1 + e3``). There is no
dense layer: a 1×1 convolution to ``num_classes`` maps and global average pooling
end the network.

- ``version="1.0"``: the paper's Table 1: a 7×7/2 first convolution with 96
  filters, max pooling after conv1, fire4 and fire8. 1,248,424 parameters
  (torchvision's count), 0.82 G multiply-adds at 224×224.
- ``version="1.1"`` (the authors' repository): a 3×3/2 first convolution with 64
  filters and the poolings moved earlier (after conv1, fire3, fire5): 2.4× fewer
  multiply-adds for the same accuracy, 1,235,496 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_input


class Fire(nn.Module):
    """``(N, C, H, W) -> (N, expand1x1 + expand3x3, H, W)``: squeeze, then expand."""

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int,
                 expand3x3: int) -> None:
        super().__init__()
        self.out_channels = expand1x1 + expand3x3
        self.squeeze = nn.Conv2d(in_channels, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))  # (N, squeeze, H, W)
        return torch.cat([
            self.expand1x1_activation(self.expand1x1(x)),  # (N, expand1x1, H, W)
            self.expand3x3_activation(self.expand3x3(x)),  # (N, expand3x3, H, W)
        ], dim=1)


#: Fire modules as (squeeze, expand 1×1, expand 3×3), "M" a 3×3/2 max pooling,
#: after the first convolution and its pooling (the paper's Table 1 for 1.0).
FIRE_CFG: dict[str, list[tuple[int, int, int] | str]] = {
    "1.0": [(16, 64, 64), (16, 64, 64), (32, 128, 128), "M",
            (32, 128, 128), (48, 192, 192), (48, 192, 192), (64, 256, 256), "M",
            (64, 256, 256)],
    "1.1": [(16, 64, 64), (16, 64, 64), "M", (32, 128, 128), (32, 128, 128), "M",
            (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)],
}

#: The first convolution: (filters, kernel) with stride 2 and no padding.
STEM = {"1.0": (96, 7), "1.1": (64, 3)}

#: The smallest input each version accepts (every pooling still has a window).
MIN_SIZE = {"1.0": 21, "1.1": 17}


class SqueezeNet(nn.Module):
    """``x: (N, in_channels, H, W) -> logits (N, num_classes)``."""

    def __init__(self, version: str = "1.0", num_classes: int = 1000,
                 in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        if version not in FIRE_CFG:
            raise ValueError(f"expected version '1.0' or '1.1', got {version!r}")
        self.name = f"squeezenet {version}"
        self.version = version
        self.in_channels = in_channels
        width, kernel = STEM[version]
        # ceil_mode=True as in the paper's Caffe model: a partial window still pools
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, kernel, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
        ]
        for item in FIRE_CFG[version]:
            if item == "M":
                layers.append(nn.MaxPool2d(3, stride=2, ceil_mode=True))
            else:
                fire = Fire(width, *item)
                layers.append(fire)
                width = fire.out_channels
        self.features = nn.Sequential(*layers)
        # conv10: one 1×1 filter per class, then the average of each class map
        self.final_conv = nn.Conv2d(width, num_classes, 1)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), self.final_conv, nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                if module is self.final_conv:
                    nn.init.normal_(module.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.name, self.in_channels, min_size=MIN_SIZE[self.version])
        x = self.features(x)  # (N, 512, 13, 13) at 224×224
        x = self.classifier(x)  # (N, num_classes, 1, 1)
        return torch.flatten(x, 1)  # (N, num_classes)


def squeezenet(version: str = "1.0", num_classes: int = 1000,
               in_channels: int = 3) -> SqueezeNet:
    """Build SqueezeNet ``version`` "1.0" (the paper) or "1.1" (2.4× cheaper)."""
    return SqueezeNet(version, num_classes, in_channels)


def squeezenet1_0(**kwargs) -> SqueezeNet:
    return squeezenet("1.0", **kwargs)


def squeezenet1_1(**kwargs) -> SqueezeNet:
    return squeezenet("1.1", **kwargs)


#: Reference numbers (3×224×224 input, 1000 classes), checked by the tests against
#: the models as built. "params" and "gmacs" are torchvision's (num_params, GFLOPS).
REFERENCE = {
    "squeezenet1_0": {"params": 1_248_424, "macs": 818_924_576, "gmacs": "0.82"},
    "squeezenet1_1": {"params": 1_235_496, "macs": 349_151_936, "gmacs": "0.35"},
}
