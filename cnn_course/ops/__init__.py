"""Hand-written numpy ops of the course, forward and backward.

Every layer follows the CS231n contract: ``<layer>_forward(x, ...) -> (out, cache)``
and ``<layer>_backward(dout, cache) -> grads``; the naive (loop) and fast
(vectorised) versions sit side by side with one signature, and the public name is
the fast one. Signal-level helpers (single-channel correlation) live in
``cnn_course.ops.signal``.
"""

from ._validate import output_size
from .signal import (
    convolve1d,
    convolve2d,
    correlate1d,
    correlate1d_fast,
    correlate1d_naive,
    correlate2d,
    correlate2d_fast,
    correlate2d_naive,
)

__all__ = [
    "output_size",
    "correlate1d", "correlate1d_naive", "correlate1d_fast",
    "correlate2d", "correlate2d_naive", "correlate2d_fast",
    "convolve1d", "convolve2d",
]
