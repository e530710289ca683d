"""Cross-correlation and convolution of plain signals: 1-D arrays and 2-D images.

Lecture: ``lectures/03_convolution.ipynb``. In deep learning "convolution" means
cross-correlation, ``(A * w)_i = sum_{i' < K} A(i + i') w(i')``; true convolution
flips the kernel first. These single-channel functions are the building block of the
multi-channel layers in ``cnn_course.ops.conv``.

Each op has a naive loop version (to read) and a fast vectorised version (to use),
with the same signature; the public name is the fast one.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import check_ndim

MODES = ("valid", "same", "full")


def _pad_for_mode(a: np.ndarray, kernel_shape: tuple[int, ...], mode: str) -> np.ndarray:
    """Zero-pad ``a`` so that a valid correlation gives the requested mode's size."""
    if mode not in MODES:
        raise ValueError(f"expected mode to be one of {MODES}, got {mode!r}")
    if mode == "valid":
        widths = [(0, 0)] * a.ndim
    elif mode == "full":
        widths = [(k - 1, k - 1) for k in kernel_shape]
    else:  # same: output as large as the input; the extra pixel goes after, like scipy
        widths = [((k - 1) // 2, k // 2) for k in kernel_shape]
    return np.pad(a, widths)


def _check_fits(a: np.ndarray, w: np.ndarray) -> None:
    if any(k > n for k, n in zip(w.shape, a.shape)):
        raise ValueError(
            f"kernel of shape {w.shape} is larger than the (padded) input of shape "
            f"{a.shape}: use mode='same' or 'full', or a smaller kernel"
        )


def correlate1d_naive(a: np.ndarray, w: np.ndarray, mode: str = "valid") -> np.ndarray:
    """Cross-correlate a signal ``a: (L,)`` with a kernel ``w: (K,)``, with loops.

    Output length: ``L - K + 1`` (valid), ``L`` (same) or ``L + K - 1`` (full).
    """
    a = check_ndim("a", a, 1, "(L,)")
    w = check_ndim("w", w, 1, "(K,)")
    a = _pad_for_mode(a, w.shape, mode)
    _check_fits(a, w)
    K = w.shape[0]
    out = np.zeros(a.shape[0] - K + 1, dtype=np.result_type(a, w, np.float64))
    for i in range(out.shape[0]):
        for k in range(K):
            out[i] += a[i + k] * w[k]
    return out


def correlate1d_fast(a: np.ndarray, w: np.ndarray, mode: str = "valid") -> np.ndarray:
    """Same as :func:`correlate1d_naive`; every window is one row of a matrix."""
    a = check_ndim("a", a, 1, "(L,)")
    w = check_ndim("w", w, 1, "(K,)")
    a = _pad_for_mode(a, w.shape, mode)
    _check_fits(a, w)
    windows = sliding_window_view(a, w.shape[0])  # (L', K), a view: no copy
    return windows @ w.astype(np.result_type(a, w, np.float64))  # (L',)


def correlate2d_naive(a: np.ndarray, w: np.ndarray, mode: str = "valid") -> np.ndarray:
    """Cross-correlate an image ``a: (H, W)`` with a kernel ``w: (HH, WW)``, with loops.

    ``out[i, j] = sum_{p, q} a[i + p, j + q] * w[p, q]``; valid output is
    ``(H - HH + 1, W - WW + 1)``.
    """
    a = check_ndim("a", a, 2, "(H, W)")
    w = check_ndim("w", w, 2, "(HH, WW)")
    a = _pad_for_mode(a, w.shape, mode)
    _check_fits(a, w)
    HH, WW = w.shape
    H_out, W_out = a.shape[0] - HH + 1, a.shape[1] - WW + 1
    out = np.zeros((H_out, W_out), dtype=np.result_type(a, w, np.float64))
    for i in range(H_out):
        for j in range(W_out):
            out[i, j] = np.sum(a[i : i + HH, j : j + WW] * w)
    return out


def correlate2d_fast(a: np.ndarray, w: np.ndarray, mode: str = "valid") -> np.ndarray:
    """Same as :func:`correlate2d_naive`, with every window as a strided view."""
    a = check_ndim("a", a, 2, "(H, W)")
    w = check_ndim("w", w, 2, "(HH, WW)")
    a = _pad_for_mode(a, w.shape, mode)
    _check_fits(a, w)
    windows = sliding_window_view(a, w.shape)  # (H', W', HH, WW), a view
    return np.einsum("ijpq,pq->ij", windows, w)  # (H', W')


def _same_from_full(full: np.ndarray, in_shape: tuple[int, ...],
                    k_shape: tuple[int, ...]) -> np.ndarray:
    """The centre of a full convolution, as numpy's and scipy's "same" take it."""
    return full[tuple(slice((k - 1) // 2, (k - 1) // 2 + n) for n, k in zip(in_shape, k_shape))]


def convolve1d(a: np.ndarray, w: np.ndarray, mode: str = "valid") -> np.ndarray:
    """True convolution: cross-correlation with the kernel flipped."""
    a = check_ndim("a", a, 1, "(L,)")
    w = check_ndim("w", w, 1, "(K,)")
    if mode == "same":  # for even K the flip moves the centre: cut it from "full"
        return _same_from_full(correlate1d_fast(a, w[::-1], "full"), a.shape, w.shape)
    return correlate1d_fast(a, w[::-1], mode)


def convolve2d(a: np.ndarray, w: np.ndarray, mode: str = "valid") -> np.ndarray:
    """True 2-D convolution: cross-correlation with the kernel rotated by 180 degrees."""
    a = check_ndim("a", a, 2, "(H, W)")
    w = check_ndim("w", w, 2, "(HH, WW)")
    if mode == "same":
        return _same_from_full(correlate2d_fast(a, w[::-1, ::-1], "full"), a.shape, w.shape)
    return correlate2d_fast(a, w[::-1, ::-1], mode)


correlate1d = correlate1d_fast
correlate2d = correlate2d_fast
