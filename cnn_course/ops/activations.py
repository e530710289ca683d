"""Element-wise non-linearities, forward and backward: ReLU, sigmoid and tanh.

Lecture: ``lectures/01_fully_connected.ipynb`` (why a network needs a
non-linearity, and why sigmoid's derivative, at most 1/4, makes gradients vanish)
and ``lectures/07_backprop.ipynb``.

Each ``*_forward(x) -> (out, cache)`` and ``*_backward(dout, cache) -> dx``; ``x``
may have any shape.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_shape, float_dtype


def _as_float(x) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(float_dtype(x), copy=False)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``out = max(0, x)``; the cache is ``x``."""
    x = _as_float(x)
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """The gradient passes where ``x > 0`` and stops elsewhere; at exactly 0 it
    stops (the convention torch uses too)."""
    x = cache
    dout = check_shape("dout", dout, x.shape, "the shape of x")
    return np.where(x > 0, dout, 0).astype(float_dtype(x, dout), copy=False)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``out = 1 / (1 + exp(-x))``; the cache is ``out``, which is all the backward
    pass needs."""
    x = _as_float(x)
    # exp of a large positive number overflows: use exp(-|x|) on both sides
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``sigma' = sigma * (1 - sigma)``, at most 1/4 (at ``x = 0``)."""
    out = cache
    dout = check_shape("dout", dout, out.shape, "the shape of x")
    return dout * out * (1 - out)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``out = tanh(x)``; the cache is ``out``."""
    out = np.tanh(_as_float(x))
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``tanh' = 1 - tanh**2``."""
    out = cache
    dout = check_shape("dout", dout, out.shape, "the shape of x")
    return dout * (1 - out * out)
