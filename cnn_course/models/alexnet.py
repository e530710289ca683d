"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012): the two-tower paper network and
the one-tower layout everyone uses today.

Lecture: ``lectures/10_architectures.ipynb``.

``variant="paper"`` is the network of the paper's Figure 2, trained on two GPUs:
conv2, conv4 and conv5 only see the maps of their own GPU (``groups=2``), conv3
and the dense layers see both. LRN follows the ReLU of conv1 and conv2, max pooling
overlaps (3×3 windows, stride 2), dropout 0.5 guards fc6 and fc7. It has 60,965,224
parameters (the paper's "60 million").

``variant="single"`` is the one-tower layout of Krizhevsky's "One weird trick"
(2014), the torchvision ``alexnet``: 64, 192, 384, 256, 256 filters, no groups, no
LRN; 61,100,840 parameters and 0.714 G multiply-adds at 224×224.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._common import check_input, paper_lrn


class AlexNet(nn.Module):
    """``x: (N, in_channels, S, S) -> logits (N, num_classes)``, S = 227 or 224.

    S is 227 for the paper variant and 224 for the single one.

    The dense head is fixed to a 256×6×6 input, so each variant takes one input
    size. (The paper says 224×224, but conv1's 11×11 stride-4 windows only tile a
    227×227 image: (227 - 11)/4 + 1 = 55. The single variant pads conv1 by 2, so
    224 works: floor((224 + 4 - 11)/4) + 1 = 55.)
    """

    def __init__(self, variant: str = "paper", num_classes: int = 1000,
                 in_channels: int = 3) -> None:
        super().__init__()
        if variant not in ("paper", "single"):
            raise ValueError(f"expected variant 'paper' or 'single', got {variant!r}")
        self.variant = variant
        self.in_channels = in_channels
        self.input_size = 227 if variant == "paper" else 224
        if variant == "paper":
            self.features = _paper_features(in_channels)
            self.classifier = nn.Sequential(OrderedDict([
                ("fc6", nn.Linear(256 * 6 * 6, 4096)),
                ("relu6", nn.ReLU(inplace=True)),
                ("drop6", nn.Dropout(0.5)),
                ("fc7", nn.Linear(4096, 4096)),
                ("relu7", nn.ReLU(inplace=True)),
                ("drop7", nn.Dropout(0.5)),
                ("fc8", nn.Linear(4096, num_classes)),
            ]))
            self._init_paper()
        else:
            self.features = _single_features(in_channels)
            # torchvision's order: dropout before fc6 and fc7 rather than after.
            self.classifier = nn.Sequential(OrderedDict([
                ("drop6", nn.Dropout(0.5)),
                ("fc6", nn.Linear(256 * 6 * 6, 4096)),
                ("relu6", nn.ReLU(inplace=True)),
                ("drop7", nn.Dropout(0.5)),
                ("fc7", nn.Linear(4096, 4096)),
                ("relu7", nn.ReLU(inplace=True)),
                ("fc8", nn.Linear(4096, num_classes)),
            ]))

    def _init_paper(self) -> None:
        # Section 5: weights from N(0, 0.01²); biases 1 in conv2, conv4, conv5 and
        # the dense layers (so their ReLUs start with positive inputs), 0 elsewhere.
        for name, module in self.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, 0.01)
                short_name = name.split(".")[-1]
                ones = short_name in ("conv2", "conv4", "conv5", "fc6", "fc7", "fc8")
                nn.init.constant_(module.bias, 1.0 if ones else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (self.input_size, self.input_size)
        check_input(x, f"alexnet {self.variant}", self.in_channels, size)
        x = self.features(x)  # (N, 256, 6, 6)
        x = torch.flatten(x, 1)  # (N, 9216)
        return self.classifier(x)  # (N, num_classes)


def _paper_features(in_channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, 96, kernel_size=11, stride=4)),  # 227 -> 55
        ("relu1", nn.ReLU(inplace=True)),
        ("lrn1", paper_lrn()),
        ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),  # 55 -> 27
        # groups=2: each GPU's 128 kernels see only that GPU's 48 conv1 maps.
        ("conv2", nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2)),
        ("relu2", nn.ReLU(inplace=True)),
        ("lrn2", paper_lrn()),
        ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),  # 27 -> 13
        # conv3 is the one layer whose kernels see both GPUs' maps.
        ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)),
        ("relu3", nn.ReLU(inplace=True)),
        ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2)),
        ("relu4", nn.ReLU(inplace=True)),
        ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2)),
        ("relu5", nn.ReLU(inplace=True)),
        ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),  # 13 -> 6
    ]))


def _single_features(in_channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2)),
        ("relu1", nn.ReLU(inplace=True)),
        ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),  # 55 -> 27
        ("conv2", nn.Conv2d(64, 192, kernel_size=5, padding=2)),
        ("relu2", nn.ReLU(inplace=True)),
        ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),  # 27 -> 13
        ("conv3", nn.Conv2d(192, 384, kernel_size=3, padding=1)),
        ("relu3", nn.ReLU(inplace=True)),
        ("conv4", nn.Conv2d(384, 256, kernel_size=3, padding=1)),
        ("relu4", nn.ReLU(inplace=True)),
        ("conv5", nn.Conv2d(256, 256, kernel_size=3, padding=1)),
        ("relu5", nn.ReLU(inplace=True)),
        ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),  # 13 -> 6
    ]))


def alexnet(variant: str = "paper", num_classes: int = 1000,
            in_channels: int = 3) -> AlexNet:
    """Build AlexNet: ``"paper"`` (two towers, 227×227) or ``"single"`` (224×224)."""
    return AlexNet(variant, num_classes, in_channels)


#: Reference numbers (3-channel input, 1000 classes), checked by the tests against
#: the models as built. MACs: conv and linear multiply-adds of one image.
REFERENCE = {
    "alexnet_paper": {"params": 60_965_224, "macs": 724_406_816,
                      "input": (3, 227, 227)},
    "alexnet_single": {"params": 61_100_840, "macs": 714_188_480, "gmacs": "0.714",
                       "input": (3, 224, 224)},
}
