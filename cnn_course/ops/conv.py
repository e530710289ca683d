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
The fast versions lower a block of images, small enough to stay in the CPU cache,
into a matrix that holds each input row once per tap column (not each receptive
field once, as im2col does), and turn every output row into one matrix multiply.
"""

from __future__ import annotations

import math
import threading
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


# The fast paths lower one block of images at a time: a block's lowered matrix holds
# about _BLOCK_ELEMENTS numbers (1 MiB of float32, about the CPU's L2 cache), and at
# least _MIN_COLUMNS columns, below which the matrix multiplies lose speed. Tuned
# with benchmarks/bench_conv.py.
_BLOCK_ELEMENTS = 1 << 18
_MIN_COLUMNS = 128
# OpenBLAS multiplies float32 matrices with M*N*K <= 1e6 straight from the operands
# (its "direct" sgemm on AVX-512 machines); a larger product first copies both into
# packed panels, which with few filters is a copy of the whole lowered slice for each
# output row: 61 against 45 ns per column for 16 filters of 150 rows, measured here.
# A block whose multiplies can stay under that size, with at least _MIN_COLUMNS
# columns, is cut to stay under it.
_DIRECT_MNK = 1_000_000
# The lowered matrix and the rows of the output are scratch, kept per thread between
# calls: a buffer of a megabyte that is freed and allocated again on every call comes
# back from the system as fresh pages, each one faulted in again (in a fresh process,
# the first benchmark shape: 1.7x torch with new buffers per call, measured here).
_SCRATCH = threading.local()


def _scratch(name: str, size: int, dtype: np.dtype, layout: object = None
             ) -> tuple[np.ndarray, bool]:
    """This thread's ``name`` scratch buffer as a flat array of ``size`` numbers, and
    whether its contents are left as the last user with the same ``layout`` (not
    None) left them; otherwise they are whatever any user left."""
    held = getattr(_SCRATCH, name, None)
    same = getattr(_SCRATCH, name + "_layout", None)
    if held is None or held.dtype != dtype or held.size < size:
        held, same = np.empty(size, dtype), None
        setattr(_SCRATCH, name, held)
    setattr(_SCRATCH, name + "_layout", layout)
    return held[:size], layout is not None and same == layout


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


# --------------------------------------------------------------------------- fast path
#
# The fast conv2d lowers a block of images into a matrix and multiplies. Plain
# im2col copies every receptive field into a row of its own, HH*WW copies of each
# pixel; the lowering below (MEC, Cho and Brand, 2017) copies each input *row*
# once per tap column q: row ((r*Kd + k)*WW + q)*C + c of the matrix holds, for
# every image m of the block and output column j, the padded pixel
#
#     lowered[row, m*W' + j] = xpad[m, c, h, sw*j + dw*q]   with h = k*dh + r,
#
# its columns ordered (m, j). Output row i reads input rows sh*i + dh*p, p < HH,
# which this order puts next to each other (r = h % dh, k = h // dh), so the
# receptive fields of a whole output row are the K = HH*WW*C consecutive rows from
# start(i): a slice of the matrix, no copy. Output row i of the block is then one
# matrix multiply, filters (F, K) times those rows (K, n*W'), which lands channels
# first as the layout wants.


def _copy(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` for two arrays of one dtype and shape ``(..., L)``.

    The trick: where both last axes are contiguous, each run of ``L`` numbers is
    viewed as one opaque item (numpy's void dtype), so that numpy moves it with one
    memcpy rather than a loop over ``L`` numbers (three times faster on rows of 10).
    """
    if (dst.shape[-1] > 1 and dst.dtype == src.dtype
            and dst.strides[-1] == src.strides[-1] == dst.itemsize):
        run = np.dtype((np.void, dst.shape[-1] * dst.itemsize))
        dst, src = dst.view(run)[..., 0], src.view(run)[..., 0]  # (...,): runs
    np.copyto(dst, src)


def _lowered_rows(geo: ConvGeometry) -> tuple[int, list[int]]:
    """``Kd``, the padded input rows per dilation phase, and ``start(i)``, the first
    row of the lowered matrix that output row ``i`` reads."""
    (sh, _), (dh, _) = geo.stride, geo.dilation
    Kd = -(-(geo.H + 2 * geo.pad[0]) // dh)  # ceil(Hp / dh)
    per_row = geo.WW * geo.C  # matrix rows per input row
    starts = [((sh * i) % dh * Kd + (sh * i) // dh) * per_row for i in range(geo.H_out)]
    return Kd, starts


def _block_size(geo: ConvGeometry, Kd: int, dtype: np.dtype) -> int:
    """Images per block: the block's lowered matrix holds about _BLOCK_ELEMENTS
    numbers, and at least _MIN_COLUMNS columns (a wide enough matrix multiply); in
    float32, few enough that each multiply stays direct where it can (_DIRECT_MNK)."""
    per_image = geo.dilation[0] * Kd * geo.WW * geo.C * geo.W_out
    n = max(_BLOCK_ELEMENTS // per_image, -(-_MIN_COLUMNS // geo.W_out))
    direct = _DIRECT_MNK // (geo.F * geo.K * geo.W_out)  # images per direct multiply
    if np.dtype(dtype) == np.float32 and direct * geo.W_out >= _MIN_COLUMNS:
        n = min(n, direct)
    n = max(1, min(geo.N, n))
    return -(-geo.N // -(-geo.N // n))  # blocks of equal size, as far as they go


def _taps(geo: ConvGeometry, Kd: int, image: tuple[int, ...], top: int, left: int):
    """Where the lowered matrix meets an image ``(n, C, Hs, Ws)`` that sits ``top``
    rows and ``left`` columns inside the padded input (its zero border is implicit).

    Yields ``(r, ks, q, js), (rows, cols)``: entries ``[r, ks, q, :, :, js]`` of the
    matrix ``(dh, Kd, WW, C, n, W')`` are pixels ``[:, :, rows, cols]`` of the image
    (transposed); every other entry is padding, zero.
    """
    _, _, Hs, Ws = image
    (_, sw), (dh, dw) = geo.stride, geo.dilation
    for r in range(dh):
        # input rows h = k*dh + r inside the image: top <= h < top + Hs
        k0, k1 = max(0, -(-(top - r) // dh)), min(Kd, (top + Hs - 1 - r) // dh + 1)
        for q in range(geo.WW):
            # output columns j whose tap q is inside: left <= sw*j + dw*q < left + Ws
            j0 = max(0, -(-(left - dw * q) // sw))
            j1 = min(geo.W_out, (left + Ws - 1 - dw * q) // sw + 1)
            if k0 < k1 and j0 < j1:
                h0, w0 = k0 * dh + r - top, j0 * sw + dw * q - left
                rows = slice(h0, h0 + (k1 - k0 - 1) * dh + 1, dh)
                cols = slice(w0, w0 + (j1 - j0 - 1) * sw + 1, sw)
                yield (r, slice(k0, k1), q, slice(j0, j1)), (rows, cols)


def _image(x: np.ndarray, block: slice, geo: ConvGeometry,
           pad_mode: str) -> tuple[np.ndarray, int, int]:
    """Images ``block`` of ``x`` and their offset in the padded input: zero padding
    stays implicit (the lowered matrix keeps zeros there), other modes are padded."""
    if pad_mode == "zeros":
        return x[block], geo.pad[0], geo.pad[1]
    return pad_hw(x[block], geo.widths, pad_mode, axes=(2, 3)), 0, 0


def _lowered_blocks(x: np.ndarray, geo: ConvGeometry,
                    pad_mode: str) -> Iterator[tuple[slice, np.ndarray, list[int]]]:
    """Yield ``(block, lowered, starts)`` for consecutive blocks of images of ``x``.

    ``lowered: (dh*Kd*WW*C, n*W')`` is the block's matrix (see above), ``starts`` the
    first row of each output row. One scratch buffer serves every block; use it
    before the next block. Entries in the zero padding are written by no block: they
    are zeroed once per layout. Other entries that no block writes (input rows past
    the last one a dilation phase reaches) are read by no output row either.
    """
    Kd, starts = _lowered_rows(geo)
    step = _block_size(geo, Kd, x.dtype)
    padded = pad_mode == "zeros" and any(geo.pad)
    sw = geo.stride[1]
    taps, layout = None, None
    for n0 in range(0, geo.N, step):
        block = slice(n0, min(n0 + step, geo.N))
        n = block.stop - block.start
        if layout != n:  # the first block, or a shorter last one
            layout, shape = n, (geo.dilation[0], Kd, geo.WW, geo.C, n, geo.W_out)
            buffer, kept = _scratch("lowered", math.prod(shape), x.dtype,
                                    layout=(geo, pad_mode, n) if padded else None)
            buffer = buffer.reshape(shape)
            if padded and not kept:  # else the last user, with this layout, left it zero
                buffer[...] = 0
        image, top, left = _image(x, block, geo, pad_mode)
        taps = taps or list(_taps(geo, Kd, image.shape, top, left))  # same for all
        columns = _by_phase(image, sw)
        for (r, ks, q, js), (rows, cols) in taps:
            phase, first = cols.start % sw, cols.start // sw
            _copy(buffer[r, ks, q, :, :, js],  # (k, C, n, j)
                  columns[phase, :, :, rows, first : first + js.stop - js.start]
                  .transpose(2, 1, 0, 3))
        yield block, buffer.reshape(-1, n * geo.W_out), starts


def _by_phase(image: np.ndarray, sw: int) -> np.ndarray:
    """``image: (n, C, Hs, Ws)`` with its columns sorted by phase modulo the column
    stride: ``(sw, n, C, Hs, ceil(Ws/sw))``, column ``w`` at ``[w % sw, ..., w // sw]``.

    The trick: a tap's columns ``sw*j + c`` are then one contiguous run, which
    :func:`_copy` moves as one block, rather than ``sw``-strided numbers one by one.
    """
    if sw == 1:
        return image[None]
    n, C, Hs, Ws = image.shape
    shape = (sw, n, C, Hs, -(-Ws // sw))
    phases = _scratch("phases", math.prod(shape), image.dtype)[0].reshape(shape)
    for phase in range(min(sw, Ws)):
        _copy(phases[phase, ..., : -(-(Ws - phase) // sw)], image[..., phase::sw])
    return phases


def _by_rows(a: np.ndarray, block: slice) -> np.ndarray:
    """Images ``block`` of ``a: (N, F, H', W')`` row by row: ``(H', F, n*W')``, in a
    scratch buffer (use it before the next call)."""
    n, F, H_out, W_out = a[block].shape
    rows = _scratch("by_rows", H_out * F * n * W_out, a.dtype)[0].reshape(H_out, F, n,
                                                                         W_out)
    _copy(rows, a[block].transpose(2, 1, 0, 3))
    return rows.reshape(H_out, F, n * W_out)


def _lowered_matmul(x: np.ndarray, w_rows: np.ndarray, geo: ConvGeometry,
                    pad_mode: str, bias: np.ndarray | None = None) -> np.ndarray:
    """Convolve ``x: (N, C, H, W)`` with ``w_rows: (F, HH*WW*C)``: ``(N, F, H', W')``.

    Lower a block of images (no copy per receptive field), then each output row of
    the whole block is one matrix multiply with the filters.
    """
    F, K = w_rows.shape
    out = np.empty((geo.N, F, geo.H_out, geo.W_out), dtype=w_rows.dtype)
    for block, lowered, starts in _lowered_blocks(x, geo, pad_mode):
        n = block.stop - block.start
        rows = _scratch("rows", geo.H_out * F * n * geo.W_out, w_rows.dtype)[0].reshape(
            geo.H_out, F, n * geo.W_out)
        for i, start in enumerate(starts):
            np.matmul(w_rows, lowered[start : start + K], out=rows[i])  # (F, n*W')
        if bias is not None:
            rows += bias[:, None]
        _copy(out[block],  # (n, F, H', W')
              rows.reshape(geo.H_out, F, n, geo.W_out).transpose(2, 1, 0, 3))
    return out


def _weight_grad(x: np.ndarray, dout: np.ndarray, geo: ConvGeometry,
                 pad_mode: str) -> np.ndarray:
    """``dw`` as ``(F, HH*WW*C)``: each output row's gradient times its fields.

    ``x: (N, C, H, W)``, ``dout: (N, F, H', W')``. Correlating the input with the
    output gradient gives ``dw``: one matrix multiply per output row of a block.
    """
    dw_rows = np.zeros((dout.shape[1], geo.K), dtype=dout.dtype)
    for block, lowered, starts in _lowered_blocks(x, geo, pad_mode):
        grad = _by_rows(dout, block)  # (H', F, n*W')
        for i, start in enumerate(starts):
            dw_rows += grad[i] @ lowered[start : start + geo.K].T  # (F, HH*WW*C)
    return dw_rows


def _input_grad(dout: np.ndarray, w_rows: np.ndarray, geo: ConvGeometry,
                pad_mode: str, bias: np.ndarray | None = None) -> np.ndarray:
    """Gradient of the input, ``(N, C, H, W)``, from ``dout: (N, F, H', W')``.

    ``w_rows: (F, HH*WW*C)``. The lowering run backwards: each output row's gradient
    times the filters is the gradient of its fields, added onto the rows of the
    lowered matrix it came from; then every entry of the matrix is added back onto
    its pixel (the padding's share is folded back, or dropped for zeros).
    """
    F, K = w_rows.shape
    w_cols = np.ascontiguousarray(w_rows.T)  # (HH*WW*C, F)
    Kd, starts = _lowered_rows(geo)
    step = _block_size(geo, Kd, w_rows.dtype)
    dx = np.empty((geo.N, geo.C, geo.H, geo.W), dtype=w_rows.dtype)
    for n0 in range(0, geo.N, step):
        block = slice(n0, min(n0 + step, geo.N))
        n = block.stop - block.start
        grad = _by_rows(dout, block)  # (H', F, n*W')
        shape = (geo.dilation[0], Kd, geo.WW, geo.C, n, geo.W_out)
        lowered = _scratch("lowered", math.prod(shape), w_rows.dtype)[0].reshape(shape)
        lowered[...] = 0
        flat = lowered.reshape(-1, n * geo.W_out)
        for i, start in enumerate(starts):
            flat[start : start + K] += w_cols @ grad[i]  # fields of output row i
        if pad_mode == "zeros":
            image, top, left = dx[block], geo.pad[0], geo.pad[1]
        else:
            image, top, left = np.zeros((n, geo.C, geo.H + 2 * geo.pad[0],
                                         geo.W + 2 * geo.pad[1]), dx.dtype), 0, 0
        image[...] = 0
        for (r, ks, q, js), (rows, cols) in _taps(geo, Kd, image.shape, top, left):
            pixels = image[:, :, rows, cols]  # a view: the += lands in image
            pixels += lowered[r, ks, q, :, :, js].transpose(2, 1, 0, 3)
        if pad_mode != "zeros":
            dx[block] = unpad_hw(image, geo.widths, pad_mode, axes=(2, 3))
    if bias is not None:
        dx += bias[:, None, None]
    return dx


def _w_rows(w: np.ndarray) -> np.ndarray:
    """``(F, C, HH, WW)`` filters as an ``(F, HH*WW*C)`` matrix, matching the rows
    of the lowered matrix."""
    F = w.shape[0]
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(F, -1)


def conv2d_forward_fast(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: IntOrPair = 1,
    pad: IntOrPair = 0, dilation: IntOrPair = 1, pad_mode: str = "zeros",
) -> tuple[np.ndarray, ConvCache]:
    """Same as :func:`conv2d_forward_naive`, with matrix multiplies: each block of
    images is lowered into a matrix once, and each output row of the block is one
    matrix multiply with the filters (the fast path above).

    ``x: (N, C, H, W)``, ``w: (F, C, HH, WW)``, ``b: (F,)`` ->
    ``out: (N, F, H', W')``, ``H' = (H + 2*pad - dilation*(HH - 1) - 1)/stride + 1``.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    w = check_ndim("w", w, 4, "(F, C, HH, WW)")
    geo = _conv_geometry(x, w, stride, pad, dilation, pad_mode)
    b = _check_bias(b, geo.F)
    dtype = float_dtype(x, w, b)
    w_rows = _w_rows(w.astype(dtype, copy=False))  # (F, HH*WW*C)
    out = _lowered_matmul(x.astype(dtype, copy=False), w_rows, geo, pad_mode,
                          bias=b.astype(dtype, copy=False))  # (N, F, H', W')
    cache = ConvCache(x, w, b, geo.stride, geo.pad, geo.dilation, pad_mode)
    return out, cache


def conv2d_backward_fast(
    dout: np.ndarray, cache: ConvCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same as :func:`conv2d_backward_naive`, with matrix multiplies.

    ``dw`` correlates the input with ``dout`` (the lowering again), ``dx``
    multiplies ``dout`` by the filters and adds each receptive field back where it
    came from (the lowering run backwards), ``db`` sums ``dout``. Returns
    ``dx: (N, C, H, W)``,
    ``dw: (F, C, HH, WW)``, ``db: (F,)``.
    """
    x, w, b, stride, pad, dilation, pad_mode = cache
    geo = _conv_geometry(x, w, stride, pad, dilation, pad_mode)
    dout = check_shape("dout", dout, (geo.N, geo.F, geo.H_out, geo.W_out),
                       "(N, F, H', W')")
    dtype = float_dtype(x, w, b, dout)
    x, w, dout = (a.astype(dtype, copy=False) for a in (x, w, dout))
    dw_rows = _weight_grad(x, dout, geo, pad_mode)  # (F, HH*WW*C)
    dw = dw_rows.reshape(geo.F, geo.HH, geo.WW, geo.C).transpose(0, 3, 1, 2)
    dx = _input_grad(dout, _w_rows(w), geo, pad_mode)  # (N, C, H, W)
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
    conv2d (matrix multiplies, then each field added back onto its pixels), fed
    with ``x`` instead of a gradient.

    ``x: (N, C, H, W)``, ``w: (C, F, HH, WW)``, ``b: (F,)`` -> ``(N, F, H', W')``,
    ``H' = (H - 1)*stride - 2*pad + HH``.
    """
    x, w, geo = _transpose_geometry(x, w, stride, pad)
    b = _check_bias(b, geo.C)
    dtype = float_dtype(x, w, b)
    w_rows = _w_rows(w.astype(dtype, copy=False))  # (C, HH*WW*F)
    # x plays the output gradient of the adjoint conv2d; cutting the padding off is
    # the zero-padding case of folding the padding's gradient back
    out = _input_grad(x.astype(dtype, copy=False), w_rows, geo, "zeros",
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
    # dx: the adjoint of the adjoint is conv2d itself, with the same w
    dx = _lowered_matmul(dout, _w_rows(w), geo, "zeros")  # (N, C, H, W)
    # dw: correlate the padded dout with x, x in the role of the output gradient
    dw_rows = _weight_grad(dout, x, geo, "zeros")  # (C, HH*WW*F)
    dw = dw_rows.reshape(geo.F, geo.HH, geo.WW, geo.C).transpose(0, 3, 1, 2)
    db = dout.sum(axis=(0, 2, 3))
    return dx, np.ascontiguousarray(dw), db


conv_transpose2d_forward = conv_transpose2d_forward_fast
conv_transpose2d_backward = conv_transpose2d_backward_fast
