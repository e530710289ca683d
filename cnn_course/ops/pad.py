"""Padding a batch of images, forward and backward: zeros, reflect, replicate.

Lecture: ``lectures/04_conv_layer.ipynb`` (padding keeps the output size: "same"
convolutions), ``lectures/07_backprop.ipynb`` (the gradient of padding). The
convolutions of :mod:`.conv` pad with :func:`pad_hw` and fold the gradient back with
:func:`unpad_hw`.

``pad`` is an int (all four sides), a pair ``(ph, pw)`` or torch's
``(left, right, top, bottom)``; ``mode`` is ``"zeros"``, ``"reflect"`` or
``"replicate"``, as in ``torch.nn.functional.pad``.
"""

from __future__ import annotations

import numpy as np

from ._validate import IntOrPair, as_pair, check_choice, check_ndim

__all__ = ["PAD_MODES", "pad2d", "pad2d_backward", "pad_hw", "unpad_hw",
           "check_reflect"]

PAD_MODES = ("zeros", "reflect", "replicate")
_NUMPY_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}


def _pad_widths(pad) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` from an int, a pair ``(ph, pw)`` or torch's
    4-tuple ``(left, right, top, bottom)``."""
    if isinstance(pad, (tuple, list)) and len(pad) == 4:
        if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool)
                   for p in pad):
            raise ValueError(f"expected pad to be ints, got {pad!r}")
        if min(pad) < 0:
            raise ValueError(f"expected pad >= 0, got {pad!r}")
        left, right, top, bottom = (int(p) for p in pad)
        return top, bottom, left, right
    ph, pw = as_pair("pad", pad, minimum=0)
    return ph, ph, pw, pw


def check_reflect(widths: tuple[int, int, int, int], H: int, W: int) -> None:
    """Reflection can only mirror what is there: a pad of ``H`` or more rows has no
    row to copy from (numpy would reflect again, torch refuses; we refuse too)."""
    top, bottom, left, right = widths
    if max(top, bottom) >= H or max(left, right) >= W:
        raise ValueError(
            f"reflect padding needs pad < input size: got pad (top, bottom, left, "
            f"right) = {widths} for an input of H = {H}, W = {W}; use a smaller pad "
            f"or pad_mode='replicate'"
        )


def pad_hw(x: np.ndarray, widths: tuple[int, int, int, int], mode: str,
           axes: tuple[int, int]) -> np.ndarray:
    """Pad the two spatial ``axes`` of ``x``; the result is C-contiguous in the axis
    order of ``x`` (so padding a transposed view also makes the layout change)."""
    top, bottom, left, right = widths
    spec = [(0, 0)] * x.ndim
    spec[axes[0]] = (top, bottom)
    spec[axes[1]] = (left, right)
    if mode == "zeros":
        out = np.zeros(
            tuple(n + a + b for n, (a, b) in zip(x.shape, spec)), dtype=x.dtype
        )
        inside = tuple(slice(a, a + n) for n, (a, _) in zip(x.shape, spec))
        out[inside] = x
        return out
    return np.pad(x, spec, mode=_NUMPY_PAD_MODE[mode])


def pad2d(x: np.ndarray, pad: IntOrPair | tuple[int, int, int, int],
          mode: str = "zeros") -> np.ndarray:
    """Pad the two spatial axes of a batch of images.

    Args:
        x: ``(N, C, H, W)``.
        pad: an int (all four sides), a pair ``(ph, pw)`` (rows above and below,
            columns left and right), or torch's ``(left, right, top, bottom)``.
        mode: ``"zeros"`` (fill with 0), ``"reflect"`` (mirror without repeating the
            edge: ``[a, b, c] -> [b, a, b, c, b]``) or ``"replicate"`` (repeat the
            edge: ``[a, b, c] -> [a, a, b, c, c]``), as ``torch.nn.functional.pad``
            with ``constant``, ``reflect`` and ``replicate``.

    Returns:
        ``(N, C, H + top + bottom, W + left + right)``.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    check_choice("mode", mode, PAD_MODES)
    widths = _pad_widths(pad)
    if mode == "reflect":
        check_reflect(widths, x.shape[2], x.shape[3])
    return pad_hw(x, widths, mode, axes=(2, 3))


def _fold_axis(g: np.ndarray, before: int, after: int, mode: str,
               axis: int) -> np.ndarray:
    """Gradient of padding along one axis: each padded copy sends its gradient back
    to the pixel it was copied from."""
    g = np.moveaxis(g, axis, 0)  # (padded length, ...)
    n = g.shape[0] - before - after
    dx = g[before : before + n].copy()  # (length, ...)
    if mode != "zeros":  # zeros are constants: their gradient is simply dropped
        for k in range(before):  # padded position k mirrors pixel -(before - k)
            dx[before - k if mode == "reflect" else 0] += g[k]
        for k in range(after):  # padded position n + k mirrors pixel n + k
            dx[n - 2 - k if mode == "reflect" else n - 1] += g[before + n + k]
    return np.moveaxis(dx, 0, axis)


def unpad_hw(g: np.ndarray, widths: tuple[int, int, int, int], mode: str,
             axes: tuple[int, int]) -> np.ndarray:
    """Gradient of :func:`pad_hw`: fold the border's gradient back, then cut it off."""
    top, bottom, left, right = widths
    g = _fold_axis(g, top, bottom, mode, axes[0])
    return _fold_axis(g, left, right, mode, axes[1])


def pad2d_backward(dout: np.ndarray, pad: IntOrPair | tuple[int, int, int, int],
                   mode: str = "zeros") -> np.ndarray:
    """Gradient of :func:`pad2d`: ``dout: (N, C, H_pad, W_pad) -> dx: (N, C, H, W)``.

    Zero padding drops the border gradient; reflect and replicate padding add it to
    the pixels that were copied into the border.
    """
    dout = check_ndim("dout", dout, 4, "(N, C, H_pad, W_pad)")
    check_choice("mode", mode, PAD_MODES)
    widths = _pad_widths(pad)
    return np.ascontiguousarray(unpad_hw(dout, widths, mode, axes=(2, 3)))
