"""Multiply-accumulates (MACs): what a forward pass costs, as the papers count it.

Lectures: ``lectures/04_conv_layer.ipynb`` (one layer's cost),
``lectures/08_lenet.ipynb``, ``lectures/10_architectures.ipynb`` (ResNet-50 v1:
3.858 G; why 1×1 reductions and global average pooling pay off).

- ``count_macs(model, input_size)``: multiply-accumulates of the convolution and
  linear layers only, the convention behind the papers' "FLOPs". The model runs on
  meta tensors (:mod:`cnn_course.analysis._common`): no real arithmetic.
- ``flop_counter_macs`` gets the same number independently from
  ``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per MAC).
- ``format_macs``: ``1_814_073_856 -> '1.814G'``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ._common import eval_mode, meta_input, run_on_meta

__all__ = ["count_macs", "flop_counter_macs", "format_macs", "macs_per_call"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _layer_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Multiply-adds of one call of a conv or linear layer (bias adds not counted)."""
    if isinstance(module, _CONV):
        # every output value is a dot product over (C_in / groups) * k_h * k_w inputs
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return output.numel() * per_output
    if isinstance(module, _CONV_T):
        # every input value is scattered into (C_out / groups) * k_h * k_w outputs
        per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
        return inputs[0].numel() * per_input
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


@contextlib.contextmanager
def _mac_hooks(model: nn.Module, record: dict[str, int]) -> Iterator[None]:
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, (*_CONV, *_CONV_T, nn.Linear)):
            def hook(mod, inputs, output, name=name):
                record[name] = record.get(name, 0) + _layer_macs(mod, inputs, output)
            handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def count_macs(model: nn.Module, input_size: Sequence[int], *, by_layer: bool = False,
               cross_check: bool = False) -> int | dict[str, int]:
    """Multiply-accumulates of one forward pass on an input of ``input_size``.

    Only convolution (plain and transposed) and linear layers count, without their
    bias additions: the convention of the papers ("ResNet-50: 3.8 × 10⁹ FLOPs").
    Give ``input_size`` as ``(N, C, H, W)``, batch axis included (N = 1 for the
    papers' per-image numbers); the count is for the whole batch. The model runs in
    eval mode on meta tensors.

    ``by_layer=True`` returns ``{layer name: MACs}`` instead of the total.
    ``cross_check=True`` also counts with ``FlopCounterMode`` and raises
    ``RuntimeError`` if the two disagree.
    """
    record: dict[str, int] = {}
    with eval_mode(model), _mac_hooks(model, record), torch.no_grad():
        run_on_meta(model, meta_input(input_size))
    total = sum(record.values())
    if cross_check:
        other = flop_counter_macs(model, input_size)
        if other != total:
            raise RuntimeError(
                f"count_macs counted {total:,} multiply-adds but FlopCounterMode "
                f"counted {other:,} (FLOPs / 2): a layer is counted differently"
            )
    return record if by_layer else total


def flop_counter_macs(model: nn.Module, input_size: Sequence[int]) -> int:
    """Multiply-adds according to ``torch.utils.flop_counter.FlopCounterMode``.

    It counts 2 FLOPs per multiply-add of the matrix products and convolutions it
    sees at the aten level, so half its total is an independent check of
    ``count_macs`` (it also counts any other matmul a model does).
    """
    counter = FlopCounterMode(display=False)
    with eval_mode(model), torch.no_grad(), counter:
        run_on_meta(model, meta_input(input_size))
    flops = counter.get_total_flops()
    if flops % 2:
        raise RuntimeError(f"FlopCounterMode counted an odd number of FLOPs: {flops}")
    return flops // 2


def format_macs(macs: int, digits: int = 3) -> str:
    """``1_814_073_856 -> '1.814G'``: the papers' way of writing operation counts."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if macs >= scale:
            return f"{macs / scale:.{digits}f}{unit}"
    return str(macs)



def macs_per_call(model: nn.Module, size: tuple[int, ...]) -> dict[int, list[int]]:
    """For every module, the conv/linear MACs done inside each of its calls."""
    running = [0]
    starts: list[int] = []
    result: dict[int, list[int]] = {}
    handles = []
    for module in model.modules():
        def pre(mod, inputs):
            starts.append(running[0])

        def post(mod, inputs, output):
            running[0] += _layer_macs(mod, inputs, output)
            result.setdefault(id(mod), []).append(running[0] - starts.pop())

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))
    try:
        with eval_mode(model), torch.no_grad():
            run_on_meta(model, meta_input(size))
    finally:
        for handle in handles:
            handle.remove()
    return result

