"""A network's table: every layer's output shape, parameters, MACs and receptive field.

Lectures: ``lectures/08_lenet.ipynb`` (the deck's LeNet-5 table),
``lectures/10_architectures.ipynb`` (one table per architecture).

``summary(model, input_size)`` is torchinfo's layer table with two more kinds of
column: multiply-adds of the convolution and linear layers (:mod:`.macs`) and the
receptive field after every layer (:mod:`.rf_analytic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from ..device import model_device
from ._common import eval_mode, fmt_axes, full_size
from .macs import count_macs, format_macs, macs_per_call
from .params import ParamCount, count_params
from .rf_analytic import RFRow, trace_fields

__all__ = ["Summary", "SummaryRow", "summary"]


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
                rf, jump, start = (fmt_axes(r.rf.size), fmt_axes(r.rf.jump),
                                   fmt_axes(r.rf.start))
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

    size = full_size(input_size)
    device = model_device(model)
    with eval_mode(model):
        stats = torchinfo.summary(model, input_size=size, depth=depth, device=device,
                                  verbose=0, col_names=("output_size", "num_params"))
    # per call: the fields (meta pass) and the MACs inside the call
    _, calls = trace_fields(model, size, leaves_only=False)
    macs_by_call = macs_per_call(model, size)
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
        macs = macs_by_call.get(key, [])
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
