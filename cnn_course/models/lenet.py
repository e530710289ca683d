"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998), classic and modern.

Lecture: ``lectures/08_lenet.ipynb``.

The classic network is the paper's: scaled tanh squashing after every layer,
trainable subsampling (S2, S4), the partial S2→C3 connection table and the
Gaussian-connection (RBF) output layer with fixed prototypes. Its trainable
parameters, layer by layer, are the paper's table:

======  =============  =====================  ==========
layer   output         connections            parameters
======  =============  =====================  ==========
C1      6 × 28 × 28    122,304                156
S2      6 × 14 × 14    5,880                  12
C3      16 × 10 × 10   151,600                1,516
S4      16 × 5 × 5     2,000                  32
C5      120 × 1 × 1    48,120                 48,120
F6      84             10,164                 10,164
OUTPUT  10             (fixed prototypes)     0
======  =============  =====================  ==========

60,000 trainable parameters in all. The modern variant swaps in ReLU, max pooling,
full C3 connectivity and a plain linear output: 61,706 parameters.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_input

# Which S2 maps feed each C3 map: Table I of the paper. The first six C3 maps read
# three contiguous S2 maps, the next six four contiguous, the next three four
# non-contiguous, and the last all six. Breaking the symmetry this way makes
# different C3 maps extract different features, and keeps C3 at 1,516 parameters
# instead of 16 * (6 * 25 + 1) = 2,416.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5),
    (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# The RBF prototypes for the ten digits: stylised 7 (wide) x 12 (high) bitmaps,
# +1 for '#' and -1 for '.', as the paper draws them for the output layer.
DIGIT_BITMAPS: tuple[tuple[str, ...], ...] = (
    (".......", "..###..", ".#...#.", "#.....#", "#.....#", "#.....#",
     "#.....#", "#.....#", "#.....#", ".#...#.", "..###..", "......."),
    (".......", "...#...", "..##...", ".#.#...", "...#...", "...#...",
     "...#...", "...#...", "...#...", "...#...", ".#####.", "......."),
    (".......", "..###..", ".#...#.", "#.....#", "......#", ".....#.",
     "....#..", "...#...", "..#....", ".#.....", "#######", "......."),
    (".......", ".####..", "#....#.", "......#", ".....#.", "..###..",
     ".....#.", "......#", "......#", "#....#.", ".####..", "......."),
    (".......", ".....#.", "....##.", "...#.#.", "..#..#.", ".#...#.",
     "#....#.", "#######", ".....#.", ".....#.", ".....#.", "......."),
    (".......", "#######", "#......", "#......", "#####..", ".....#.",
     "......#", "......#", "......#", "#....#.", ".####..", "......."),
    (".......", "..####.", ".#.....", "#......", "#......", "#.###..",
     "##...#.", "#.....#", "#.....#", ".#...#.", "..###..", "......."),
    (".......", "#######", "......#", ".....#.", ".....#.", "....#..",
     "....#..", "...#...", "...#...", "..#....", "..#....", "......."),
    (".......", "..###..", ".#...#.", "#.....#", ".#...#.", "..###..",
     ".#...#.", "#.....#", "#.....#", ".#...#.", "..###..", "......."),
    (".......", "..###..", ".#...#.", "#.....#", "#.....#", ".#...##",
     "..###.#", "......#", "......#", ".....#.", ".####..", "......."),
)


def rbf_prototypes(num_classes: int = 10) -> torch.Tensor:
    """Fixed ±1 prototypes of the RBF output, shape ``(num_classes, 84)``.

    Ten classes get the digit bitmaps above, flattened row by row (7 x 12 = 84 =
    the width of F6); any other number of classes gets random ±1 codes from a fixed
    seed, which the paper also suggests when classes are not characters.
    """
    if num_classes == len(DIGIT_BITMAPS):
        rows = ["".join(bitmap) for bitmap in DIGIT_BITMAPS]
        return torch.tensor([[1.0 if c == "#" else -1.0 for c in r] for r in rows])
    generator = torch.Generator().manual_seed(1998)
    bits = torch.randint(0, 2, (num_classes, 84), generator=generator)
    return bits.float() * 2 - 1


class ScaledTanh(nn.Module):
    """The paper's squashing function ``f(a) = A tanh(S a)``, A = 1.7159, S = 2/3.

    With these constants f(1) = 1 and f(-1) = -1, and the gain is largest there.
    """

    def __init__(self, amplitude: float = 1.7159, slope: float = 2 / 3) -> None:
        super().__init__()
        self.amplitude = amplitude
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


class Subsampling(nn.Module):
    """Trainable subsampling (S2, S4): one coefficient and one bias per map.

    The four inputs of each 2×2 window are added, multiplied by the map's
    coefficient and shifted by the map's bias: ``2 * channels`` parameters.
    ``x: (N, C, H, W) -> (N, C, H/2, W/2)``.
    """

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        area = self.kernel_size * self.kernel_size
        summed = F.avg_pool2d(x, self.kernel_size) * area  # (N, C, H/2, W/2)
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class PartialConv2d(nn.Module):
    """C3: each output map is a convolution over its own subset of input maps.

    One small ``nn.Conv2d`` per output map, so the parameter count is exactly the
    paper's: the maps of ``table[j]`` times ``kernel_size²`` weights plus one bias.
    """

    def __init__(self, table: tuple[tuple[int, ...], ...],
                 kernel_size: int = 5) -> None:
        super().__init__()
        self.table = table
        self.maps = nn.ModuleList(
            nn.Conv2d(len(inputs), 1, kernel_size) for inputs in table
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [conv(x[:, list(inputs)])  # (N, 1, H', W') each
                   for conv, inputs in zip(self.maps, self.table)]
        return torch.cat(outputs, dim=1)  # (N, len(table), H', W')


class RBFOutput(nn.Module):
    """Gaussian connections: squared distance of F6 to one fixed prototype per class.

    The paper's output is the penalty ``y_i = sum_j (x_j - w_ij)^2`` (small is good).
    This layer returns ``-y_i``, so that ``argmax`` picks the class and
    ``F.cross_entropy`` on it is the paper's MAP criterion (less its constant "junk
    class" term). The prototypes are a buffer: they are not trained.
    ``x: (N, 84) -> (N, num_classes)``.
    """

    def __init__(self, in_features: int = 84, num_classes: int = 10) -> None:
        super().__init__()
        prototypes = rbf_prototypes(num_classes)
        if prototypes.shape[1] != in_features:
            raise ValueError(
                f"expected in_features=84 for the 7x12 prototypes, got {in_features}")
        self.register_buffer("prototypes", prototypes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        diff = x.unsqueeze(1) - self.prototypes  # (N, num_classes, 84)
        penalties = (diff * diff).sum(dim=2)  # (N, num_classes)
        return -penalties


class LeNet5(nn.Module):
    """The 1998 LeNet-5. ``x: (N, in_channels, 32, 32) -> scores (N, num_classes)``.

    ``input_size=28`` zero-pads MNIST's 28×28 digits to 32×32 inside C1 (the paper
    pads the images themselves); nothing else changes.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1,
                 input_size: int = 32) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.input_size = input_size
        pad = _c1_padding(input_size)
        self.features = nn.Sequential(OrderedDict([
            ("c1", nn.Conv2d(in_channels, 6, kernel_size=5, padding=pad)),
            ("tanh1", ScaledTanh()),
            ("s2", Subsampling(6)),
            ("tanh2", ScaledTanh()),
            ("c3", PartialConv2d(C3_TABLE)),
            ("tanh3", ScaledTanh()),
            ("s4", Subsampling(16)),
            ("tanh4", ScaledTanh()),
            # C5 is a convolution, not a dense layer: on a 32×32 input its output
            # happens to be 1×1, on a larger one it would slide.
            ("c5", nn.Conv2d(16, 120, kernel_size=5)),
            ("tanh5", ScaledTanh()),
        ]))
        self.f6 = nn.Linear(120, 84)
        self.tanh6 = ScaledTanh()
        self.output = RBFOutput(84, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # The paper draws every weight from U(-2.4 / F_in, 2.4 / F_in), F_in being
        # the fan-in of the unit, which keeps the tanh units in their linear range.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                bound = 2.4 / fan_in
                nn.init.uniform_(module.weight, -bound, bound)
                nn.init.uniform_(module.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "lenet5 classic", self.in_channels, (self.input_size,) * 2)
        x = self.features(x)  # (N, 120, 1, 1)
        x = torch.flatten(x, 1)  # (N, 120)
        x = self.tanh6(self.f6(x))  # (N, 84)
        return self.output(x)  # (N, num_classes)


class LeNet5Modern(nn.Module):
    """LeNet-5 as it is usually trained today: ReLU, 2×2 max pooling, full C3.

    ``x: (N, in_channels, 32, 32) -> logits (N, num_classes)``.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1,
                 input_size: int = 32) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.input_size = input_size
        pad = _c1_padding(input_size)
        self.features = nn.Sequential(OrderedDict([
            ("c1", nn.Conv2d(in_channels, 6, kernel_size=5, padding=pad)),
            ("relu1", nn.ReLU(inplace=True)),
            ("s2", nn.MaxPool2d(2)),
            ("c3", nn.Conv2d(6, 16, kernel_size=5)),  # full connectivity: 2,416
            ("relu3", nn.ReLU(inplace=True)),
            ("s4", nn.MaxPool2d(2)),
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("c5", nn.Linear(16 * 5 * 5, 120)),
            ("relu5", nn.ReLU(inplace=True)),
            ("f6", nn.Linear(120, 84)),
            ("relu6", nn.ReLU(inplace=True)),
            ("output", nn.Linear(84, num_classes)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "lenet5 modern", self.in_channels, (self.input_size,) * 2)
        x = self.features(x)  # (N, 16, 5, 5)
        x = torch.flatten(x, 1)  # (N, 400)
        return self.classifier(x)  # (N, num_classes)


def _c1_padding(input_size: int) -> int:
    if input_size not in (28, 32):
        raise ValueError(
            f"expected input_size 32 (the paper's padded digits) or 28 (MNIST as "
            f"stored, padded by 2 in C1), got {input_size}"
        )
    return (32 - input_size) // 2


def lenet5(variant: str = "classic", num_classes: int = 10, in_channels: int = 1,
           input_size: int = 32) -> nn.Module:
    """Build LeNet-5: ``variant="classic"`` (the 1998 paper) or ``"modern"``.

    Input ``(N, in_channels, input_size, input_size)`` with ``input_size`` 32 or 28;
    output ``(N, num_classes)`` scores.
    """
    if variant == "classic":
        return LeNet5(num_classes, in_channels, input_size)
    if variant == "modern":
        return LeNet5Modern(num_classes, in_channels, input_size)
    raise ValueError(f"expected variant 'classic' or 'modern', got {variant!r}")


#: Reference numbers (1×32×32 input, 10 classes), checked by the tests against the
#: models as built. ``layers`` is the paper's table of trainable parameters.
REFERENCE = {
    "lenet5_classic": {
        "params": 60_000,
        "layers": {"c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120,
                   "f6": 10_164, "output": 0},
        "connections": {"c1": 122_304, "s2": 5_880, "c3": 151_600, "s4": 2_000,
                        "c5": 48_120, "f6": 10_164},
        "macs": 325_680,
        "input": (1, 32, 32),
    },
    "lenet5_modern": {"params": 61_706, "macs": 416_520, "input": (1, 32, 32)},
}
