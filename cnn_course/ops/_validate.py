"""Input checks shared by every op: errors that say what was expected.

Every public op calls these before doing any arithmetic, so a student who passes
the wrong thing gets a sentence, not a numpy broadcasting traceback.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


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
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"expected {name} to be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"expected {name} >= {minimum}, got {value!r}")
    return pair


def output_size(size: int, kernel: int, stride: int = 1, pad: int = 0,
                dilation: int = 1, *, axis: str = "") -> int:
    """Output length of a convolution or pooling window along one axis.

    ``M' = (M + 2P - D*(K - 1) - 1) / S + 1``; with ``D = 1`` this is the decks'
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
