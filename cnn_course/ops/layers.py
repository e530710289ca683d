"""Fully connected (affine) layer and dropout, forward and backward.

Lecture: ``lectures/01_fully_connected.ipynb`` (the affine layer) and
``lectures/09_overfitting.ipynb`` (dropout).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validate import check_choice, check_probability, check_shape, float_dtype

MODES = ("train", "eval")


# --------------------------------------------------------------------------- affine


def _affine_check(x, w, b):
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    if x.ndim < 1:
        raise ValueError("expected x of shape (N, d_1, ..., d_k), got a scalar")
    if w.ndim != 2:
        raise ValueError(
            f"expected w of shape (D, M) (2-D), got shape {w.shape} ({w.ndim}-D)"
        )
    D = int(np.prod(x.shape[1:]))
    if D != w.shape[0]:
        raise ValueError(
            f"x of shape {x.shape} has D = {D} features per sample but w of shape "
            f"{w.shape} expects D = {w.shape[0]}"
        )
    b = check_shape("b", b, (w.shape[1],), "(M,)")
    return x, w, b


def affine_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """Fully connected layer with loops: ``out[n, m] = sum_d x[n, d] * w[d, m] + b[m]``.

    Args:
        x: ``(N, d_1, ..., d_k)``, flattened to ``(N, D)``, ``D = d_1 * ... * d_k``
            (so a conv feature map ``(N, C, H, W)`` goes in as it is).
        w: ``(D, M)``.
        b: ``(M,)``.

    Returns:
        ``out: (N, M)`` and the cache ``(x, w, b)``.
    """
    x, w, b = _affine_check(x, w, b)
    N, (D, M) = x.shape[0], w.shape
    rows = x.reshape(N, D)  # (N, D)
    out = np.zeros((N, M), dtype=float_dtype(x, w, b))
    for n in range(N):
        for m in range(M):
            out[n, m] = np.dot(rows[n], w[:, m]) + b[m]
    return out, (x, w, b)


def affine_forward_fast(
    x: np.ndarray, w: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """Same as :func:`affine_forward_naive`, as one matrix multiply."""
    x, w, b = _affine_check(x, w, b)
    out = x.reshape(x.shape[0], -1) @ w + b  # (N, D) @ (D, M) -> (N, M)
    return out.astype(float_dtype(x, w, b), copy=False), (x, w, b)


def affine_backward(
    dout: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dout: (N, M)`` -> ``dx`` (the shape of ``x``), ``dw: (D, M)``, ``db: (M,)``:
    ``dx = dout @ w.T``, ``dw = x.T @ dout``, ``db = sum of dout over N``."""
    x, w, b = cache
    N = x.shape[0]
    dout = check_shape("dout", dout, (N, w.shape[1]), "(N, M)")
    dtype = float_dtype(x, w, b, dout)
    dx = (dout @ w.T).reshape(x.shape).astype(dtype, copy=False)  # (N, d_1, ..., d_k)
    dw = (x.reshape(N, -1).T @ dout).astype(dtype, copy=False)  # (D, M)
    db = dout.sum(axis=0, dtype=dtype)  # (M,)
    return dx, dw, db


affine_forward = affine_forward_fast
affine_backward_naive = affine_backward
affine_backward_fast = affine_backward


# --------------------------------------------------------------------------- dropout


class DropoutCache(NamedTuple):
    mask: np.ndarray | None  # kept / (1 - p), or None in eval mode
    mode: str


def dropout_forward(
    x: np.ndarray, *, p: float = 0.5, mode: str = "train",
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, DropoutCache]:
    """Inverted dropout: zero each activation with probability ``p`` in training and
    scale the survivors by ``1 / (1 - p)``, so that evaluation is the identity.

    Args:
        x: any shape.
        p: probability of dropping a unit, in ``[0, 1]`` (``p = 1`` drops all).
        mode: ``"train"`` or ``"eval"`` (returns ``x`` unchanged).
        seed: an int or a ``np.random.Generator``, for a reproducible mask.

    Returns:
        ``out`` of the shape of ``x`` and the cache (the scaled mask).
    """
    x = np.asarray(x)
    p = check_probability("p", p)
    check_choice("mode", mode, MODES)
    x = x.astype(float_dtype(x), copy=False)
    if mode == "eval" or p == 0.0:
        return x.copy(), DropoutCache(None, mode)
    rng = np.random.default_rng(seed)
    keep = rng.random(x.shape) >= p  # each unit survives with probability 1 - p
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=x.dtype)  # nothing survives, nothing to scale
    else:
        mask = keep.astype(x.dtype) / (1.0 - p)
    return x * mask, DropoutCache(mask, mode)


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """The gradient flows through the surviving units, scaled like them."""
    mask, _ = cache
    dout = np.asarray(dout)
    if mask is None:
        return dout.astype(float_dtype(dout), copy=True)
    dout = check_shape("dout", dout, mask.shape, "the shape of x")
    return dout * mask
