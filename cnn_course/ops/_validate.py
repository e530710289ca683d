"""Input checks shared by every op: errors that say what was expected.

Lectures: ``lectures/03_convolution.ipynb`` to ``lectures/07_backprop.ipynb``,
through every op (and :mod:`cnn_course.kernels`, :mod:`cnn_course.similarity`, which
use the public ``check_ndim`` and ``output_size`` of :mod:`cnn_course.ops`).

Every public op calls these before doing any arithmetic, so a student who passes
the wrong thing gets a sentence, not a numpy broadcasting traceback.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

# A size that is the same along both axes (an int) or differs (vertical, horizontal).
IntOrPair = int | tuple[int, int]


def check_ndim(name: str, x: np.ndarray, ndim: int, letters: str) -> np.ndarray:
    """Return ``x`` as an array, or raise if it does not have ``ndim`` dimensions.

    ``letters`` names the axes, e.g. ``"(N, C, H, W)"``.
    """
    x = np.asarray(x)
    if x.ndim != ndim:
        raise ValueError(
            f"expected {name} of shape {letters} ({ndim}-D), got shape {x.shape} "
            f"({x.ndim}-D)"
        )
    return x


def as_pair(name: str, value, *, minimum: int = 0) -> tuple[int, int]:
    """Turn an int or a pair of ints into ``(vertical, horizontal)``.

    Raises ``ValueError`` for anything else and for values below ``minimum``.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(
            f"expected {name} to be an int or a pair of ints, got {value!r}"
        )
    if min(pair) < minimum:
        raise ValueError(f"expected {name} >= {minimum}, got {value!r}")
    return pair


def output_size(size: int, kernel: int, stride: int = 1, pad: int = 0,
                dilation: int = 1, *, axis: str = "") -> int:
    """Output length of a convolution or pooling window along one axis.

    ``M' = (M + 2P - D*(K - 1) - 1) / S + 1``; with ``D = 1`` this is the usual
    ``(M - K + 2P) / S + 1``. Raises ``ValueError`` with the numbers filled in when
    the result is not a positive integer, e.g. ``(7 - 3 + 0)/3 + 1 = 2.33``.
    """
    span = dilation * (kernel - 1) + 1  # the kernel's extent on the input
    where = f" along {axis}" if axis else ""
    if span > size + 2 * pad:
        raise ValueError(
            f"kernel{where} spans {span} pixels but the padded input is only "
            f"{size} + 2*{pad} = {size + 2 * pad}: use a smaller kernel or more padding"
        )
    exact = Fraction(size - span + 2 * pad, stride) + 1
    if exact.denominator != 1:
        k_text = f"{kernel}" if dilation == 1 else f"({dilation}*({kernel} - 1) + 1)"
        raise ValueError(
            f"output size{where} ({size} - {k_text} + 2*{pad})/{stride} + 1 = "
            f"{float(exact):.2f} is not an integer: change stride or padding"
        )
    return int(exact)


def as_int(name: str, value, *, minimum: int = 0) -> int:
    """Return ``value`` as an int, or raise if it is not an int >= ``minimum``.

    The 1-D twin of :func:`as_pair`, for ``conv1d`` and channel windows.
    """
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise ValueError(f"expected {name} to be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"expected {name} >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming all of them."""
    if value not in choices:
        raise ValueError(f"expected {name} to be one of {choices}, got {value!r}")
    return value


def check_shape(name: str, x: np.ndarray, shape: tuple[int, ...],
                letters: str) -> np.ndarray:
    """Return ``x`` as an array, or raise if its shape is not exactly ``shape``.

    Backward passes use it on ``dout``: the upstream gradient must have the shape of
    the forward output. ``letters`` names the axes, e.g. ``"(N, F, H', W')"``.
    """
    x = np.asarray(x)
    if x.shape != tuple(shape):
        raise ValueError(
            f"expected {name} of shape {letters} = {tuple(shape)}, got {x.shape}"
        )
    return x


def check_channels(x_name: str, x_channels: int, w_name: str, w_channels: int) -> None:
    """Raise if the channel count of the input and of the weights disagree."""
    if x_channels != w_channels:
        raise ValueError(
            f"channel mismatch: {x_name} has C = {x_channels} channels but {w_name} "
            f"expects C = {w_channels}"
        )


def check_probability(name: str, p) -> float:
    """Return ``p`` as a float in [0, 1], or raise."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise ValueError(f"expected {name} to be a number in [0, 1], got {p!r}")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"expected {name} in [0, 1], got {p!r}")
    return float(p)


def float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The floating dtype to compute in: float32 stays float32, ints become float64."""
    return np.result_type(*[a.dtype for a in arrays], np.float32)
