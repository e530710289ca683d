"""Assertions whose failures tell a student what to fix.

Every check raises ``AssertionError`` with a one-paragraph message that names what was
expected and what came back, e.g. ``expected output of shape (2, 4, 5, 5), got
(2, 4, 7, 7): did you apply the padding?``, or, for values, the first wrong element
with enough digits to see the difference and the tolerance it broke. Nothing prints.
Only numpy and the standard library are used, so these work wherever a notebook's
setup cell imports them, the grader's sandbox included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np


def _shape_of(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return tuple(int(s) for s in shape) if shape is not None else None


def expect_array(got: Any, what: str = "output") -> np.ndarray:
    """Fail unless ``got`` is a numpy array (a common slip: returning None or a list)."""
    if got is None:
        raise AssertionError(f"{what} is None: did you forget to `return` it?")
    if not isinstance(got, np.ndarray):
        raise AssertionError(
            f"expected {what} to be a numpy array, got {type(got).__name__}"
        )
    return got


def expect_shape(got: Any, expected: Iterable[int], hint: str = "",
                 what: str = "output") -> None:
    """Fail unless ``got.shape == expected``; ``hint`` is appended to the message."""
    expected = tuple(int(e) for e in expected)
    shape = _shape_of(expect_array(got, what))
    if shape != expected:
        message = f"expected {what} of shape {expected}, got {shape}"
        raise AssertionError(f"{message}: {hint}" if hint else message)


def describe_difference(got: np.ndarray, expected: np.ndarray, rtol: float,
                        atol: float, what: str = "output") -> str | None:
    """The message for the first element outside the tolerance, or None if all fit.

    Prints ten significant digits, the difference and the tolerance, so that a
    float32 result that is off in the 8th digit says so instead of showing two equal
    six-digit numbers.
    """
    got64 = np.asarray(got, dtype=np.float64)
    bad = ~np.isclose(got64, expected, rtol=rtol, atol=atol, equal_nan=False)
    if not bad.any():
        return None
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    g, e = got64[where], expected[where]
    allowed = atol + rtol * abs(e)
    message = (
        f"{what} is wrong at {int(bad.sum())} of {bad.size} positions; first at index "
        f"{where}: got {g:.10g}, expected {e:.10g} (difference {abs(g - e):.3g}, "
        f"tolerance {allowed:.3g} = atol {atol:g} + rtol {rtol:g} x |expected|)"
    )
    if getattr(got, "dtype", None) == np.float16:
        message += "; float16 has only about 3 significant digits"
    return message


def expect_close(got: Any, expected: Any, hint: str = "", what: str = "output",
                 rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Fail unless ``got`` matches ``expected`` in shape and value (within tolerance).

    The message names the first wrong element, its value and the expected one.
    """
    expected = np.asarray(expected, dtype=np.float64)
    expect_shape(got, expected.shape, what=what)
    message = describe_difference(got, expected, rtol, atol, what)
    if message:
        raise AssertionError(f"{message}. {hint}" if hint else message)


def expect_raises(exception: type[BaseException], fn: Callable, *args: Any,
                  hint: str = "", **kwargs: Any) -> BaseException:
    """Fail unless ``fn(*args, **kwargs)`` raises ``exception``; return the exception."""
    try:
        result = fn(*args, **kwargs)
    except exception as err:
        return err
    call = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    message = (
        f"expected {getattr(fn, '__name__', 'the call')}({call}) to raise "
        f"{exception.__name__}, but it returned {result!r}"
    )
    raise AssertionError(f"{message}: {hint}" if hint else message)
