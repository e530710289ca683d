"""Pooling and unpooling: max, average and global average pooling, max-unpooling,
nearest-neighbour and bed-of-nails upsampling, forward and backward.

Lecture: ``lectures/06_pooling.ipynb`` (pooling), ``lectures/07_backprop.ipynb``
(gradients through pooling) and ``lectures/12_beyond_classification.ipynb`` (unpooling).

Shapes: ``x: (N, C, H, W)``, ``out: (N, C, H', W')`` with, for a ``KH x KW`` window,

    H' = (H - KH) / stride + 1

(no padding). A size that is not a whole number is an error. Windows may overlap
(``stride < kernel``, e.g. AlexNet's 3x3 windows with stride 2). Pooling has no
parameters, so every backward returns ``dx`` only.

Ties in max pooling: the first maximum of a window in row-major order wins (like
``np.argmax`` and like torch on the CPU), and the whole gradient of that window goes
to it; the other tied pixels get zero from that window. With overlapping windows a
pixel that wins several windows receives the sum of their gradients.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import (
    IntOrPair,
    as_pair,
    check_ndim,
    check_shape,
    float_dtype,
    output_size,
)


class PoolGeometry(NamedTuple):
    N: int
    C: int
    H: int
    W: int
    KH: int
    KW: int
    stride: tuple[int, int]
    H_out: int
    W_out: int


def _pool_geometry(shape: tuple[int, ...], kernel, stride) -> PoolGeometry:
    """Validate a pooling call on an input of ``shape``; ``stride=None`` means
    ``stride = kernel``."""
    N, C, H, W = shape
    KH, KW = as_pair("kernel", kernel, minimum=1)
    sh, sw = (KH, KW) if stride is None else as_pair("stride", stride, minimum=1)
    H_out = output_size(H, KH, sh, 0, axis="H")
    W_out = output_size(W, KW, sw, 0, axis="W")
    return PoolGeometry(N, C, H, W, KH, KW, (sh, sw), H_out, W_out)


def _windows(x: np.ndarray, geo: PoolGeometry) -> np.ndarray:
    """Every pooling window as a view: ``(N, C, H', W', KH, KW)``."""
    sh, sw = geo.stride
    windows = sliding_window_view(x, (geo.KH, geo.KW), axis=(2, 3))
    return windows[:, :, ::sh, ::sw]  # (N, C, H', W', KH, KW)


def _tap_slices(geo: PoolGeometry, p: int, q: int) -> tuple[slice, slice]:
    """Input rows and columns that window position ``(p, q)`` covers, one per output."""
    sh, sw = geo.stride
    return (slice(p, p + (geo.H_out - 1) * sh + 1, sh),
            slice(q, q + (geo.W_out - 1) * sw + 1, sw))


def _check_dout(dout: np.ndarray, geo: PoolGeometry) -> np.ndarray:
    return check_shape("dout", dout, (geo.N, geo.C, geo.H_out, geo.W_out),
                       "(N, C, H', W')")


# --------------------------------------------------------------------------- max pool


class MaxPoolCache(NamedTuple):
    """``indices``: where each maximum came from, as ``i*W + j`` inside its
    ``(H, W)`` plane (torch's ``return_indices`` convention), ``(N, C, H', W')``."""

    x_shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    indices: np.ndarray


def maxpool2d_forward_naive(
    x: np.ndarray, *, kernel: IntOrPair = 2, stride: IntOrPair | None = None
) -> tuple[np.ndarray, MaxPoolCache]:
    """Max pooling with loops.

    Args:
        x: ``(N, C, H, W)``.
        kernel: window size, an int or a pair ``(KH, KW)``.
        stride: an int or a pair; ``None`` means ``stride = kernel`` (no overlap).

    Returns:
        ``out: (N, C, H', W')`` with ``H' = (H - KH)/stride + 1``, and a cache
        whose ``indices`` remember where every maximum was (for the backward pass
        and for :func:`max_unpool2d`). Ties: the first maximum in row-major order.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    geo = _pool_geometry(x.shape, kernel, stride)
    sh, sw = geo.stride
    out = np.zeros((geo.N, geo.C, geo.H_out, geo.W_out), dtype=float_dtype(x))
    indices = np.zeros(out.shape, dtype=np.int64)
    for n in range(geo.N):
        for c in range(geo.C):
            for i in range(geo.H_out):
                for j in range(geo.W_out):
                    window = x[n, c, i * sh : i * sh + geo.KH, j * sw : j * sw + geo.KW]
                    k = np.argmax(window)  # first maximum, row-major
                    p, q = divmod(int(k), geo.KW)
                    out[n, c, i, j] = window[p, q]
                    indices[n, c, i, j] = (i * sh + p) * geo.W + (j * sw + q)
    return out, MaxPoolCache(x.shape, (geo.KH, geo.KW), geo.stride, indices)


def maxpool2d_forward_fast(
    x: np.ndarray, *, kernel: IntOrPair = 2, stride: IntOrPair | None = None
) -> tuple[np.ndarray, MaxPoolCache]:
    """Same as :func:`maxpool2d_forward_naive`: one ``argmax`` over all windows,
    seen as a strided view."""
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    geo = _pool_geometry(x.shape, kernel, stride)
    windows = _windows(x, geo)  # (N, C, H', W', KH, KW), a view
    flat = windows.reshape(geo.N, geo.C, geo.H_out, geo.W_out, geo.KH * geo.KW)
    # flat: (N, C, H', W', KH*KW), each window in row-major order (a copy)
    k = np.argmax(flat, axis=-1)  # (N, C, H', W'): first maximum, row-major
    out = np.take_along_axis(flat, k[..., None], axis=-1)[..., 0]  # (N, C, H', W')
    # window position (p, q) of output (i, j) sits at (i*sh + p, j*sw + q)
    sh, sw = geo.stride
    p, q = np.divmod(k, geo.KW)
    i = np.arange(geo.H_out)[:, None] * sh
    j = np.arange(geo.W_out)[None, :] * sw
    indices = (i + p) * geo.W + (j + q)  # (N, C, H', W')
    out = out.astype(float_dtype(x), copy=False)
    return out, MaxPoolCache(x.shape, (geo.KH, geo.KW), geo.stride, indices)


def _unpack_max(cache: MaxPoolCache) -> PoolGeometry:
    x_shape, kernel, stride, _ = cache
    return _pool_geometry(x_shape, kernel, stride)


def maxpool2d_backward_naive(dout: np.ndarray, cache: MaxPoolCache) -> np.ndarray:
    """Backward of max pooling with loops: each window's gradient goes to the
    pixel that won it (the first maximum, on ties); the others get nothing.

    ``dout: (N, C, H', W')`` -> ``dx: (N, C, H, W)``.
    """
    geo = _unpack_max(cache)
    dout = _check_dout(dout, geo)
    dx = np.zeros(cache.x_shape, dtype=float_dtype(dout))
    for n in range(geo.N):
        for c in range(geo.C):
            for i in range(geo.H_out):
                for j in range(geo.W_out):
                    r, s = divmod(int(cache.indices[n, c, i, j]), geo.W)
                    dx[n, c, r, s] += dout[n, c, i, j]  # += : windows may overlap
    return dx


def maxpool2d_backward_fast(dout: np.ndarray, cache: MaxPoolCache) -> np.ndarray:
    """Same as :func:`maxpool2d_backward_naive`, for all windows at once.

    ``np.bincount`` adds every window's gradient at the flat position of its winner;
    it sums arrivals, so overlapping windows that pick the same pixel add up.
    """
    geo = _unpack_max(cache)
    dout = _check_dout(dout, geo)
    plane = geo.H * geo.W
    offsets = np.arange(geo.N * geo.C).reshape(geo.N, geo.C, 1, 1) * plane  # (N,C,1,1)
    flat = (cache.indices + offsets).ravel()  # position in the flattened x
    dx = np.bincount(flat, weights=dout.ravel(), minlength=geo.N * geo.C * plane)
    dx = dx.reshape(cache.x_shape)  # (N, C, H, W)
    return dx.astype(float_dtype(dout), copy=False)


maxpool2d_forward = maxpool2d_forward_fast
maxpool2d_backward = maxpool2d_backward_fast


# --------------------------------------------------------------------------- avg pool


class AvgPoolCache(NamedTuple):
    x_shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]


def avgpool2d_forward_naive(
    x: np.ndarray, *, kernel: IntOrPair = 2, stride: IntOrPair | None = None
) -> tuple[np.ndarray, AvgPoolCache]:
    """Average pooling with loops.

    ``x: (N, C, H, W)`` -> ``out: (N, C, H', W')``, ``H' = (H - KH)/stride + 1``;
    ``stride=None`` means ``stride = kernel``.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    geo = _pool_geometry(x.shape, kernel, stride)
    sh, sw = geo.stride
    out = np.zeros((geo.N, geo.C, geo.H_out, geo.W_out), dtype=float_dtype(x))
    for i in range(geo.H_out):
        for j in range(geo.W_out):
            window = x[:, :, i * sh : i * sh + geo.KH, j * sw : j * sw + geo.KW]
            out[:, :, i, j] = window.mean(axis=(2, 3))
    return out, AvgPoolCache(x.shape, (geo.KH, geo.KW), geo.stride)


def avgpool2d_forward_fast(
    x: np.ndarray, *, kernel: IntOrPair = 2, stride: IntOrPair | None = None
) -> tuple[np.ndarray, AvgPoolCache]:
    """Same as :func:`avgpool2d_forward_naive`: a mean over all windows at once."""
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    geo = _pool_geometry(x.shape, kernel, stride)
    x = x.astype(float_dtype(x), copy=False)
    windows = _windows(x, geo)  # (N, C, H', W', KH, KW), a view
    out = windows.mean(axis=(4, 5))  # (N, C, H', W')
    return out, AvgPoolCache(x.shape, (geo.KH, geo.KW), geo.stride)


def avgpool2d_backward_naive(dout: np.ndarray, cache: AvgPoolCache) -> np.ndarray:
    """Every pixel of a window gets ``1/(KH*KW)`` of the window's gradient.

    ``dout: (N, C, H', W')`` -> ``dx: (N, C, H, W)``.
    """
    geo = _pool_geometry(cache.x_shape, cache.kernel, cache.stride)
    dout = _check_dout(dout, geo)
    sh, sw = geo.stride
    dx = np.zeros(cache.x_shape, dtype=float_dtype(dout))
    share = dout / (geo.KH * geo.KW)
    for i in range(geo.H_out):
        for j in range(geo.W_out):
            window = dx[:, :, i * sh : i * sh + geo.KH, j * sw : j * sw + geo.KW]
            window += share[:, :, i, j, None, None]  # += : windows may overlap
    return dx


def avgpool2d_backward_fast(dout: np.ndarray, cache: AvgPoolCache) -> np.ndarray:
    """Same as :func:`avgpool2d_backward_naive`, one window position at a time:
    position ``(p, q)`` of every window is one strided grid of pixels, so ``KH*KW``
    strided additions cover all windows."""
    geo = _pool_geometry(cache.x_shape, cache.kernel, cache.stride)
    dout = _check_dout(dout, geo)
    dx = np.zeros(cache.x_shape, dtype=float_dtype(dout))
    share = dout / (geo.KH * geo.KW)
    for p in range(geo.KH):
        for q in range(geo.KW):
            rows, cols = _tap_slices(geo, p, q)
            dx[:, :, rows, cols] += share
    return dx


avgpool2d_forward = avgpool2d_forward_fast
avgpool2d_backward = avgpool2d_backward_fast


# --------------------------------------------------------------------------- global


def global_avgpool_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Global average pooling: one number per channel, the mean of its feature map.

    ``x: (N, C, H, W)`` -> ``out: (N, C)``. It replaces flatten + dense at the end
    of a network (GoogLeNet, ResNet) with no weights at all. The cache is the
    input shape.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    return x.mean(axis=(2, 3), dtype=float_dtype(x)), x.shape


def global_avgpool_backward(dout: np.ndarray, cache: tuple[int, ...]) -> np.ndarray:
    """``dout: (N, C)`` -> ``dx: (N, C, H, W)``: each pixel gets ``1/(H*W)`` of its
    channel's gradient."""
    N, C, H, W = cache
    dout = check_shape("dout", dout, (N, C), "(N, C)")
    share = dout.astype(float_dtype(dout), copy=False) / (H * W)
    return np.broadcast_to(share[:, :, None, None], cache).copy()


# --------------------------------------------------------------------------- unpooling


# upsampling caches: the input shape and the (vertical, horizontal) scale
UpsampleCache = tuple[tuple[int, ...], tuple[int, int]]


class UnpoolCache(NamedTuple):
    x_shape: tuple[int, int, int, int]
    indices: np.ndarray
    out_shape: tuple[int, int, int, int]


def max_unpool2d_forward(
    x: np.ndarray, indices: np.ndarray, *, kernel: IntOrPair = 2,
    stride: IntOrPair | None = None, output_size: tuple[int, ...] | None = None,
) -> tuple[np.ndarray, UnpoolCache]:
    """Max-unpooling: put every value back where its maximum came from, zeros
    elsewhere.

    Args:
        x: pooled values ``(N, C, H', W')``.
        indices: ``(N, C, H', W')`` positions ``i*W + j`` in the unpooled plane, as
            in ``maxpool2d_forward(...)[1].indices`` (and torch's
            ``return_indices``).
        kernel, stride: of the pooling being undone (``stride=None``: ``kernel``).
        output_size: ``(H, W)``; default ``H = (H' - 1)*stride + KH``.

    Returns:
        ``out: (N, C, H, W)`` and the cache.
    """
    x = check_ndim("x", x, 4, "(N, C, H', W')")
    indices = check_shape("indices", indices, x.shape, "(N, C, H', W') like x")
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"expected integer indices, got dtype {indices.dtype}")
    N, C, H_in, W_in = x.shape
    KH, KW = as_pair("kernel", kernel, minimum=1)
    sh, sw = (KH, KW) if stride is None else as_pair("stride", stride, minimum=1)
    if output_size is None:
        H, W = (H_in - 1) * sh + KH, (W_in - 1) * sw + KW
    else:
        H, W = as_pair("output_size", tuple(output_size)[-2:], minimum=1)
    if indices.size and (indices.min() < 0 or indices.max() >= H * W):
        raise ValueError(
            f"expected indices in [0, H*W) = [0, {H * W}) for an output of "
            f"H = {H}, W = {W}, got values from {indices.min()} to {indices.max()}"
        )
    out = np.zeros((N, C, H * W), dtype=float_dtype(x))
    # a repeated index (overlapping windows picked the same pixel) carries the
    # same value every time, so plain assignment is enough
    # (N, C, H'*W') values go to (N, C, H'*W') positions of the (N, C, H*W) planes
    np.put_along_axis(out, indices.reshape(N, C, -1), x.reshape(N, C, -1), axis=2)
    out = out.reshape(N, C, H, W)  # (N, C, H, W)
    return out, UnpoolCache(x.shape, indices, out.shape)


def max_unpool2d_backward(dout: np.ndarray, cache: UnpoolCache) -> np.ndarray:
    """``dout: (N, C, H, W)`` -> ``dx: (N, C, H', W')``: every value reads the
    gradient at the position it was put."""
    N, C = cache.x_shape[:2]
    dout = check_shape("dout", dout, cache.out_shape, "(N, C, H, W)")
    flat = dout.reshape(N, C, -1)  # (N, C, H*W)
    dx = np.take_along_axis(flat, cache.indices.reshape(N, C, -1), axis=2)  # (N,C,H'W')
    dx = dx.reshape(cache.x_shape)  # (N, C, H', W')
    return dx.astype(float_dtype(dout), copy=False)


def max_unpool2d(x: np.ndarray, indices: np.ndarray, *, kernel: IntOrPair = 2,
                 stride: IntOrPair | None = None,
                 output_size: tuple[int, ...] | None = None) -> np.ndarray:
    """The output of :func:`max_unpool2d_forward` alone."""
    return max_unpool2d_forward(x, indices, kernel=kernel, stride=stride,
                                output_size=output_size)[0]


def nearest_upsample2d_forward(
    x: np.ndarray, *, scale: IntOrPair = 2
) -> tuple[np.ndarray, UpsampleCache]:
    """Nearest-neighbour upsampling: every pixel becomes a ``scale x scale`` block.

    ``x: (N, C, H, W)`` -> ``out: (N, C, H*sh, W*sw)``; ``scale`` is an int or a
    pair ``(sh, sw)``.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    sh, sw = as_pair("scale", scale, minimum=1)
    out = np.repeat(np.repeat(x, sh, axis=2), sw, axis=3)  # (N, C, H*sh, W*sw)
    return out.astype(float_dtype(x), copy=False), (x.shape, (sh, sw))


def nearest_upsample2d_backward(dout: np.ndarray, cache: UpsampleCache) -> np.ndarray:
    """Each input pixel was copied into a block, so its gradient is the block's sum."""
    (N, C, H, W), (sh, sw) = cache
    dout = check_shape("dout", dout, (N, C, H * sh, W * sw), "(N, C, H*sh, W*sw)")
    blocks = dout.reshape(N, C, H, sh, W, sw)  # (N, C, H, sh, W, sw)
    return blocks.sum(axis=(3, 5), dtype=float_dtype(dout))


def nearest_upsample2d(x: np.ndarray, *, scale: IntOrPair = 2) -> np.ndarray:
    """The output of :func:`nearest_upsample2d_forward` alone."""
    return nearest_upsample2d_forward(x, scale=scale)[0]


def bed_of_nails_upsample2d_forward(
    x: np.ndarray, *, scale: IntOrPair = 2
) -> tuple[np.ndarray, UpsampleCache]:
    """Bed-of-nails upsampling: every pixel goes to the top-left corner of its
    ``scale x scale`` block, the rest of the block is zero.

    ``x: (N, C, H, W)`` -> ``out: (N, C, H*sh, W*sw)``.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    sh, sw = as_pair("scale", scale, minimum=1)
    N, C, H, W = x.shape
    out = np.zeros((N, C, H * sh, W * sw), dtype=float_dtype(x))
    out[:, :, ::sh, ::sw] = x
    return out, (x.shape, (sh, sw))


def bed_of_nails_upsample2d_backward(dout: np.ndarray,
                                     cache: UpsampleCache) -> np.ndarray:
    """Only the nails carried a value, so only their gradient flows back."""
    (N, C, H, W), (sh, sw) = cache
    dout = check_shape("dout", dout, (N, C, H * sh, W * sw), "(N, C, H*sh, W*sw)")
    return dout[:, :, ::sh, ::sw].astype(float_dtype(dout))  # a copy


def bed_of_nails_upsample2d(x: np.ndarray, *, scale: IntOrPair = 2) -> np.ndarray:
    """The output of :func:`bed_of_nails_upsample2d_forward` alone."""
    return bed_of_nails_upsample2d_forward(x, scale=scale)[0]
