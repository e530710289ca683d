"""The architectures the commands and the weight files name: ``build("resnet20")``.

Lectures: ``lectures/08_lenet.ipynb`` (``lenet5-classic``, ``lenet5-modern``),
``lectures/10_architectures.ipynb`` (``resnet20``),
``lectures/11_transfer_learning.ipynb`` (``convnet``, the shipped backbone). The
``cnn-course train MODEL`` command, ``cnn-course pretrain --arch`` and the JSON
next to every weight file (``"arch": "convnet"``) use these names.

Every builder takes ``num_classes`` and ``in_channels``; the LeNets also take
``input_size`` (28 or 32), ``resnet20`` its ``depth``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .convnet import convnet
from .lenet import lenet5
from .resnet import resnet_cifar

__all__ = ["build", "names", "canonical", "ALIASES"]


def _lenet5(variant: str) -> Callable[..., nn.Module]:
    def build_lenet(num_classes: int = 10, in_channels: int = 1,
                    input_size: int = 28) -> nn.Module:
        return lenet5(variant, num_classes, in_channels, input_size)

    return build_lenet


def _resnet20(num_classes: int = 10, in_channels: int = 3,
              depth: int = 20) -> nn.Module:
    return resnet_cifar(depth, num_classes, in_channels)


#: name -> builder(num_classes=..., in_channels=..., ...)
_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "convnet": convnet,
    "lenet5-classic": _lenet5("classic"),
    "lenet5-modern": _lenet5("modern"),
    "resnet20": _resnet20,
}

#: Other names for the same architectures: ``lenet5`` is the 1998 paper's network.
ALIASES = {"lenet5": "lenet5-classic"}


def names(aliases: bool = False) -> list[str]:
    """The architecture names, sorted (with ``aliases=True``, the aliases too)."""
    return sorted([*_BUILDERS, *ALIASES] if aliases else _BUILDERS)


def canonical(name: str) -> str:
    """The architecture an alias stands for (``lenet5 -> lenet5-classic``).

    Raises ``ValueError`` naming the known architectures for an unknown name.
    """
    name = ALIASES.get(name, name)
    if name not in _BUILDERS:
        raise ValueError(f"unknown architecture {name!r}; choose from "
                         f"{names(aliases=True)}")
    return name


def build(name: str, **kwargs) -> nn.Module:
    """Build architecture ``name`` (one of :func:`names`, or an alias) with
    ``kwargs``: ``build("convnet", num_classes=4)``."""
    return _BUILDERS[canonical(name)](**kwargs)
