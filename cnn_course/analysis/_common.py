"""Pieces shared by the counting modules: input sizes, eval mode, "meta" runs.

Lectures: ``lectures/05_receptive_field.ipynb``, ``lectures/08_lenet.ipynb``,
``lectures/10_architectures.ipynb`` (through :mod:`cnn_course.analysis`).

Nothing here runs a real forward pass to count: the model is called on "meta"
tensors (shapes without data) through ``torch.func.functional_call``, so counting
VGG16 costs no 15 G multiply-adds and does not touch the model's own weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call


def full_size(input_size: Sequence[int]) -> tuple[int, ...]:
    """Check ``input_size`` is ``(N, C, *spatial)``, batch axis included."""
    size = tuple(int(s) for s in input_size)
    if len(size) < 2 or min(size) < 1:
        raise ValueError(
            f"expected input_size (N, C, H, W) with the batch axis (N = 1 for one "
            f"image; (N, C, L) for signals, (N, features) for dense nets), got "
            f"{tuple(input_size)}"
        )
    return size


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Evaluation mode for the duration (no dropout, no auxiliary heads), then back."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.train(training)


def _on_meta(model: nn.Module) -> bool:
    tensors = list(model.parameters()) + list(model.buffers())
    return bool(tensors) and all(t.is_meta for t in tensors)


def run_on_meta(model: nn.Module, x: torch.Tensor) -> Any:
    """Call ``model(x)`` with every parameter and buffer swapped for a meta tensor.

    ``x`` must be a meta tensor. The model's own weights are never read or written.
    """
    if _on_meta(model):
        return model(x)
    swapped = {
        name: torch.empty_like(t, device="meta")
        for name, t in [*model.named_parameters(), *model.named_buffers()]
    }
    return functional_call(model, swapped, (x,), strict=False)


def meta_input(input_size: Sequence[int]) -> torch.Tensor:
    """An input of ``input_size`` ``(N, C, *spatial)`` on the meta device."""
    return torch.empty(full_size(input_size), device="meta")


def as_model(layers_or_model: nn.Module | Sequence[nn.Module]) -> nn.Module:
    """A model as it is, or a list of layers as an ``nn.Sequential``."""
    if isinstance(layers_or_model, nn.Module):
        return layers_or_model
    return nn.Sequential(*layers_or_model)


# ------------------------------------------------ reading torch calls' arguments

def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor inside nested tuples, lists and dicts, in order: a torch call's
    arguments, or a module's outputs (a tensor, a tuple, a named tuple, a dict)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, (tuple, list)):
        return []
    return [t for item in value for t in tensors_in(item)]


def as_tuple(value: Any, n: int, default: Any = None) -> tuple:
    """An int, or one or ``n`` ints, as ``n`` ints: ``3 -> (3, 3)``."""
    if value is None:
        value = default
    if isinstance(value, (int, float)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    return value * n if len(value) == 1 else value


def arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    """The argument ``name`` of a torch call, given by keyword or at ``index``."""
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def op_name(func: Any) -> str:
    """The plain name of a torch function: ``_max_pool2d -> max_pool2d``."""
    name = getattr(func, "__name__", "") or ""
    if name.startswith("__") and name.endswith("__"):
        return name.strip("_")  # __getitem__ -> getitem, __iadd__ -> iadd
    return name.strip("_")  # _max_pool2d -> max_pool2d, relu_ -> relu


def fmt_axes(values: Sequence[int | float]) -> str:
    """``(5, 5) -> '5'``, ``(5, 3) -> '5×3'``: one number when the axes agree."""
    if len(set(values)) == 1:
        return f"{values[0]:g}"
    return "×".join(f"{v:g}" for v in values)
