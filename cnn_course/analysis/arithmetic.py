"""The decks' arithmetic: weights and multiply-adds of one convolution, of an
Inception branch with and without its 1×1 reduction, and what global average
pooling saves.

Lectures: ``lectures/04_conv_layer.ipynb`` (``conv_cost``),
``lectures/10_architectures.ipynb`` (GoogLeNet's 1×1 reductions and its global
average pooling). The tests check the slides' numbers against these functions.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Cost", "conv_cost", "inception_branch_cost", "gap_saving"]


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
