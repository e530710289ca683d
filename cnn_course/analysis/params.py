"""Parameter counts: how many numbers a network learns.

Lectures: ``lectures/04_conv_layer.ipynb`` (a layer's weights),
``lectures/08_lenet.ipynb`` (LeNet-5's 60,000), ``lectures/10_architectures.ipynb``
(AlexNet to MobileNetV2, checked against the papers).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

__all__ = ["ParamCount", "count_params"]


class ParamCount(NamedTuple):
    total: int
    trainable: int


def count_params(model: nn.Module) -> ParamCount:
    """Total and trainable parameters (shared parameters counted once).

    Buffers (batch-norm statistics, LeNet's fixed RBF prototypes) are not
    parameters and are not counted.
    """
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return ParamCount(total, trainable)
