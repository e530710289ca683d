"""Shared helpers for the model and inspection tests (not a test module)."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

IMAGENET = (1, 3, 224, 224)


def on_meta(builder: Callable[..., nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
    """Build a model on the meta device: shapes only, no memory, no init cost."""
    with torch.device("meta"):
        return builder(*args, **kwargs)


def materialize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give a meta-built module real CPU storage and its layers' default random init."""
    torch.manual_seed(seed)
    module = module.to_empty(device="cpu")
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
    return module


def meta_forward(model: nn.Module, size: tuple[int, ...]) -> Any:
    """Forward a meta-built model on a meta input of ``size`` (shapes only)."""
    with torch.no_grad():
        return model(torch.empty(size, device="meta"))


def to_stated_digits(macs: int, stated: str) -> str:
    """``macs`` in G with as many decimals as the reference ``stated`` ("1.814")."""
    decimals = len(stated.split(".")[1]) if "." in stated else 0
    return f"{macs / 1e9:.{decimals}f}"
