"""The analytic receptive field: size, jump and start after every layer.

Lectures: ``lectures/05_receptive_field.ipynb`` (stacks of 3×3 convolutions, dilation,
strides), ``lectures/06_pooling.ipynb`` (pooling grows the field),
``lectures/10_architectures.ipynb`` (VGG16, ResNet-18).

``receptive_field(layers_or_model, input_size)`` follows every torch call of a run
on meta tensors and gives each result tensor its field, from kernel, stride,
padding and dilation; :mod:`.rf_empirical` measures the same field from a gradient.

Conventions. Positions are pixel indices of the input, starting at 0. After a
layer, ``size`` is how many input pixels one output unit sees, ``jump`` is the
distance in input pixels between neighbouring output units, and ``start`` is the
centre of the field of the first output unit (it can be negative, or a half pixel,
where padding or even kernels shift the grid). Through a layer with kernel ``k``,
stride ``s``, padding ``p`` and dilation ``d``::

    k_eff  = d (k - 1) + 1
    size'  = size + (k_eff - 1) * jump
    jump'  = jump * s
    start' = start + ((k_eff - 1) / 2 - p) * jump

Where branches meet (a residual sum, a concatenation) the field is the union of
theirs. A flatten or a global pooling makes the field the union over all
positions: the whole input, clipped to nothing. Normalisation statistics (batch
norm in training mode) are ignored, as is usual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ._common import (
    arg,
    as_model,
    as_tuple,
    eval_mode,
    fmt_axes,
    full_size,
    meta_input,
    op_name,
    run_on_meta,
    tensors_in,
)

__all__ = ["RFRow", "RFTable", "receptive_field", "rf_window"]


@dataclass(frozen=True)
class _Field:
    """Receptive field of every unit of one tensor, per spatial axis."""

    size: tuple[float, ...]
    jump: tuple[float, ...]
    start: tuple[float, ...]
    is_global: bool = False  # the spatial axes are gone (flatten, dense layers)

    def window(self, kernel: Sequence[int], stride: Sequence[int],
               pad_left: Sequence[int], dilation: Sequence[int]) -> _Field:
        size, jump, start = [], [], []
        for r, j, s0, k, s, p, d in zip(self.size, self.jump, self.start,
                                        kernel, stride, pad_left, dilation):
            k_eff = d * (k - 1) + 1
            size.append(r + (k_eff - 1) * j)
            start.append(s0 + ((k_eff - 1) / 2 - p) * j)
            jump.append(j * s)
        return _Field(tuple(size), tuple(jump), tuple(start))

    def bounds(self, positions: Sequence[int]) -> tuple[list[float], list[float]]:
        """First and last input pixel seen by the unit at ``positions``."""
        lo = [s0 + i * j - (r - 1) / 2 for r, j, s0, i in
              zip(self.size, self.jump, self.start, positions)]
        hi = [s0 + i * j + (r - 1) / 2 for r, j, s0, i in
              zip(self.size, self.jump, self.start, positions)]
        return lo, hi

    def union_over(self, counts: Sequence[int], axes: Sequence[int],
                   is_global: bool) -> _Field:
        """Field of a unit that sees ``counts[a]`` neighbouring units on each axis."""
        size, jump, start = list(self.size), list(self.jump), list(self.start)
        for a in axes:
            n = counts[a]
            lo = self.start[a] - (self.size[a] - 1) / 2
            hi = self.start[a] + (n - 1) * self.jump[a] + (self.size[a] - 1) / 2
            size[a], start[a] = hi - lo + 1, (lo + hi) / 2
            jump[a] = self.jump[a] * n
        return _Field(tuple(size), tuple(jump), tuple(start), is_global)

    def shifted(self, begin: Sequence[int], step: Sequence[int]) -> _Field:
        """Field after keeping every ``step``-th unit from ``begin`` (slicing, pad)."""
        start = tuple(s0 + b * j for s0, b, j in zip(self.start, begin, self.jump))
        jump = tuple(j * s for j, s in zip(self.jump, step))
        return _Field(self.size, jump, start, self.is_global)


def _union(fields: list[_Field]) -> _Field:
    """Field of a unit that sees what several aligned units see (sum, concatenation)."""
    if len(fields) == 1:
        return fields[0]
    if any(f.is_global for f in fields):
        return next(f for f in fields if f.is_global)
    jumps = {f.jump for f in fields}
    if len(jumps) > 1:
        raise NotImplementedError(
            f"receptive_field: cannot join maps with different jumps {sorted(jumps)}"
        )
    size, start = [], []
    for axis in range(len(fields[0].size)):
        lo = min(f.start[axis] - (f.size[axis] - 1) / 2 for f in fields)
        hi = max(f.start[axis] + (f.size[axis] - 1) / 2 for f in fields)
        size.append(hi - lo + 1)
        start.append((lo + hi) / 2)
    return _Field(tuple(size), fields[0].jump, tuple(start))


_UPSAMPLING = ("conv_transpose", "interpolate", "upsample", "pixel_shuffle", "unfold",
               "fold", "grid_sample", "max_unpool")
# ops that, when they change the spatial shape, merge all positions into one
_COLLAPSING = {"flatten", "view", "reshape", "mean", "sum", "amax", "amin", "max",
               "min", "linear", "squeeze", "matmul", "mm", "addmm", "bmm", "nansum",
               "std", "var", "logsumexp", "norm", "unflatten"}


class _FieldTracker(TorchFunctionMode):
    """Follows every torch call and gives each result tensor its receptive field."""

    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.spatial = x.ndim - 2
        if self.spatial < 1:
            raise ValueError(
                f"a receptive field needs spatial axes: expected input_size "
                f"(N, C, H, W) or (N, C, L), got {tuple(x.shape)}"
            )
        ones = (1.0,) * self.spatial
        self.fields: dict[int, tuple[torch.Tensor, _Field]] = {}
        self.set(x, _Field(ones, ones, (0.0,) * self.spatial))

    def set(self, tensor: torch.Tensor, field: _Field) -> None:
        # keep a reference to the tensor, so that its id is not reused
        self.fields[id(tensor)] = (tensor, field)

    def get(self, tensor: Any) -> _Field | None:
        if not isinstance(tensor, torch.Tensor):
            return None
        entry = self.fields.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in tensors_in((args, kwargs)) if self.get(t) is not None]
        if inputs:
            outputs = tensors_in(out)
            for y in outputs:
                self.set(y, self._propagate(op_name(func), args, kwargs, inputs, y))
        return out

    def _propagate(self, name: str, args: tuple, kwargs: dict,
                   inputs: list[torch.Tensor], y: torch.Tensor) -> _Field:
        d = self.spatial
        fields = [self.get(t) for t in inputs]
        if any(f.is_global for f in fields):
            return _union(fields)
        x = max(inputs, key=lambda t: t.ndim)
        field = self.get(x)
        if name in ("conv1d", "conv2d", "conv3d"):
            x, field = args[0], self.get(args[0])
            kernel = tuple(args[1].shape[2:])
            stride = as_tuple(arg(args, kwargs, 3, "stride", 1), d)
            dilation = as_tuple(arg(args, kwargs, 5, "dilation", 1), d)
            padding = arg(args, kwargs, 4, "padding", 0)
            if padding == "valid":
                padding = 0
            if padding == "same":  # torch puts the odd pixel on the right
                pad_left = tuple(dl * (k - 1) // 2 for k, dl in zip(kernel, dilation))
            else:
                pad_left = as_tuple(padding, d)
            return field.window(kernel, stride, pad_left, dilation)
        if name.startswith(("max_pool", "avg_pool", "lp_pool")):
            # lp_pool(x, p, kernel_size, stride) has one more argument in front
            offset = 1 if name.startswith("lp_pool") else 0
            kernel = as_tuple(arg(args, kwargs, 1 + offset, "kernel_size"), d)
            stride = as_tuple(arg(args, kwargs, 2 + offset, "stride"), d, kernel)
            padding = 0 if offset else arg(args, kwargs, 3, "padding", 0)
            dilation = 1
            if name.startswith("max"):
                dilation = arg(args, kwargs, 4, "dilation", 1)
            return field.window(kernel, stride, as_tuple(padding, d),
                                as_tuple(dilation, d))
        if name.startswith("adaptive_"):
            return self._adaptive(name, x, field, y)
        if name.startswith(_UPSAMPLING):
            raise NotImplementedError(
                f"receptive_field: '{name}' upsamples, and an upsampled map has no "
                f"single size, jump and start; measure it with "
                f"empirical_receptive_field"
            )
        if name == "getitem":
            return self._slice(x, field, args[1], y)
        if name == "pad":
            pads = tuple(args[1] if len(args) > 1 else kwargs["pad"])
            begin = []
            for axis in range(d):
                k = d - 1 - axis  # F.pad lists the last axis first
                begin.append(-pads[2 * k] if 2 * k < len(pads) else 0)
            return field.shifted(begin, (1,) * d)
        if name in ("cat", "concat", "concatenate"):
            dim = arg(args, kwargs, 1, "dim", 0) % y.ndim
            if dim >= y.ndim - d:
                raise NotImplementedError(
                    "receptive_field: concatenation along a spatial axis")
            return _union(fields)
        if y.ndim > d and tuple(y.shape[-d:]) == tuple(x.shape[-d:]):
            # the positions survive: activations, norms, sums and products of maps,
            # reductions or reshapes over the batch and channel axes
            return _union(fields)
        if name in _COLLAPSING or y.ndim < x.ndim:
            return field.union_over(tuple(x.shape[-d:]), range(d), is_global=True)
        raise NotImplementedError(
            f"receptive_field: cannot tell how '{name}' changes the receptive field "
            f"(input {tuple(x.shape)}, output {tuple(y.shape)})"
        )

    def _adaptive(self, name: str, x: torch.Tensor, field: _Field,
                  y: torch.Tensor) -> _Field:
        d = self.spatial
        n_in, n_out = tuple(x.shape[-d:]), tuple(y.shape[-d:])
        if n_in == n_out:
            return field
        if all(o == 1 for o in n_out):
            return field.union_over(n_in, range(d), is_global=False)
        if all(i % o == 0 for i, o in zip(n_in, n_out)):
            kernel = tuple(i // o for i, o in zip(n_in, n_out))
            return field.window(kernel, kernel, (0,) * d, (1,) * d)
        raise NotImplementedError(
            f"receptive_field: '{name}' from {n_in} to {n_out} uses windows of unequal "
            f"sizes; use an input size whose map divides evenly"
        )

    def _slice(self, x: torch.Tensor, field: _Field, index: Any,
               y: torch.Tensor) -> _Field:
        d = self.spatial
        index = index if isinstance(index, tuple) else (index,)
        if any(i is None for i in index):
            raise NotImplementedError("receptive_field: indexing with None")
        if any(i is Ellipsis for i in index):
            at = index.index(Ellipsis)
            fill = (slice(None),) * (x.ndim - len(index) + 1)
            index = index[:at] + fill + index[at + 1:]
        index = index + (slice(None),) * (x.ndim - len(index))
        begin, step = [], []
        for axis, item in enumerate(index[x.ndim - d:]):
            if not isinstance(item, slice):
                raise NotImplementedError(
                    "receptive_field: picking single rows or columns")
            b, _, s = item.indices(int(x.shape[x.ndim - d + axis]))
            begin.append(b)
            step.append(s)
        kept = tuple(len(range(*item.indices(int(n))))
                     for item, n in zip(index[x.ndim - d:], x.shape[-d:]))
        if tuple(y.shape[-d:]) != kept:
            raise NotImplementedError(
                "receptive_field: advanced indexing of spatial axes")
        return field.shifted(begin, step)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


@dataclass(frozen=True)
class RFRow:
    """Receptive field after one layer (per spatial axis: ``(H, W)`` for images)."""

    name: str
    layer: str
    output_shape: tuple[int, ...]
    size: tuple[int | float, ...]
    jump: tuple[int | float, ...]
    start: tuple[int | float, ...]
    is_global: bool = False


class RFTable(list):
    """Rows of ``receptive_field``: the input, every layer call, and the output."""

    def row(self, name: str) -> RFRow:
        """The row of the layer called ``name`` (its last call, if called twice)."""
        for row in reversed(self):
            if row.name == name:
                return row
        raise KeyError(f"no layer named {name!r}; layers: {[r.name for r in self]}")

    def __str__(self) -> str:
        lines = [f"{'layer':<28} {'output':<22} {'size':>9} {'jump':>7} {'start':>9}"]
        for r in self:
            lines.append(
                f"{r.name + ' (' + r.layer + ')':<28.28} {str(r.output_shape):<22} "
                f"{fmt_axes(r.size):>9} {fmt_axes(r.jump):>7} {fmt_axes(r.start):>9}"
            )
        return "\n".join(lines)


def _row(name: str, module: nn.Module | None, y: torch.Tensor, field: _Field) -> RFRow:
    return RFRow(
        name=name,
        layer=type(module).__name__ if module is not None else "input",
        output_shape=tuple(y.shape),
        size=tuple(_number(v) for v in field.size),
        jump=tuple(_number(v) for v in field.jump),
        start=tuple(_number(v) for v in field.start),
        is_global=field.is_global,
    )


def trace_fields(
    model: nn.Module, input_size: Sequence[int], leaves_only: bool = True
) -> tuple[RFTable, list[tuple[nn.Module, RFRow]]]:
    """Run ``model`` on meta tensors, recording the field of every module's output."""
    x = meta_input(input_size)
    tracker = _FieldTracker(x)
    table = RFTable([_row("input", None, x, tracker.get(x))])
    calls: list[tuple[nn.Module, RFRow]] = []
    handles = []
    names = {id(m): n for n, m in model.named_modules()}
    for module in model.modules():
        def hook(mod, inputs, output):
            outs = tensors_in(output)
            field = tracker.get(outs[0]) if outs else None
            if field is None:
                return
            row = _row(names[id(mod)] or "(model)", mod, outs[0], field)
            calls.append((mod, row))
            if mod is model or not leaves_only or not any(mod.children()):
                table.append(row)
        handles.append(module.register_forward_hook(hook))
    try:
        with eval_mode(model), torch.no_grad(), tracker:
            run_on_meta(model, x)
    finally:
        for handle in handles:
            handle.remove()
    # the model's own row comes last, after its layers, as "(model)"
    return table, calls


def receptive_field(layers_or_model: nn.Module | Sequence[nn.Module],
                    input_size: Sequence[int], *, leaves_only: bool = False) -> RFTable:
    """Analytic receptive field (size, jump, start) after every layer.

    ``layers_or_model``: a model, or a list of layers applied in order.
    ``input_size``: ``(N, C, H, W)`` with the batch axis (``(N, C, L)`` and
    ``(N, C, D, H, W)`` work too).
    Returns an ``RFTable``: one ``RFRow`` for the input, then one per module call in
    the order the calls finish (containers after their layers; ``leaves_only=True``
    keeps only the layers), the last one, named ``"(model)"``, the model's output.
    ``table.row(name)`` looks a layer up. Fields are per spatial axis, e.g.
    ``size == (5, 5)``.

    The rules are the ones in the module docstring, applied to the convolutions and
    poolings the model actually calls; upsampling layers raise
    ``NotImplementedError``.
    """
    model = as_model(layers_or_model)
    table, _ = trace_fields(model, input_size, leaves_only)
    return table


def rf_window(
    row: RFRow,
    position: Sequence[int] | None = None,
    input_size: Sequence[int] | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """First and last input pixel, per axis, seen by the unit at ``position``.

    ``position`` defaults to the centre unit ``n // 2`` of the row's map. With
    ``input_size`` the window is clipped to the image, which is what a gradient can
    see: padding extends the field beyond the border.
    """
    spatial = len(row.size)
    counts = row.output_shape[-spatial:]
    if position is None:
        centre = tuple(n // 2 for n in counts)
        position = (0,) * spatial if row.is_global else centre
    field = _Field(row.size, row.jump, row.start)
    lo, hi = field.bounds(position)
    lo_i, hi_i = tuple(math.floor(v) for v in lo), tuple(math.ceil(v) for v in hi)
    if input_size is not None:
        image = full_size(input_size)[-spatial:]
        lo_i = tuple(max(0, v) for v in lo_i)
        hi_i = tuple(min(n - 1, v) for v, n in zip(hi_i, image))
    return lo_i, hi_i
