"""VGG (Simonyan and Zisserman, 2014): configurations A, A-LRN, B, C, D and E.

Lecture: ``lectures/10_architectures.ipynb``.

Every configuration is a column of the paper's Table 1, written as data below:
``64`` is a 3×3 convolution with 64 filters (stride 1, padding 1, then ReLU),
``(1, 256)`` a 1×1 convolution (configuration C only), ``"LRN"`` local response
normalisation (A-LRN only) and ``"M"`` 2×2 max pooling with stride 2. Five poolings
take 224×224 to 7×7, and the dense head (4096, 4096, classes) is tied to 512×7×7.
VGG16 (D) has 138,357,544 parameters and 15.47 G multiply-adds; VGG11 (A) has
132,863,336.

``batch_norm=True`` adds batch normalisation after every convolution (torchvision's
``vgg*_bn``; the convolutions keep their bias). ``small_input=True`` is the usual
CIFAR version: 32×32 inputs reach a 512×1×1 map, and one linear layer classifies it.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_input, paper_lrn

cfgs: dict[str, list[int | str | tuple[int, int]]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (1, 256), "M",
          512, 512, (1, 512), "M", 512, 512, (1, 512), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
          512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
          512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

#: The usual names: VGG11 is A, VGG13 is B, VGG16 is D, VGG19 is E.
DEPTHS = {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}


def make_layers(cfg: list[int | str | tuple[int, int]], in_channels: int = 3,
                batch_norm: bool = False) -> nn.Sequential:
    """Turn a configuration list into the convolutional body."""
    layers: list[nn.Module] = []
    channels = in_channels
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif item == "LRN":
            layers.append(paper_lrn())
        else:
            kernel, width = item if isinstance(item, tuple) else (3, item)
            # padding 1 keeps a 3×3 convolution's map size; a 1×1 needs none.
            layers.append(nn.Conv2d(channels, width, kernel, padding=kernel // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            channels = width
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``x: (N, in_channels, 224, 224) -> logits (N, num_classes)`` (32×32 if small)."""

    def __init__(self, config: str = "D", num_classes: int = 1000, in_channels: int = 3,
                 batch_norm: bool = False, small_input: bool = False) -> None:
        super().__init__()
        if config not in cfgs:
            raise ValueError(f"expected config in {sorted(cfgs)}, got {config!r}")
        self.name = f"vgg {config}" + (" (batch norm)" if batch_norm else "")
        self.in_channels = in_channels
        self.input_size = 32 if small_input else 224
        self.features = make_layers(cfgs[config], in_channels, batch_norm)
        if small_input:
            self.classifier = nn.Sequential(nn.Linear(512, num_classes))
        else:
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(0.5),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(0.5),
                nn.Linear(4096, num_classes),
            )
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's choice (He initialisation); the paper pre-trained A and
        # copied its layers into the deeper nets, then found Glorot init works too.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out",
                                        nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.name, self.in_channels, (self.input_size,) * 2)
        x = self.features(x)  # (N, 512, 7, 7), or (N, 512, 1, 1) when small
        x = torch.flatten(x, 1)  # (N, 25088) or (N, 512)
        return self.classifier(x)  # (N, num_classes)


def vgg(config: str = "D", num_classes: int = 1000, in_channels: int = 3,
        batch_norm: bool = False, small_input: bool = False) -> VGG:
    """Build VGG with configuration "A", "A-LRN", "B", "C", "D" or "E"."""
    return VGG(config, num_classes, in_channels, batch_norm, small_input)


def vgg11(**kwargs) -> VGG:
    return vgg("A", **kwargs)


def vgg13(**kwargs) -> VGG:
    return vgg("B", **kwargs)


def vgg16(**kwargs) -> VGG:
    return vgg("D", **kwargs)


def vgg19(**kwargs) -> VGG:
    return vgg("E", **kwargs)


#: Reference numbers (3×224×224 input, 1000 classes), checked by the tests against
#: the models as built. MACs: conv and linear multiply-adds of one image.
REFERENCE = {
    "vgg_A": {"params": 132_863_336, "macs": 7_609_090_048},
    "vgg_A-LRN": {"params": 132_863_336, "macs": 7_609_090_048},
    "vgg_B": {"params": 133_047_848, "macs": 11_308_466_176},
    "vgg_C": {"params": 133_638_952, "macs": 11_770_888_192},
    "vgg_D": {"params": 138_357_544, "macs": 15_470_264_320, "gmacs": "15.47"},
    "vgg_E": {"params": 143_667_240, "macs": 19_632_062_464},
    # batch_norm=True (torchvision's vgg11_bn, vgg16_bn, vgg19_bn)
    "vgg_A_bn": {"params": 132_868_840},
    "vgg_D_bn": {"params": 138_365_992},
    "vgg_E_bn": {"params": 143_678_248},
}

#: Table 2 of the paper: parameters in millions, A (and A-LRN) to E.
PAPER_PARAMS_MILLIONS = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}
