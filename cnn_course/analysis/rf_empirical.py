"""The empirical receptive field: where the gradient of one output unit is non-zero.

Lecture: ``lectures/05_receptive_field.ipynb`` (the analytic rule of
:mod:`.rf_analytic` checked against backpropagation), ``lectures/07_backprop.ipynb``.

``empirical_receptive_field(model, input_size, layer=...)`` runs the model on a
random input, backpropagates from the units at one position of a layer's output,
and reports the input pixels whose gradient is non-zero. ReLUs and max pooling
would hide pixels (a ReLU that is off, a pooling that picked another pixel), so by
default they are made linear while measuring (see ``_Linearise``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..device import model_device
from ._common import arg, as_model, as_tuple, eval_mode, full_size, op_name

__all__ = ["EmpiricalRF", "empirical_receptive_field"]

_ACTIVATIONS = {"relu", "relu6", "leaky_relu", "rrelu", "elu", "selu", "celu",
                "gelu", "silu", "mish", "hardtanh", "hardswish", "hardsigmoid",
                "sigmoid", "tanh", "softplus", "prelu", "threshold", "logsigmoid",
                "softsign", "tanhshrink"}


class _Linearise(TorchFunctionMode):
    """Activations become the identity and max pooling becomes average pooling.

    A ReLU passes no gradient where its input is negative, and a max pooling only to
    the winner of each window, so on a real network the gradient of one unit is zero
    at many pixels that are inside its receptive field. With the identity and
    average pooling (same kernel, stride and padding) every pixel inside gets a
    non-zero gradient (barring exact cancellation), and none outside ever does.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = op_name(func)
        if name in _ACTIVATIONS:
            x = args[0]
            inplace = (getattr(func, "__name__", "").endswith("_")
                       or kwargs.get("inplace", False))
            return x if inplace else x.clone()
        if name.startswith("max_pool") and not name.endswith("with_indices"):
            if arg(args, kwargs, 6, "return_indices", False):
                raise NotImplementedError(
                    "linearising a max pooling that returns indices")
            if set(as_tuple(arg(args, kwargs, 4, "dilation", 1), 1)) != {1}:
                raise NotImplementedError("linearising a dilated max pooling")
            x = args[0]
            pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[x.ndim - 2]
            kernel = arg(args, kwargs, 1, "kernel_size")
            stride = arg(args, kwargs, 2, "stride") or kernel
            return pool(x, kernel, stride, arg(args, kwargs, 3, "padding", 0),
                        ceil_mode=arg(args, kwargs, 5, "ceil_mode", False))
        if name.startswith("adaptive_max_pool") and not name.endswith("with_indices"):
            if arg(args, kwargs, 2, "return_indices", False):
                raise NotImplementedError(
                    "linearising a max pooling that returns indices")
            x = args[0]
            pool = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d,
                    3: F.adaptive_avg_pool3d}[x.ndim - 2]
            return pool(x, arg(args, kwargs, 1, "output_size"))
        return func(*args, **kwargs)


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the wanted layer has run."""


@dataclass(frozen=True)
class EmpiricalRF:
    """Input pixels whose gradient is non-zero, per spatial axis (inclusive bounds)."""

    lo: tuple[int, ...]
    hi: tuple[int, ...]
    position: tuple[int, ...] | None

    @property
    def size(self) -> tuple[int, ...]:
        return tuple(h - l + 1 for l, h in zip(self.lo, self.hi))


@contextlib.contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def empirical_receptive_field(
    layers_or_model: nn.Module | Sequence[nn.Module],
    input_size: Sequence[int],
    layer: str | None = None,
    position: Sequence[int] | None = None,
    *,
    linearise: bool = True,
    trials: int = 1,
    seed: int = 0,
) -> EmpiricalRF:
    """Measure a receptive field: where the gradient of one unit is non-zero.

    Runs ``model`` (its own weights, random input from ``seed``) up to the output of
    the module named ``layer`` (the model's output if ``None``), takes the units of
    all channels at ``position`` (default: the centre ``n // 2``), weights them
    randomly, and backpropagates to the input. The pixels with a non-zero gradient
    summed over ``trials`` inputs are the measured field, clipped to the image.

    ``linearise=True`` (default) swaps activations for the identity and max pooling
    for average pooling while measuring (see ``_Linearise``), so that no pixel inside
    the field is missed because a ReLU was off or a pooling picked another pixel.
    With ``linearise=False`` use several ``trials``. The model runs in eval mode.
    """
    model = as_model(layers_or_model)
    size = full_size(input_size)
    if any(p.is_meta for p in model.parameters()):
        raise ValueError(
            "empirical_receptive_field needs real weights, and this model is on the "
            "meta device: build it normally (or call .to_empty() and re-initialise)"
        )
    generator = torch.Generator().manual_seed(seed)
    device = model_device(model)
    captured: dict[str, torch.Tensor] = {}
    handle = None
    if layer is not None:
        target = dict(model.named_modules()).get(layer)
        if target is None:
            raise KeyError(f"no layer named {layer!r} in {type(model).__name__}")

        def hook(mod, inputs, output):
            captured["out"] = output
            raise _Stop

        handle = target.register_forward_hook(hook)
    total = torch.zeros(size[2:])
    try:
        with eval_mode(model), _frozen(model):
            for _ in range(trials):
                x = torch.randn(size, generator=generator).to(device).requires_grad_()
                mode = _Linearise() if linearise else contextlib.nullcontext()
                try:
                    with mode:
                        out = model(x)
                except _Stop:
                    out = captured["out"]
                spatial = out.ndim - 2
                if spatial > 0:
                    where = tuple(position) if position is not None else tuple(
                        n // 2 for n in out.shape[2:])
                    unit = out[(0, slice(None), *where)]  # (C,): every channel there
                else:
                    where, unit = None, out[0]  # (features,)
                weights = torch.rand(unit.shape, generator=generator).to(device) + 0.5
                (grad,) = torch.autograd.grad((unit * weights).sum(), x)
                total += grad.detach().abs().sum(dim=(0, 1)).cpu()
    finally:
        if handle is not None:
            handle.remove()
    nonzero = total > 0
    if not nonzero.any():
        raise RuntimeError(
            "the gradient is zero everywhere: no receptive field measured")
    lo, hi = [], []
    for axis in range(nonzero.ndim):
        others = tuple(a for a in range(nonzero.ndim) if a != axis)
        seen = nonzero.any(dim=others) if others else nonzero
        indices = torch.nonzero(seen).flatten()
        lo.append(int(indices.min()))
        hi.append(int(indices.max()))
    return EmpiricalRF(tuple(lo), tuple(hi), where)
