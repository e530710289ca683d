"""Convolution layers, forward and backward: conv2d, conv1d, transposed conv2d.

Lecture: ``lectures/04_conv_layer.ipynb`` (padding, stride, dilation, output size),
``lectures/07_backprop.ipynb`` (the backward pass) and
``lectures/12_beyond_classification.ipynb`` (transposed convolution). The padding
itself (``pad_mode`` zeros, reflect or replicate) is :mod:`.pad`.

Shapes use fixed letters: ``x: (N, C, H, W)``, ``w: (F, C, HH, WW)``, ``b: (F,)``,
``out: (N, F, H', W')``. Along each axis the output size is

    H' = (H + 2*pad - dilation*(HH - 1) - 1) / stride + 1

which for ``dilation = 1`` is the decks' ``(H - HH + 2*pad) / stride + 1``. A size
that is not a whole number is an error (``torch`` would silently drop the last rows).

As in deep learning generally, "convolution" here is cross-correlation:

    out[n, f, i, j] = b[f] + sum_{c,p,q} xpad[n, c, i*s + p*d, j*s + q*d] w[f, c, p, q]

with ``s`` the stride, ``d`` the dilation and ``xpad`` the padded input.

Every layer has a naive version (four nested loops, to read) and a fast version (to
use) with the same signature and the same cache; the public name is the fast one.
The fast versions work in channels-last layout ``(N, H, W, C)``, where one receptive
field is a few long contiguous runs of memory, and turn every convolution into
matrix multiplies over blocks of images small enough to stay in the CPU cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import (
    IntOrPair,
    as_int,
    as_pair,
    check_channels,
    check_choice,
    check_ndim,
    check_shape,
    float_dtype,
    output_size,
)
from .pad import PAD_MODES, check_reflect, pad_hw, unpad_hw


# The fast paths work on blocks of images small enough for the CPU cache: the im2col
# matrix of a block holds about _BLOCK_ELEMENTS numbers (256 KiB of float32), the
# widened input gradient of col2im about four times as many (its additions have
# more overhead per block). Tuned with benchmarks/bench_conv.py.
_BLOCK_ELEMENTS = 1 << 16
_COL2IM_BLOCK_ELEMENTS = 1 << 18


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class ConvGeometry:
    """Every size of one convolution, checked once: the letters of the docstrings."""

    N: int
    C: int
    H: int
    W: int
    F: int
    HH: int
    WW: int
    stride: tuple[int, int]
    pad: tuple[int, int]
    dilation: tuple[int, int]
    H_out: int
    W_out: int

    @property
    def widths(self) -> tuple[int, int, int, int]:
        ph, pw = self.pad
        return ph, ph, pw, pw

    @property
    def K(self) -> int:
        """Length of one flattened receptive field: ``HH * WW * C``."""
        return self.HH * self.WW * self.C


def _conv_geometry(x: np.ndarray, w: np.ndarray, stride, pad, dilation,
                   pad_mode: str = "zeros", axes: tuple[str, str] = ("H", "W"),
                   ) -> ConvGeometry:
    """Validate a conv2d call and work out its sizes (raises ``ValueError``)."""
    N, C, H, W = x.shape
    F, C_w, HH, WW = w.shape
    check_channels("x", C, "w", C_w)
    sh, sw = as_pair("stride", stride, minimum=1)
    ph, pw = as_pair("pad", pad, minimum=0)
    dh, dw = as_pair("dilation", dilation, minimum=1)
    check_choice("pad_mode", pad_mode, PAD_MODES)
    if pad_mode == "reflect":
        check_reflect((ph, ph, pw, pw), H, W)
    H_out = output_size(H, HH, sh, ph, dh, axis=axes[0])
    W_out = output_size(W, WW, sw, pw, dw, axis=axes[1])
    return ConvGeometry(N, C, H, W, F, HH, WW, (sh, sw), (ph, pw), (dh, dw),
                        H_out, W_out)


def _check_bias(b: np.ndarray, F: int) -> np.ndarray:
    return check_shape("b", b, (F,), "(F,)")


class ConvCache(NamedTuple):
    """What conv2d's backward needs: the inputs and the settings."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: tuple[int, int]
    pad: tuple[int, int]
    dilation: tuple[int, int]
    pad_mode: str


# --------------------------------------------------------------------------- conv2d


def conv2d_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: IntOrPair = 1,
    pad: IntOrPair = 0, dilation: IntOrPair = 1, pad_mode: str = "zeros",
) -> tuple[np.ndarray, ConvCache]:
    """2-D convolution (cross-correlation) with explicit loops.

    Args:
        x: input ``(N, C, H, W)``.
        w: filters ``(F, C, HH, WW)``.
        b: biases ``(F,)``.
        stride, pad, dilation: an int or a pair ``(vertical, horizontal)``; stride
            and dilation >= 1, pad >= 0.
        pad_mode: ``"zeros"``, ``"reflect"`` or ``"replicate"``.

    Returns:
        ``out: (N, F, H', W')`` with ``H' = (H + 2*pad - dilation*(HH - 1) - 1) /
        stride + 1`` (likewise ``W'``), and the cache for the backward pass.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    w = check_ndim("w", w, 4, "(F, C, HH, WW)")
    geo = _conv_geometry(x, w, stride, pad, dilation, pad_mode)
    b = _check_bias(b, geo.F)
    dtype = float_dtype(x, w, b)
    xp = pad_hw(x.astype(dtype, copy=False), geo.widths, pad_mode, axes=(2, 3))
    (sh, sw), (dil_h, dil_w) = geo.stride, geo.dilation
    span_h, span_w = dil_h * (geo.HH - 1) + 1, dil_w * (geo.WW - 1) + 1
    out = np.zeros((geo.N, geo.F, geo.H_out, geo.W_out), dtype=dtype)
    for n in range(geo.N):
        for f in range(geo.F):
            for i in range(geo.H_out):
                for j in range(geo.W_out):
                    top, left = i * sh, j * sw
                    # the receptive field: every dilation-th pixel of the span
                    field = xp[n, :, top : top + span_h : dil_h,
                               left : left + span_w : dil_w]  # (C, HH, WW)
                    out[n, f, i, j] = np.sum(field * w[f]) + b[f]
    cache = ConvCache(x, w, b, geo.stride, geo.pad, geo.dilation, pad_mode)
    return out, cache


def conv2d_backward_naive(
    dout: np.ndarray, cache: ConvCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv2d_forward_naive`, with the same loops.

    Each output ``out[n, f, i, j]`` was ``sum(field * w[f]) + b[f]``, so its
    gradient flows to the field (times ``w[f]``), to ``w[f]`` (times the field) and
    to ``b[f]``.

    Args:
        dout: upstream gradient ``(N, F, H', W')``.
        cache: from either conv2d forward.

    Returns:
        ``dx: (N, C, H, W)``, ``dw: (F, C, HH, WW)``, ``db: (F,)``.
    """
    x, w, b, stride, pad, dilation, pad_mode = cache
    geo = _conv_geometry(x, w, stride, pad, dilation, pad_mode)
    dout = check_shape("dout", dout, (geo.N, geo.F, geo.H_out, geo.W_out),
                       "(N, F, H', W')")
    dtype = float_dtype(x, w, b, dout)
    xp = pad_hw(x.astype(dtype, copy=False), geo.widths, pad_mode, axes=(2, 3))
    (sh, sw), (dil_h, dil_w) = geo.stride, geo.dilation
    span_h, span_w = dil_h * (geo.HH - 1) + 1, dil_w * (geo.WW - 1) + 1
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape, dtype=dtype)
    for n in range(geo.N):
        for f in range(geo.F):
            for i in range(geo.H_out):
                for j in range(geo.W_out):
                    top, left = i * sh, j * sw
                    rows = slice(top, top + span_h, dil_h)
                    cols = slice(left, left + span_w, dil_w)
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
                    dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
    db = dout.sum(axis=(0, 2, 3)).astype(dtype)
    dx = np.ascontiguousarray(unpad_hw(dxp, geo.widths, pad_mode, axes=(2, 3)))
    return dx, dw, db


def _fields(xp_nhwc: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """Every receptive field of a padded channels-last batch, as a view (no copy).

    Returns ``(n, H', W', HH, WW, C)``.
    """
    (sh, sw), (dil_h, dil_w) = geo.stride, geo.dilation
    span_h, span_w = dil_h * (geo.HH - 1) + 1, dil_w * (geo.WW - 1) + 1
    windows = sliding_window_view(xp_nhwc, (span_h, span_w), axis=(1, 2))
    # windows: (n, Hp - span_h + 1, Wp - span_w + 1, C, span_h, span_w)
    fields = windows[:, ::sh, ::sw, :, ::dil_h, ::dil_w]  # (n, H', W', C, HH, WW)
    return fields.transpose(0, 1, 2, 4, 5, 3)  # (n, H', W', HH, WW, C)


def _block_size(geo: ConvGeometry, per_image: int,
                elements: int | None = None) -> int:
    """Images per block, so that a block holds about ``elements`` numbers
    (default ``_BLOCK_ELEMENTS``), at least one image."""
    elements = _BLOCK_ELEMENTS if elements is None else elements
    return max(1, min(geo.N, elements // max(1, per_image)))


def _im2col_blocks(x: np.ndarray, geo: ConvGeometry,
                   pad_mode: str) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(block, cols)`` for consecutive blocks of images of ``x: (N, C, H, W)``.

    ``cols: (n*H'*W', HH*WW*C)`` holds one receptive field per row (im2col). The
    padded block and ``cols`` live in two buffers allocated once and overwritten by
    the next block, so both stay in the CPU cache; use ``cols`` before asking for
    the next block.
    """
    ph, pw = geo.pad
    P = geo.H_out * geo.W_out
    step = _block_size(geo, P * geo.K)
    # padded and channels-last: one receptive field is HH runs of WW*C numbers
    xp = np.zeros((step, geo.H + 2 * ph, geo.W + 2 * pw, geo.C), dtype=x.dtype)
    fields = _fields(xp, geo)  # (step, H', W', HH, WW, C), a view into xp
    cols = np.empty(fields.shape, dtype=x.dtype)
    for n0 in range(0, geo.N, step):
        block = slice(n0, min(n0 + step, geo.N))
        n = block.stop - block.start
        x_nhwc = x[block].transpose(0, 2, 3, 1)  # (n, H, W, C), a view
        if pad_mode == "zeros":
            xp[:n, ph : ph + geo.H, pw : pw + geo.W] = x_nhwc  # the border stays 0
        else:
            xp[:n] = pad_hw(x_nhwc, geo.widths, pad_mode, axes=(1, 2))
        np.copyto(cols[:n], fields[:n])  # the im2col copy
        yield block, cols[:n].reshape(n * P, geo.K)  # (n*H'*W', HH*WW*C)


def _rows_nhwc(a: np.ndarray, block: slice) -> np.ndarray:
    """Images ``block`` of ``a: (N, F, H', W')`` as a matrix ``(n*H'*W', F)``."""
    a_nhwc = a[block].transpose(0, 2, 3, 1)  # (n, H', W', F), a view
    return a_nhwc.reshape(-1, a.shape[1])  # (n*H'*W', F), a copy


def _im2col_matmul(x: np.ndarray, w_mat: np.ndarray, geo: ConvGeometry,
                   pad_mode: str, bias: np.ndarray | None = None) -> np.ndarray:
    """Convolve ``x: (N, C, H, W)`` with ``w_mat: (HH*WW*C, F)``: ``(N, F, H', W')``.

    The trick: copy the receptive fields of a block of images into the rows of a
    matrix (im2col); the convolution of the whole block is then one matrix
    multiply.
    """
    F = w_mat.shape[1]
    P = geo.H_out * geo.W_out
    out = np.empty((geo.N, F, P), dtype=w_mat.dtype)
    for block, cols in _im2col_blocks(x, geo, pad_mode):
        result = cols @ w_mat  # (n*H'*W', F)
        result = result.reshape(-1, P, F).transpose(0, 2, 1)  # (n, F, H'*W'), a view
        out[block] = result  # back to channels-first while the block is in cache
    if bias is not None:
        out += bias[:, None]  # in place, contiguous: cheaper than inside the loop
    return out.reshape(geo.N, F, geo.H_out, geo.W_out)  # (N, F, H', W')


def _weight_grad(x: np.ndarray, dout: np.ndarray, geo: ConvGeometry,
                 pad_mode: str) -> np.ndarray:
    """``dw`` as a matrix ``(HH*WW*C, F)``: the fields transposed times ``dout``.

    ``x: (N, C, H, W)``, ``dout: (N, F, H', W')``. Correlating the input with the
    output gradient gives ``dw``; with im2col it is one matrix multiply per block.
    """
    dw_mat = np.zeros((geo.K, dout.shape[1]), dtype=dout.dtype)
    for block, cols in _im2col_blocks(x, geo, pad_mode):
        dw_mat += cols.T @ _rows_nhwc(dout, block)  # (HH*WW*C, F)
    return dw_mat


def _input_grad(dout: np.ndarray, w_mat: np.ndarray, geo: ConvGeometry,
                pad_mode: str, bias: np.ndarray | None = None) -> np.ndarray:
    """Gradient of the input, ``(N, C, H, W)``, from ``dout: (N, F, H', W')`` (col2im).

    ``w_mat: (HH*WW*C, F)``. Each output gradient times the kernel is the gradient
    of a whole receptive field, and tap ``(p, q)`` of every field lands on one
    strided grid of input pixels. The trick that makes adding the fields back fast:
    lay each channel of the padded input gradient out as one long row (``pitch``
    numbers per image row), and widen every output row to ``wide_W = sh*pitch/sw``
    positions (the extra ones hold zeros). Output position ``r = i*wide_W + j`` then
    lands at ``p*dil_h*pitch + q*dil_w + sw*r``: for every tap one strided slice of
    the long row, so ``HH*WW`` long additions replace a scatter per pixel. Finally
    the padding's gradient is folded back (or dropped, for zeros).
    """
    F = w_mat.shape[1]
    C = w_mat.shape[0] // (geo.HH * geo.WW)
    (sh, sw), (dil_h, dil_w) = geo.stride, geo.dilation
    ph, pw = geo.pad
    Hp, Wp = geo.H + 2 * ph, geo.W + 2 * pw
    pitch = -(-Wp // sw) * sw  # Wp rounded up to a multiple of sw
    wide_W = sh * pitch // sw  # so that sw * wide_W = sh * pitch
    wide_len = geo.H_out * wide_W  # widened output positions per image
    last_tap = (geo.HH - 1) * dil_h * pitch + (geo.WW - 1) * dil_w
    length = max(Hp * pitch, last_tap + sw * (wide_len - 1) + 1)
    dx = np.empty((geo.N, C, geo.H, geo.W), dtype=w_mat.dtype)
    step = _block_size(geo, geo.HH * geo.WW * C * wide_len, _COL2IM_BLOCK_ELEMENTS)
    for n0 in range(0, geo.N, step):
        block = slice(n0, min(n0 + step, geo.N))
        n = block.stop - block.start
        wide = np.zeros((n, F, geo.H_out, wide_W), dtype=w_mat.dtype)
        wide[..., : geo.W_out] = dout[block]  # (n, F, H', wide_W), zeros on the right
        fields = np.matmul(w_mat, wide.reshape(n, F, wide_len))  # (n, HH*WW*C, len)
        fields = fields.reshape(n, geo.HH, geo.WW, C, wide_len)  # (n, HH, WW, C, len)
        rows = np.zeros((n, C, length), dtype=w_mat.dtype)
        for p in range(geo.HH):
            for q in range(geo.WW):
                start = p * dil_h * pitch + q * dil_w
                rows[:, :, start : start + sw * wide_len : sw] += fields[:, p, q]
        dxp = rows[:, :, : Hp * pitch].reshape(n, C, Hp, pitch)[..., :Wp]  # (n,C,Hp,Wp)
        dx[block] = unpad_hw(dxp, geo.widths, pad_mode, axes=(2, 3))  # (n, C, H, W)
    if bias is not None:
        dx += bias[:, None, None]
    return dx


def _w_matrix(w: np.ndarray) -> np.ndarray:
    """``(F, C, HH, WW)`` filters as a ``(HH*WW*C, F)`` matrix, matching the fields."""
    F = w.shape[0]
    w_taps = np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # (HH, WW, C, F)
    return w_taps.reshape(-1, F)  # (HH*WW*C, F)


def conv2d_forward_fast(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: IntOrPair = 1,
    pad: IntOrPair = 0, dilation: IntOrPair = 1, pad_mode: str = "zeros",
) -> tuple[np.ndarray, ConvCache]:
    """Same as :func:`conv2d_forward_naive`: every convolution is one big matrix
    multiply (im2col), done block by block of images.

    ``x: (N, C, H, W)``, ``w: (F, C, HH, WW)``, ``b: (F,)`` ->
    ``out: (N, F, H', W')``, ``H' = (H + 2*pad - dilation*(HH - 1) - 1)/stride + 1``.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    w = check_ndim("w", w, 4, "(F, C, HH, WW)")
    geo = _conv_geometry(x, w, stride, pad, dilation, pad_mode)
    b = _check_bias(b, geo.F)
    dtype = float_dtype(x, w, b)
    w_mat = _w_matrix(w.astype(dtype, copy=False))  # (HH*WW*C, F)
    out = _im2col_matmul(x.astype(dtype, copy=False), w_mat, geo, pad_mode,
                         bias=b.astype(dtype, copy=False))  # (N, F, H', W')
    cache = ConvCache(x, w, b, geo.stride, geo.pad, geo.dilation, pad_mode)
    return out, cache


def conv2d_backward_fast(
    dout: np.ndarray, cache: ConvCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same as :func:`conv2d_backward_naive`, with matrix multiplies.

    ``dw`` correlates the input with ``dout`` (im2col again), ``dx`` multiplies
    ``dout`` by the filters and adds each receptive field back where it came from
    (col2im), ``db`` sums ``dout``. Returns ``dx: (N, C, H, W)``,
    ``dw: (F, C, HH, WW)``, ``db: (F,)``.
    """
    x, w, b, stride, pad, dilation, pad_mode = cache
    geo = _conv_geometry(x, w, stride, pad, dilation, pad_mode)
    dout = check_shape("dout", dout, (geo.N, geo.F, geo.H_out, geo.W_out),
                       "(N, F, H', W')")
    dtype = float_dtype(x, w, b, dout)
    x, w, dout = (a.astype(dtype, copy=False) for a in (x, w, dout))
    w_mat = _w_matrix(w)  # (HH*WW*C, F)
    dw_mat = _weight_grad(x, dout, geo, pad_mode)  # (HH*WW*C, F)
    dw = dw_mat.reshape(geo.HH, geo.WW, geo.C, geo.F)  # (HH, WW, C, F)
    dw = dw.transpose(3, 2, 0, 1)  # (F, C, HH, WW)
    dx = _input_grad(dout, w_mat, geo, pad_mode)  # (N, C, H, W)
    db = dout.sum(axis=(0, 2, 3))
    return dx, np.ascontiguousarray(dw), db


conv2d_forward = conv2d_forward_fast
conv2d_backward = conv2d_backward_fast


# --------------------------------------------------------------------------- conv1d


def _as_2d(x: np.ndarray, w: np.ndarray, stride, pad, dilation):
    """A 1-D signal ``(N, C, L)`` is an image of height 1: ``(N, C, 1, L)``."""
    x = check_ndim("x", x, 3, "(N, C, L)")
    w = check_ndim("w", w, 3, "(F, C, K)")
    s = as_int("stride", stride, minimum=1)
    p = as_int("pad", pad, minimum=0)
    d = as_int("dilation", dilation, minimum=1)
    return x[:, :, None, :], w[:, :, None, :], (1, s), (0, p), (1, d)


def _conv1d_forward(forward, x, w, b, stride, pad, dilation, pad_mode):
    x4, w4, s, p, d = _as_2d(x, w, stride, pad, dilation)
    _conv_geometry(x4, w4, s, p, d, pad_mode, axes=("H", "L"))  # errors say "L"
    out, cache = forward(x4, w4, b, stride=s, pad=p, dilation=d, pad_mode=pad_mode)
    return out[:, :, 0, :], cache  # (N, F, L')


def conv1d_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: int = 1, pad: int = 0,
    dilation: int = 1, pad_mode: str = "zeros",
) -> tuple[np.ndarray, ConvCache]:
    """1-D convolution of signals (time series), with loops.

    ``x: (N, C, L)``, ``w: (F, C, K)``, ``b: (F,)`` -> ``out: (N, F, L')`` with
    ``L' = (L + 2*pad - dilation*(K - 1) - 1)/stride + 1``. A signal is an image
    of height 1, so this is conv2d on ``(N, C, 1, L)``.
    """
    return _conv1d_forward(conv2d_forward_naive, x, w, b, stride, pad, dilation,
                           pad_mode)


def conv1d_forward_fast(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: int = 1, pad: int = 0,
    dilation: int = 1, pad_mode: str = "zeros",
) -> tuple[np.ndarray, ConvCache]:
    """Same as :func:`conv1d_forward_naive`, with matrix multiplies."""
    return _conv1d_forward(conv2d_forward_fast, x, w, b, stride, pad, dilation,
                           pad_mode)


def _conv1d_backward(backward, dout, cache):
    dout = check_ndim("dout", dout, 3, "(N, F, L')")
    dx, dw, db = backward(dout[:, :, None, :], cache)
    return dx[:, :, 0, :], dw[:, :, 0, :], db


def conv1d_backward_naive(
    dout: np.ndarray, cache: ConvCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dout: (N, F, L')`` -> ``dx: (N, C, L)``, ``dw: (F, C, K)``, ``db: (F,)``."""
    return _conv1d_backward(conv2d_backward_naive, dout, cache)


def conv1d_backward_fast(
    dout: np.ndarray, cache: ConvCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same as :func:`conv1d_backward_naive`, with matrix multiplies."""
    return _conv1d_backward(conv2d_backward_fast, dout, cache)


conv1d_forward = conv1d_forward_fast
conv1d_backward = conv1d_backward_fast


# --------------------------------------------------------------------------- transposed


class ConvTransposeCache(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: tuple[int, int]
    pad: tuple[int, int]


def _transpose_geometry(x: np.ndarray, w: np.ndarray, stride, pad):
    """Sizes of a transposed convolution, and the geometry of its adjoint conv2d.

    ``x: (N, C, H, W)``, ``w: (C, F, HH, WW)``; the output is ``(N, F, H', W')``
    with ``H' = (H - 1)*stride - 2*pad + HH``. The adjoint is the ordinary conv2d
    that maps an ``(N, F, H', W')`` image back to ``(N, C, H, W)`` with the same
    ``w`` read as ``(C, F, HH, WW)`` filters.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    w = check_ndim("w", w, 4, "(C, F, HH, WW)")
    N, C, H, W = x.shape
    C_w, F, HH, WW = w.shape
    check_channels("x", C, "w", C_w)
    sh, sw = as_pair("stride", stride, minimum=1)
    ph, pw = as_pair("pad", pad, minimum=0)
    H_out = (H - 1) * sh - 2 * ph + HH
    W_out = (W - 1) * sw - 2 * pw + WW
    if H_out < 1 or W_out < 1:
        raise ValueError(
            f"output size (H - 1)*stride - 2*pad + HH = ({H} - 1)*{sh} - 2*{ph} + "
            f"{HH} = {H_out}, (W - 1)*stride - 2*pad + WW = ({W} - 1)*{sw} - 2*{pw} "
            f"+ {WW} = {W_out}: both must be >= 1, use less padding"
        )
    adjoint = ConvGeometry(N, F, H_out, W_out, C, HH, WW, (sh, sw), (ph, pw), (1, 1),
                           H, W)
    return x, w, adjoint


def conv_transpose2d_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: IntOrPair = 1,
    pad: IntOrPair = 0,
) -> tuple[np.ndarray, ConvTransposeCache]:
    """Transposed convolution ("up-convolution"), with loops.

    Every input pixel stamps a copy of the kernel, scaled by its value, onto the
    output, ``stride`` pixels apart; overlaps add up; then ``pad`` rows and columns
    are cut from every border. It is the backward pass of conv2d with respect to
    its input, which is why it is also called "fractionally strided convolution".

    Args:
        x: ``(N, C, H, W)``.
        w: ``(C, F, HH, WW)`` (torch's layout: input channels first).
        b: ``(F,)``.
        stride, pad: an int or a pair.

    Returns:
        ``out: (N, F, H', W')`` with ``H' = (H - 1)*stride - 2*pad + HH``, and the
        cache.
    """
    x, w, geo = _transpose_geometry(x, w, stride, pad)
    b = _check_bias(b, geo.C)
    dtype = float_dtype(x, w, b)
    (sh, sw), (ph, pw) = geo.stride, geo.pad
    N, C, H, W = x.shape
    F, H_out, W_out = w.shape[1], geo.H, geo.W
    full = np.zeros((N, F, H_out + 2 * ph, W_out + 2 * pw), dtype=dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    top, left = i * sh, j * sw
                    full[n, :, top : top + geo.HH, left : left + geo.WW] += (
                        x[n, c, i, j] * w[c]
                    )
    out = full[:, :, ph : ph + H_out, pw : pw + W_out] + b[:, None, None]
    return np.ascontiguousarray(out), ConvTransposeCache(x, w, b, geo.stride, geo.pad)


def conv_transpose2d_forward_fast(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: IntOrPair = 1,
    pad: IntOrPair = 0,
) -> tuple[np.ndarray, ConvTransposeCache]:
    """Same as :func:`conv_transpose2d_forward_naive`: the input-gradient pass of
    conv2d (matrix multiply, then col2im), fed with ``x`` instead of a gradient.

    ``x: (N, C, H, W)``, ``w: (C, F, HH, WW)``, ``b: (F,)`` -> ``(N, F, H', W')``,
    ``H' = (H - 1)*stride - 2*pad + HH``.
    """
    x, w, geo = _transpose_geometry(x, w, stride, pad)
    b = _check_bias(b, geo.C)
    dtype = float_dtype(x, w, b)
    w_mat = _w_matrix(w.astype(dtype, copy=False))  # (HH*WW*F, C)
    # x plays the output gradient of the adjoint conv2d; cutting the padding off is
    # the zero-padding case of folding the padding's gradient back
    out = _input_grad(x.astype(dtype, copy=False), w_mat, geo, "zeros",
                      bias=b.astype(dtype, copy=False))  # (N, F, H', W')
    return out, ConvTransposeCache(x, w, b, geo.stride, geo.pad)


def _transpose_backward(dout, cache, conv_forward, conv_backward):
    x, w, b, stride, pad = cache
    x, w, geo = _transpose_geometry(x, w, stride, pad)
    dout = check_shape("dout", dout, (geo.N, geo.C, geo.H, geo.W), "(N, F, H', W')")
    # The adjoint of the adjoint is conv2d itself: dx is conv2d of dout with w ...
    zero_bias = np.zeros(geo.F, dtype=float_dtype(x, w, b, dout))
    dx, conv_cache = conv_forward(dout, w, zero_bias, stride=stride, pad=pad)
    # ... and dw is conv2d's weight gradient with x in the role of the upstream
    # gradient (the dx it also returns is not needed).
    _, dw, _ = conv_backward(x, conv_cache)
    db = dout.sum(axis=(0, 2, 3), dtype=zero_bias.dtype)
    return dx, dw, db


def conv_transpose2d_backward_naive(
    dout: np.ndarray, cache: ConvTransposeCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of a transposed convolution, with the naive conv2d loops.

    Returns ``dx: (N, C, H, W)``, ``dw: (C, F, HH, WW)``, ``db: (F,)``.
    """
    return _transpose_backward(dout, cache, conv2d_forward_naive, conv2d_backward_naive)


def conv_transpose2d_backward_fast(
    dout: np.ndarray, cache: ConvTransposeCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same as :func:`conv_transpose2d_backward_naive`, with the fast conv2d."""
    x, w, b, stride, pad = cache
    x, w, geo = _transpose_geometry(x, w, stride, pad)
    dout = check_shape("dout", dout, (geo.N, geo.C, geo.H, geo.W), "(N, F, H', W')")
    dtype = float_dtype(x, w, b, dout)
    x, w, dout = (a.astype(dtype, copy=False) for a in (x, w, dout))
    w_mat = _w_matrix(w)  # (HH*WW*F, C)
    # dx: the adjoint of the adjoint is conv2d itself, with the same w
    dx = _im2col_matmul(dout, w_mat, geo, "zeros")  # (N, C, H, W)
    # dw: correlate the padded dout with x, x in the role of the output gradient
    dw_mat = _weight_grad(dout, x, geo, "zeros")  # (HH*WW*F, C)
    dw = dw_mat.reshape(geo.HH, geo.WW, geo.C, geo.F)  # (HH, WW, F, C)
    dw = dw.transpose(3, 2, 0, 1)  # (C, F, HH, WW)
    db = dout.sum(axis=(0, 2, 3))
    return dx, np.ascontiguousarray(dw), db


conv_transpose2d_forward = conv_transpose2d_forward_fast
conv_transpose2d_backward = conv_transpose2d_backward_fast
