"""Counting and inspecting networks: parameters, multiply-adds, receptive fields.

Lectures: ``lectures/04_conv_layer.ipynb`` (one layer's cost),
``lectures/05_receptive_field.ipynb`` (receptive fields, analytic and measured),
``lectures/08_lenet.ipynb`` (LeNet-5's table), ``lectures/10_architectures.ipynb``
(every architecture against its paper).

One module per question:

- :mod:`.params`: ``count_params(model)``, total and trainable parameters.
- :mod:`.macs`: ``count_macs(model, input_size)``, multiply-accumulates of the
  convolution and linear layers (the papers' "FLOPs"; ResNet-50 v1: 3.858 G);
  ``flop_counter_macs`` gets the same number from ``FlopCounterMode``;
  ``format_macs``.
- :mod:`.rf_analytic`: ``receptive_field(layers_or_model, input_size)``, size, jump
  and start of the receptive field after every layer; ``rf_window``.
- :mod:`.rf_empirical`: ``empirical_receptive_field``, the field measured from the
  gradient of one output unit.
- :mod:`.summaries`: ``summary(model, input_size)``, torchinfo's layer table plus
  MACs and receptive-field columns.
- :mod:`.arithmetic`: ``conv_cost``, ``inception_branch_cost``, ``gap_saving``, the
  decks' arithmetic.

Counting runs the model on "meta" tensors (shapes without data), so counting VGG16
costs no 15 G multiply-adds and never touches the model's weights.
"""

from .arithmetic import Cost, conv_cost, gap_saving, inception_branch_cost
from .macs import count_macs, flop_counter_macs, format_macs
from .params import ParamCount, count_params
from .rf_analytic import RFRow, RFTable, receptive_field, rf_window
from .rf_empirical import EmpiricalRF, empirical_receptive_field
from .summaries import Summary, SummaryRow, summary

__all__ = [
    "ParamCount", "count_params",
    "count_macs", "flop_counter_macs", "format_macs",
    "RFRow", "RFTable", "receptive_field",
    "EmpiricalRF", "empirical_receptive_field", "rf_window",
    "Summary", "SummaryRow", "summary",
    "Cost", "conv_cost", "inception_branch_cost", "gap_saving",
]
