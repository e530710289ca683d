"""U-Net (Ronneberger, Fischer and Brox, 2015).

Lecture: ``lectures/12_beyond_classification.ipynb``.

A contracting path (two 3×3 convolutions and a 2×2 max pooling per level, doubling
the width: 64, 128, 256, 512, 1024), then an expanding path: a 2×2 up-convolution
halves the width and doubles the map, the matching contracting map is cropped and
concatenated on (the skip connection), two 3×3 convolutions follow. A final 1×1
convolution gives one map per class.

``padding="valid"`` is the paper: unpadded convolutions shrink every map, so a
572×572 tile gives a 388×388 segmentation of its centre (Figure 1). Only some input
sizes work (every pooling needs an even size): ``572, 556, 540, ...``; see
``unet_output_size``. ``padding="same"`` pads the convolutions, so the output has
the input's size, which must divide by ``2 ** depth``.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_input


def unet_output_size(input_size: int, depth: int = 4, padding: str = "valid") -> int:
    """Output side length for a square input; ``ValueError`` if the size cannot work.

    Valid padding: each 3×3 convolution takes 2 pixels, so one level maps
    ``s -> s - 4`` and pooling needs ``s - 4`` even; the expanding path maps
    ``s -> 2 s - 4``.
    """
    if padding == "same":
        if input_size % 2 ** depth:
            raise ValueError(
                f"unet (same padding, depth {depth}) needs H and W divisible by "
                f"{2 ** depth}, got {input_size}"
            )
        return input_size
    output = _valid_output(input_size, depth)
    if output is None:
        works = [s for s in range(1, input_size + 2 ** (depth + 1) + 1)
                 if _valid_output(s, depth) is not None]
        below = [s for s in works if s < input_size][-1:]
        above = [s for s in works if s > input_size][:1]
        near = ", ".join(str(s) for s in below + above)
        raise ValueError(
            f"unet (valid padding, depth {depth}) cannot take "
            f"{input_size}×{input_size}: "
            f"a map reaches a 2×2 pooling with an odd size, or shrinks to nothing. "
            f"Nearest sizes that work: {near}"
        )
    return output


def _valid_output(size: int, depth: int) -> int | None:
    """The valid-padding output size, or ``None`` where some level does not fit."""
    for _ in range(depth):
        size -= 4  # two unpadded 3×3 convolutions
        if size <= 0 or size % 2:
            return None
        size //= 2  # 2×2 max pooling
    size -= 4  # the bottom level's two convolutions
    if size <= 0:
        return None
    for _ in range(depth):
        size = 2 * size - 4  # 2×2 up-convolution, then two 3×3 convolutions
        if size <= 0:
            return None
    return size


class DoubleConv(nn.Sequential):
    """Two 3×3 convolutions with ReLU (and optional batch norm)."""

    def __init__(self, in_channels: int, out_channels: int, padding: int,
                 batch_norm: bool = False) -> None:
        layers: list[nn.Module] = []
        for channels in (in_channels, out_channels):
            layers.append(nn.Conv2d(channels, out_channels, 3, padding=padding,
                                    bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The central ``height × width`` window of ``x: (N, C, H, W)``."""
    top = (x.shape[2] - height) // 2
    left = (x.shape[3] - width) // 2
    return x[:, :, top : top + height, left : left + width]


class UNet(nn.Module):
    """``x: (N, in_channels, H, W) -> per-pixel scores (N, num_classes, H', W')``.

    ``H' = H`` with same padding; ``unet_output_size(H)`` (388 for 572) with valid.
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 1,
                 base_channels: int = 64, depth: int = 4, padding: str = "valid",
                 batch_norm: bool = False) -> None:
        super().__init__()
        if padding not in ("valid", "same"):
            raise ValueError(f"expected padding 'valid' or 'same', got {padding!r}")
        self.in_channels = in_channels
        self.depth = depth
        self.padding = padding
        pad = 0 if padding == "valid" else 1
        widths = [base_channels * 2 ** i for i in range(depth + 1)]  # 64 ... 1024
        self.down = nn.ModuleList()
        channels = in_channels
        for width in widths:
            self.down.append(DoubleConv(channels, width, pad, batch_norm))
            channels = width
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        for width in reversed(widths[:-1]):
            # 2×2 up-convolution: doubles the map, halves the width
            self.up.append(nn.ConvTranspose2d(2 * width, width, 2, stride=2))
            # after concatenating the skip the width is doubled again
            self.up_conv.append(DoubleConv(2 * width, width, pad, batch_norm))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, f"unet ({self.padding} padding)", self.in_channels)
        for side in x.shape[2:]:
            # raises, naming sizes that work, if this one cannot
            unet_output_size(int(side), self.depth, self.padding)
        skips = []
        for level, block in enumerate(self.down):
            x = block(x)  # (N, 64 * 2^level, H_level, W_level)
            if level < self.depth:
                skips.append(x)
                x = self.pool(x)
        for up, block, skip in zip(self.up, self.up_conv, reversed(skips)):
            x = up(x)  # (N, width, 2 h, 2 w)
            skip = center_crop(skip, x.shape[2], x.shape[3])  # same (h, w) as x
            x = torch.cat([skip, x], dim=1)  # (N, 2 width, 2 h, 2 w)
            x = block(x)  # (N, width, 2 h - 4, 2 w - 4) if valid
        return self.head(x)  # (N, num_classes, H', W')


def unet(num_classes: int = 2, in_channels: int = 1, base_channels: int = 64,
         depth: int = 4, padding: str = "valid", batch_norm: bool = False) -> UNet:
    """Build U-Net; the defaults are the paper's (1 input channel, 2 classes, valid)."""
    return UNet(num_classes, in_channels, base_channels, depth, padding, batch_norm)


#: The paper's network (1 input channel, 2 classes, valid padding): parameters as
#: built (the paper states none) and the 572 -> 388 tile of its Figure 1.
REFERENCE = {
    "unet": {"params": 31_030_658, "input": (1, 572, 572), "output": (2, 388, 388)},
}
