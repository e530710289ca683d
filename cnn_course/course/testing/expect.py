"""Assertions for assignment test cells: failures that tell a student what to fix.

Visible and hidden tests of every assignment use these instead of bare ``assert`` or
``numpy.testing``, so that a failing cell says *what* was expected and *why it might
differ*, e.g. ``expected shape (2, 4, 5, 5), got (2, 4, 7, 7): did you apply the
padding?``. :func:`forbid_shortcuts` lets hidden tests fail a hand-written part that
calls a library implementation instead.

Every check raises ``AssertionError`` with a one-paragraph message; nothing prints.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from cnn_course.ops import output_size


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


def expect_close(got: Any, expected: Any, hint: str = "", what: str = "output",
                 rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Fail unless ``got`` matches ``expected`` in shape and value.

    The message names the first wrong element, its value and the expected one.
    """
    expected = np.asarray(expected, dtype=np.float64)
    expect_shape(got, expected.shape, what=what)
    got = np.asarray(got, dtype=np.float64)
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=False)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        message = (
            f"{what} is wrong at {int(bad.sum())} of {bad.size} positions; first at "
            f"index {where}: got {got[where]:.6g}, expected {expected[where]:.6g}"
        )
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


def conv_output_shape(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: int = 1,
                      pad: int = 0, dilation: int = 1) -> tuple[int, int, int, int]:
    """``(N, F, H', W')`` of a convolution of ``x: (N, C, H, W)`` with ``w: (F, C, HH, WW)``."""
    N, _, H, W = x_shape
    F, _, HH, WW = w_shape
    return (
        N,
        F,
        output_size(H, HH, stride, pad, dilation, axis="H"),
        output_size(W, WW, stride, pad, dilation, axis="W"),
    )


def expect_conv_shape(out: Any, x_shape: tuple[int, ...], w_shape: tuple[int, ...],
                      stride: int = 1, pad: int = 0, dilation: int = 1) -> None:
    """Check a convolution's output shape and guess which parameter was forgotten."""
    expected = conv_output_shape(x_shape, w_shape, stride, pad, dilation)
    got = _shape_of(expect_array(out))
    if got == expected:
        return
    guesses = {
        "did you apply the padding?": dict(pad=0),
        "did you apply the stride?": dict(stride=1),
        "did you apply the dilation?": dict(dilation=1),
    }
    hint = (
        "the output is (N, F, H', W') with "
        "H' = (H + 2*pad - dilation*(HH - 1) - 1) / stride + 1"
    )
    for question, change in guesses.items():
        params = {**dict(stride=stride, pad=pad, dilation=dilation), **change}
        if params == dict(stride=stride, pad=pad, dilation=dilation):
            continue
        try:
            n, f, h, w = conv_output_shape(x_shape, w_shape, **params)
        except ValueError:
            continue
        if got == (n, f, h, w):
            hint = question
            break
    expect_shape(out, expected, hint=hint)


# Calls that a hand-written numpy part must not make. A module prefix forbids every
# function defined in that module (Python or C), a "module.function" name one function.
# The grader's sandbox (cnn_course.course.grading.verdicts) hides the same libraries.
SHORTCUTS = (
    "torch",
    "scipy",
    "sklearn",
    "skimage",
    "cv2",
    "cnn_course",
    "numpy.lib._arraypad_impl",  # np.pad: the assignments ask for padding by hand
    "numpy._core.numeric.convolve",
    "numpy._core.numeric.correlate",
)


def _called_name(frame, event: str, arg: Any) -> str | None:
    """The dotted name of the function a profiler event is about."""
    if event == "call":
        return f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_qualname}"
    if event == "c_call":
        module = getattr(arg, "__module__", None)
        if module is None:
            owner = getattr(arg, "__self__", None)
            module = getattr(owner, "__name__", None) or type(owner).__module__
        return f"{module}.{getattr(arg, '__qualname__', getattr(arg, '__name__', '?'))}"
    return None


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def forbid_shortcuts(fn: Callable, *args: Any, forbidden: Iterable[str] = SHORTCUTS,
                     part: str = "", **kwargs: Any) -> Any:
    """Call ``fn`` and fail if it (directly or not) calls a forbidden library function.

    Returns ``fn``'s result. The check watches every call made while ``fn`` runs,
    with ``sys.setprofile``, so renaming an import (``from torch import conv2d as c``)
    does not hide it.
    """
    forbidden = tuple(forbidden)
    # cnn_course.course.testing runs the profiler itself; its own frames are not shortcuts.
    allowed = (__name__,)
    hits: list[str] = []

    def is_forbidden(name: str) -> bool:
        return any(_matches(name, prefix) for prefix in forbidden)

    def profiler(frame, event, arg):
        name = _called_name(frame, event, arg)
        if name is None or any(_matches(name, a) for a in allowed):
            return
        caller = frame.f_back if event == "call" else frame
        caller_name = _called_name(caller, "call", None) if caller else ""
        # Report the entry point only, not the library's own calls inside it.
        if is_forbidden(name) and not is_forbidden(caller_name) and name not in hits:
            hits.append(name)

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        result = fn(*args, **kwargs)
    finally:
        sys.setprofile(previous)
    if hits:
        what = part or getattr(fn, "__name__", "this function")
        raise AssertionError(
            f"shortcut used: {what} calls {', '.join(hits[:3])}. This part asks for a "
            "hand-written numpy version; library implementations earn no points here."
        )
    return result
