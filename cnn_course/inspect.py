"""Counting and inspecting networks: parameters, multiply-adds, receptive fields.

Lecture: ``lectures/10_architectures.ipynb`` (receptive fields first appear in the
lecture on the convolution layer, LeNet's table in ``lectures/08_lenet.ipynb``).

- ``count_params(model)``: total and trainable parameters.
- ``count_macs(model, input_size)``: multiply-accumulates of the convolution and
  linear layers only, the convention behind the papers' "FLOPs" (ResNet-50 v1:
  3.858 G). ``flop_counter_macs`` gets the same number independently from
  ``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per MAC).
- ``receptive_field(layers_or_model, input_size)``: size, jump and start of the
  receptive field after every layer, from kernel, stride, padding and dilation.
  ``empirical_receptive_field`` measures it instead, from the gradient of one
  output unit with respect to the input.
- ``summary(model, input_size)``: torchinfo's layer table plus MACs and receptive
  field columns.
- ``conv_cost``, ``inception_branch_cost``, ``gap_saving``: the decks' arithmetic.

Nothing here runs a real forward pass to count: the model is called on "meta"
tensors (shapes without data) through ``torch.func.functional_call``, so counting
VGG16 costs no 15 G multiply-adds and does not touch the model's own weights.

Receptive-field conventions. Positions are pixel indices of the input, starting at
0. After a layer, ``size`` is how many input pixels one output unit sees, ``jump``
is the distance in input pixels between neighbouring output units, and ``start``
is the centre of the field of the first output unit (it can be negative, or a
half pixel, where padding or even kernels shift the grid). Through a layer with
kernel ``k``, stride ``s``, padding ``p`` and dilation ``d``::

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

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "ParamCount", "count_params",
    "count_macs", "flop_counter_macs", "format_macs",
    "RFRow", "RFTable", "receptive_field",
    "EmpiricalRF", "empirical_receptive_field", "rf_window",
    "Summary", "summary",
    "Cost", "conv_cost", "inception_branch_cost", "gap_saving",
]


# --------------------------------------------------------------------------- params

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


# --------------------------------------------------------------- running on "meta"

def _full_size(input_size: Sequence[int]) -> tuple[int, ...]:
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
def _eval_mode(model: nn.Module) -> Iterator[None]:
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


def _run(model: nn.Module, x: torch.Tensor) -> Any:
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


def _meta_input(input_size: Sequence[int]) -> torch.Tensor:
    return torch.empty(_full_size(input_size), device="meta")


# ------------------------------------------------------------------------ MACs

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
    with _eval_mode(model), _mac_hooks(model, record), torch.no_grad():
        _run(model, _meta_input(input_size))
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
    with _eval_mode(model), torch.no_grad(), counter:
        _run(model, _meta_input(input_size))
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


# ------------------------------------------------------------ receptive field

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


def _as_tuple(value: Any, n: int, default: Any = None) -> tuple:
    if value is None:
        value = default
    if isinstance(value, (int, float)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    return value * n if len(value) == 1 else value


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def _op_name(func: Any) -> str:
    name = getattr(func, "__name__", "") or ""
    if name.startswith("__") and name.endswith("__"):
        return name.strip("_")  # __getitem__ -> getitem, __iadd__ -> iadd
    return name.strip("_")  # _max_pool2d -> max_pool2d, relu_ -> relu


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
        inputs = [t for t in tree_flatten((args, kwargs))[0] if self.get(t) is not None]
        if inputs:
            outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
            for y in outputs:
                self.set(y, self._propagate(_op_name(func), args, kwargs, inputs, y))
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
            stride = _as_tuple(_arg(args, kwargs, 3, "stride", 1), d)
            dilation = _as_tuple(_arg(args, kwargs, 5, "dilation", 1), d)
            padding = _arg(args, kwargs, 4, "padding", 0)
            if padding == "valid":
                padding = 0
            if padding == "same":  # torch puts the odd pixel on the right
                pad_left = tuple(dl * (k - 1) // 2 for k, dl in zip(kernel, dilation))
            else:
                pad_left = _as_tuple(padding, d)
            return field.window(kernel, stride, pad_left, dilation)
        if name.startswith(("max_pool", "avg_pool", "lp_pool")):
            # lp_pool(x, p, kernel_size, stride) has one more argument in front
            offset = 1 if name.startswith("lp_pool") else 0
            kernel = _as_tuple(_arg(args, kwargs, 1 + offset, "kernel_size"), d)
            stride = _as_tuple(_arg(args, kwargs, 2 + offset, "stride"), d, kernel)
            padding = 0 if offset else _arg(args, kwargs, 3, "padding", 0)
            dilation = 1
            if name.startswith("max"):
                dilation = _arg(args, kwargs, 4, "dilation", 1)
            return field.window(kernel, stride, _as_tuple(padding, d),
                                _as_tuple(dilation, d))
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
            dim = _arg(args, kwargs, 1, "dim", 0) % y.ndim
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
                f"{_fmt_axes(r.size):>9} {_fmt_axes(r.jump):>7} {_fmt_axes(r.start):>9}"
            )
        return "\n".join(lines)


def _fmt_axes(values: Sequence[int | float]) -> str:
    if len(set(values)) == 1:
        return f"{values[0]:g}"
    return "×".join(f"{v:g}" for v in values)


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


def _as_model(layers_or_model: nn.Module | Sequence[nn.Module]) -> nn.Module:
    if isinstance(layers_or_model, nn.Module):
        return layers_or_model
    return nn.Sequential(*layers_or_model)


def _trace_fields(
    model: nn.Module, input_size: Sequence[int], leaves_only: bool = True
) -> tuple[RFTable, list[tuple[nn.Module, RFRow]]]:
    """Run ``model`` on meta tensors, recording the field of every module's output."""
    x = _meta_input(input_size)
    tracker = _FieldTracker(x)
    table = RFTable([_row("input", None, x, tracker.get(x))])
    calls: list[tuple[nn.Module, RFRow]] = []
    handles = []
    names = {id(m): n for n, m in model.named_modules()}
    for module in model.modules():
        def hook(mod, inputs, output):
            outs = [t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)]
            field = tracker.get(outs[0]) if outs else None
            if field is None:
                return
            row = _row(names[id(mod)] or "(model)", mod, outs[0], field)
            calls.append((mod, row))
            if mod is model or not leaves_only or not any(mod.children()):
                table.append(row)
        handles.append(module.register_forward_hook(hook))
    try:
        with _eval_mode(model), torch.no_grad(), tracker:
            _run(model, x)
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
    model = _as_model(layers_or_model)
    table, _ = _trace_fields(model, input_size, leaves_only)
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
        image = _full_size(input_size)[-spatial:]
        lo_i = tuple(max(0, v) for v in lo_i)
        hi_i = tuple(min(n - 1, v) for v, n in zip(hi_i, image))
    return lo_i, hi_i


# ----------------------------------------------------- empirical receptive field

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
        name = _op_name(func)
        if name in _ACTIVATIONS:
            x = args[0]
            inplace = (getattr(func, "__name__", "").endswith("_")
                       or kwargs.get("inplace", False))
            return x if inplace else x.clone()
        if name.startswith("max_pool") and not name.endswith("with_indices"):
            if _arg(args, kwargs, 6, "return_indices", False):
                raise NotImplementedError(
                    "linearising a max pooling that returns indices")
            if set(_as_tuple(_arg(args, kwargs, 4, "dilation", 1), 1)) != {1}:
                raise NotImplementedError("linearising a dilated max pooling")
            x = args[0]
            pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[x.ndim - 2]
            kernel = _arg(args, kwargs, 1, "kernel_size")
            stride = _arg(args, kwargs, 2, "stride") or kernel
            return pool(x, kernel, stride, _arg(args, kwargs, 3, "padding", 0),
                        ceil_mode=_arg(args, kwargs, 5, "ceil_mode", False))
        if name.startswith("adaptive_max_pool") and not name.endswith("with_indices"):
            if _arg(args, kwargs, 2, "return_indices", False):
                raise NotImplementedError(
                    "linearising a max pooling that returns indices")
            x = args[0]
            pool = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d,
                    3: F.adaptive_avg_pool3d}[x.ndim - 2]
            return pool(x, _arg(args, kwargs, 1, "output_size"))
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
    model = _as_model(layers_or_model)
    size = _full_size(input_size)
    if any(p.is_meta for p in model.parameters()):
        raise ValueError(
            "empirical_receptive_field needs real weights, and this model is on the "
            "meta device: build it normally (or call .to_empty() and re-initialise)"
        )
    generator = torch.Generator().manual_seed(seed)
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
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
        with _eval_mode(model), _frozen(model):
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


# -------------------------------------------------------------------- summary

@dataclass(frozen=True)
class SummaryRow:
    name: str
    layer: str
    depth: int
    output_shape: tuple[int, ...]
    params: int
    macs: int
    rf: RFRow | None
    recursive: bool = False


class Summary:
    """Per-layer table: output shape, parameters, MACs and receptive field."""

    def __init__(self, rows: list[SummaryRow], params: ParamCount, macs: int,
                 input_size: tuple[int, ...]) -> None:
        self.rows = rows
        self.params = params
        self.macs = macs
        self.input_size = input_size

    def row(self, name: str) -> SummaryRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no layer named {name!r}")

    def __str__(self) -> str:
        header = (f"{'Layer (type)':<34} {'Output shape':<20} {'Params':>12} "
                  f"{'MACs':>15} {'RF':>6} {'jump':>5} {'start':>6}")
        rule = "=" * len(header)
        lines = [rule, header, rule]
        for r in self.rows:
            label = "  " * r.depth + f"{r.name.split('.')[-1] or 'model'} ({r.layer})"
            params = f"{r.params:,}" if r.params else "--"
            if r.recursive:
                params = "(recursive)"
            macs = f"{r.macs:,}" if r.macs else "--"
            if r.rf is None:
                rf = jump = start = "--"
            elif r.rf.is_global:
                rf, jump, start = "all", "--", "--"
            else:
                rf, jump, start = (_fmt_axes(r.rf.size), _fmt_axes(r.rf.jump),
                                   _fmt_axes(r.rf.start))
            shape = "×".join(str(s) for s in r.output_shape)
            lines.append(f"{label:<34.34} {shape:<20} {params:>12} {macs:>15} "
                         f"{rf:>6} {jump:>5} {start:>6}")
        lines += [
            rule,
            f"Input: {self.input_size}",
            f"Total params: {self.params.total:,} "
            f"(trainable {self.params.trainable:,})",
            f"Multiply-adds (conv + linear): {self.macs:,} ({format_macs(self.macs)})",
            rule,
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def summary(model: nn.Module, input_size: Sequence[int], depth: int = 3) -> Summary:
    """torchinfo's layer table with MACs (conv + linear only) and receptive fields.

    torchinfo supplies the layers, their nesting, output shapes and parameters; it
    counts bias additions (and every layer) in its own "Mult-Adds", so the MACs
    column and the receptive field columns are added here. torchinfo runs one real
    forward pass of ``input_size`` (use N = 1) under ``torch.no_grad()``.
    """
    import torchinfo

    size = _full_size(input_size)
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    with _eval_mode(model):
        stats = torchinfo.summary(model, input_size=size, depth=depth, device=device,
                                  verbose=0, col_names=("output_size", "num_params"))
    # per call: the fields (meta pass) and the MACs inside the call
    _, calls = _trace_fields(model, size, leaves_only=False)
    macs_per_call = _macs_per_call(model, size)
    fields_by_module: dict[int, list[RFRow]] = {}
    for module, row in calls:
        fields_by_module.setdefault(id(module), []).append(row)
    used: dict[int, int] = {}
    rows = []
    names = {id(m): n for n, m in model.named_modules()}
    for info in stats.summary_list:
        if info.depth > depth:
            continue
        key = id(info.module)
        k = used.get(key, 0)
        used[key] = k + 1
        fields = fields_by_module.get(key, [])
        macs = macs_per_call.get(key, [])
        rows.append(SummaryRow(
            name=names.get(key, info.var_name),
            layer=info.class_name,
            depth=info.depth,
            output_shape=tuple(info.output_size),
            params=info.num_params,
            macs=macs[k] if k < len(macs) else 0,
            rf=fields[k] if k < len(fields) else None,
            recursive=info.is_recursive,
        ))
    return Summary(rows, count_params(model), count_macs(model, size), size)


def _macs_per_call(model: nn.Module, size: tuple[int, ...]) -> dict[int, list[int]]:
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
        with _eval_mode(model), torch.no_grad():
            _run(model, _meta_input(size))
    finally:
        for handle in handles:
            handle.remove()
    return result


# ------------------------------------------------------------- decks' arithmetic

class Cost(NamedTuple):
    weights: int
    macs: int

    def __add__(self, other: Cost) -> Cost:  # type: ignore[override]
        return Cost(self.weights + other.weights, self.macs + other.macs)


def conv_cost(height: int, width: int, in_channels: int, out_channels: int,
              kernel_size: int, bias: bool = False) -> Cost:
    """Weights and multiply-adds of a convolution whose output is ``height × width``.

    weights = K·K·C_in·C_out (+ C_out biases); MACs = H'·W'·C_out · K·K·C_in: each
    of the H'·W'·C_out outputs is one dot product of length K·K·C_in.
    """
    per_output = kernel_size * kernel_size * in_channels
    weights = per_output * out_channels + (out_channels if bias else 0)
    return Cost(weights, height * width * out_channels * per_output)


def inception_branch_cost(height: int = 14, width: int = 14, in_channels: int = 480,
                          out_channels: int = 48, kernel_size: int = 5,
                          reduce_channels: int | None = None) -> Cost:
    """Cost of an Inception branch, optionally behind a 1×1 reduction.

    The decks' example, 5×5×48 on 14×14×480: 576,000 weights and 112.9 M MACs;
    behind a 16-channel 1×1: 16·480 + 25·16·48 = 26,880 weights and
    14·14·16·480 + 14·14·48·25·16 = 1.5 M + 3.8 M = 5.27 M MACs.
    """
    if reduce_channels is None:
        return conv_cost(height, width, in_channels, out_channels, kernel_size)
    reduce = conv_cost(height, width, in_channels, reduce_channels, 1)
    return reduce + conv_cost(height, width, reduce_channels, out_channels, kernel_size)


def gap_saving(height: int = 7, width: int = 7, channels: int = 1024,
               units: int = 1024) -> int:
    """Weights of a dense layer from a ``channels × height × width`` map to ``units``,
    all of which global average pooling saves (it has none):
    7·7·1024·1024 = 51,380,224 for GoogLeNet."""
    return height * width * channels * units
