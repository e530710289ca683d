"""Pieces shared by every model file: input checks and the papers' LRN.

Lectures: ``lectures/08_lenet.ipynb``, ``lectures/10_architectures.ipynb``,
``lectures/12_beyond_classification.ipynb``, through every model file.

Every model checks its input in ``forward`` before any arithmetic, so a student who
feeds a 28×28 image to a network built for 32×32 reads a sentence naming the input
the network expects, not a matrix-multiply shape error three layers later.
"""

from __future__ import annotations

import torch
from torch import nn


def _expected_text(channels: int, size: tuple[int, int] | None) -> str:
    if size is None:
        return f"(N, {channels}, H, W)"
    return f"(N, {channels}, {size[0]}, {size[1]})"


def check_input(
    x: torch.Tensor,
    name: str,
    channels: int,
    size: tuple[int, int] | None = None,
    *,
    multiple_of: int | None = None,
    min_size: int | None = None,
) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(N, channels, H, W)`` as ``name`` needs.

    ``size`` fixes ``(H, W)`` (networks whose dense layers are tied to one input
    size); ``multiple_of`` asks that ``H`` and ``W`` divide by it (networks that
    downsample and upsample back); ``min_size`` is the smallest ``H`` and ``W``.
    The message names the expected input, e.g.
    ``lenet5 classic expects (N, 1, 32, 32), got shape (8, 1, 28, 28)``.
    """
    expected = _expected_text(channels, size)
    got = f"got shape {tuple(x.shape)}"
    if x.ndim != 4:
        raise ValueError(f"{name} expects {expected} (4-D), {got} ({x.ndim}-D)")
    if x.shape[1] != channels:
        raise ValueError(
            f"{name} expects {expected}, {got}: {x.shape[1]} channels instead of "
            f"{channels} (build it with in_channels={x.shape[1]} for such images)"
        )
    height, width = int(x.shape[2]), int(x.shape[3])
    if size is not None and (height, width) != tuple(size):
        raise ValueError(f"{name} expects {expected}, {got}")
    if multiple_of is not None and (height % multiple_of or width % multiple_of):
        raise ValueError(
            f"{name} expects {expected} with H and W divisible by {multiple_of}, {got}"
        )
    if min_size is not None and min(height, width) < min_size:
        raise ValueError(
            f"{name} expects {expected} with H and W at least {min_size}, {got}"
        )


def paper_lrn(size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
              k: float = 2.0) -> nn.LocalResponseNorm:
    """Local response normalisation with the constants as Krizhevsky et al. write them.

    The paper (and VGG's A-LRN, and GoogLeNet) divide by
    ``(k + alpha * sum_{n neighbours} a^2) ** beta``; ``torch.nn.LocalResponseNorm``
    divides ``alpha`` by ``size`` first, so the paper's ``alpha = 1e-4`` becomes
    ``alpha * size`` here. Channel-wise only: it changes no spatial receptive field.
    """
    return nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)


def init_conv_bn(model: nn.Module) -> None:
    """He initialisation for every convolution (``fan_out``, ReLU gain, no bias
    change), weight 1 and shift 0 for every batch norm: torchvision's choice for
    ResNet and the networks built like it."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
