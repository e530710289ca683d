"""Gradient checking: central-difference numerical gradients and relative errors.

Lecture: ``lectures/07_backprop.ipynb``. A backward pass written by hand is easy to
get subtly wrong; comparing it with

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)

catches the mistakes. Use float64 and inputs away from kinks (ReLU at 0, ties in
max pooling), where the numerical derivative is meaningless.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray | float], x: np.ndarray,
    dout: np.ndarray | None = None, *, h: float = 1e-6,
) -> np.ndarray:
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    Args:
        f: a function of the array ``x`` (other inputs fixed by a closure); it may
            return a scalar or an array of any shape.
        x: the point, a float array; it is nudged in place and restored.
        dout: the upstream gradient, the shape of ``f(x)``; ``None`` means ones
            (for a scalar ``f``, the plain derivative).
        h: the step.

    Returns:
        An array of the shape of ``x``.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError("expected x to be a float numpy array (it is nudged in place)")
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.asarray(f(x), dtype=np.float64)
        x[i] = old - h
        minus = np.asarray(f(x), dtype=np.float64)
        x[i] = old
        weights = np.ones_like(plus) if dout is None else dout
        grad[i] = np.sum((plus - minus) * weights) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest element-wise relative error ``|a - b| / max(|a| + |b|, 1e-8)``.

    About 1e-7 or less means the gradients agree (in float64); 1e-2 or more means
    a bug. The floor keeps two tiny numbers from looking very different.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"expected arrays of the same shape, got {a.shape} and {b.shape}"
        )
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def _scaled_error(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b|`` relative to the largest entry of either array."""
    if a.size == 0:
        return 0.0
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    return 0.0 if scale == 0 else float(np.max(np.abs(a - b)) / scale)


def gradcheck(
    f: Callable[..., np.ndarray | float], inputs: Sequence[np.ndarray],
    grads: Sequence[np.ndarray | None], dout: np.ndarray | None = None, *,
    h: float = 1e-6, tol: float = 1e-6,
) -> float:
    """Compare analytic gradients with numerical ones; raise if they disagree.

    Args:
        f: ``f(*inputs)``, scalar- or array-valued.
        inputs: float64 arrays, nudged in place one element at a time.
        grads: the analytic gradient of ``sum(f(*inputs) * dout)`` for every input
            (``None`` to skip one).
        dout: the upstream gradient; ``None`` means ones.
        h: the finite-difference step.
        tol: the largest acceptable error, ``max |analytic - numeric|`` divided by
            the largest magnitude of either gradient. (Relative to the largest
            entry rather than element by element: an entry that should be 0 but
            comes out as 1e-11 from rounding is not a bug.)

    Returns:
        The worst error over all inputs.

    Raises:
        AssertionError: naming the first input whose gradient is off.
    """
    if len(inputs) != len(grads):
        raise ValueError(f"expected one gradient per input, got {len(grads)} for "
                         f"{len(inputs)} inputs")
    worst = 0.0
    for k, (x, analytic) in enumerate(zip(inputs, grads)):
        if analytic is None:
            continue

        def f_of_x(_x, k=k):
            return f(*inputs)  # inputs[k] is x itself, nudged in place

        numeric = numerical_gradient(f_of_x, x, dout, h=h)
        if np.shape(analytic) != numeric.shape:
            raise ValueError(f"gradient {k} has shape {np.shape(analytic)}, input {k} "
                             f"has shape {numeric.shape}")
        error = _scaled_error(np.asarray(analytic, dtype=np.float64), numeric)
        if error > tol:
            raise AssertionError(
                f"gradient of input {k} is off: relative error {error:.3g} > {tol:g}"
            )
        worst = max(worst, error)
    return worst
