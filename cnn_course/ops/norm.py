"""Normalisation layers: batch normalisation (1-D and 2-D) and AlexNet's local
response normalisation, forward and backward.

Lecture: ``lectures/09_overfitting.ipynb``.

Batch normalisation standardises every channel with the statistics of the batch,
``x_hat = (x - mean) / sqrt(var + eps)``, then rescales, ``out = gamma * x_hat +
beta``. In training it also updates running averages of mean and variance, which
replace the batch statistics in evaluation. Conventions follow torch:
``running = (1 - momentum) * running + momentum * batch``, with the unbiased batch
variance in the running average and the biased one in the normalisation.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validate import (
    as_int,
    check_choice,
    check_ndim,
    check_shape,
    float_dtype,
)

MODES = ("train", "eval")


class BatchNormCache(NamedTuple):
    x_hat: np.ndarray
    gamma: np.ndarray
    inv_std: np.ndarray  # 1 / sqrt(var + eps), per channel
    mode: str
    axes: tuple[int, ...]  # the axes averaged over: all but the channel axis 1


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel ``(C,)`` vector against ``x``."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _batchnorm_forward(x, gamma, beta, running_mean, running_var, mode, momentum,
                       eps, letters):
    check_choice("mode", mode, MODES)
    C = x.shape[1]
    gamma = check_shape("gamma", gamma, (C,), "(C,)")
    beta = check_shape("beta", beta, (C,), "(C,)")
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is None:
            continue
        if not isinstance(stat, np.ndarray) or not np.issubdtype(stat.dtype,
                                                                  np.floating):
            raise ValueError(
                f"expected {name} to be a float numpy array of shape (C,) (it is "
                f"updated in place), got {type(stat).__name__}"
                + (f" of dtype {stat.dtype}" if isinstance(stat, np.ndarray) else "")
            )
        check_shape(name, stat, (C,), "(C,)")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"expected momentum in [0, 1], got {momentum!r}")
    if eps <= 0:
        raise ValueError(f"expected eps > 0, got {eps!r}")
    dtype = float_dtype(x, gamma, beta)
    x = x.astype(dtype, copy=False)
    axes = (0,) + tuple(range(2, x.ndim))  # every axis but the channels
    shape = _channel_shape(x)  # (1, C, 1, 1): (C,) vectors reshaped to this broadcast

    if mode == "train":
        count = x.size // C  # numbers per channel
        if count < 2:
            raise ValueError(
                f"expected more than one value per channel in training, got x of "
                f"shape {letters} = {x.shape}"
            )
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)  # biased: divides by count
        if running_mean is not None:
            # in place, like torch: the caller's arrays carry the state
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * count / (count - 1)  # unbiased
    else:
        if running_mean is None or running_var is None:
            raise ValueError("expected running_mean and running_var in eval mode")
        mean = np.asarray(running_mean, dtype=dtype)
        var = np.asarray(running_var, dtype=dtype)

    inv_std = 1.0 / np.sqrt(var + eps)  # (C,)
    x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return out, BatchNormCache(x_hat, gamma, inv_std, mode, axes)


def batchnorm2d_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *,
    running_mean: np.ndarray | None = None, running_var: np.ndarray | None = None,
    mode: str = "train", momentum: float = 0.1, eps: float = 1e-5,
) -> tuple[np.ndarray, BatchNormCache]:
    """Spatial batch normalisation: statistics per channel over ``(N, H, W)``.

    Args:
        x: ``(N, C, H, W)``.
        gamma, beta: scale and shift ``(C,)``.
        running_mean, running_var: ``(C,)`` float arrays, updated in place in
            ``"train"`` mode (pass ``None`` to skip), used instead of the batch
            statistics in ``"eval"`` mode.
        mode: ``"train"`` or ``"eval"``.
        momentum: weight of the new batch in the running averages (torch's
            convention; CS231n's 0.9 is torch's 0.1).
        eps: added to the variance before the square root.

    Returns:
        ``out: (N, C, H, W)`` and the cache.
    """
    x = check_ndim("x", x, 4, "(N, C, H, W)")
    return _batchnorm_forward(x, gamma, beta, running_mean, running_var, mode,
                              momentum, eps, "(N, C, H, W)")


def batchnorm1d_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *,
    running_mean: np.ndarray | None = None, running_var: np.ndarray | None = None,
    mode: str = "train", momentum: float = 0.1, eps: float = 1e-5,
) -> tuple[np.ndarray, BatchNormCache]:
    """Batch normalisation of features ``x: (N, C)`` or sequences ``x: (N, C, L)``:
    statistics per channel over ``N`` (and ``L``). Same arguments as
    :func:`batchnorm2d_forward`."""
    x = np.asarray(x)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"expected x of shape (N, C) or (N, C, L) (2-D or 3-D), got shape "
            f"{x.shape} ({x.ndim}-D)"
        )
    return _batchnorm_forward(x, gamma, beta, running_mean, running_var, mode,
                              momentum, eps, "(N, C) or (N, C, L)")


def _check_bn_dout(dout, cache: BatchNormCache) -> np.ndarray:
    return check_shape("dout", dout, cache.x_hat.shape, "the shape of x")


def batchnorm_backward_naive(
    dout: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of batch normalisation, one node of the computational graph at a
    time (``mean -> centred -> var -> inv_std -> x_hat -> out``).

    Returns ``dx`` (the shape of ``x``), ``dgamma: (C,)``, ``dbeta: (C,)``.
    """
    x_hat, gamma, inv_std, mode, axes = cache
    dout = _check_bn_dout(dout, cache)
    shape = _channel_shape(x_hat)  # (1, C, 1, 1), for the per-channel vectors
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    dx_hat = dout * gamma.reshape(shape)
    if mode == "eval":  # the statistics are constants: a per-channel affine map
        return dx_hat * inv_std.reshape(shape), dgamma, dbeta
    count = x_hat.size // x_hat.shape[1]
    std = 1.0 / inv_std
    centred = x_hat * std.reshape(shape)  # x - mean
    # x_hat = centred * inv_std
    d_inv_std = (dx_hat * centred).sum(axis=axes)
    d_centred = dx_hat * inv_std.reshape(shape)
    # inv_std = (var + eps) ** -0.5
    d_var = d_inv_std * -0.5 * inv_std**3
    # var = mean(centred ** 2)
    d_centred += 2.0 * centred * d_var.reshape(shape) / count
    # centred = x - mean, mean = mean(x)
    d_mean = -d_centred.sum(axis=axes)
    dx = d_centred + d_mean.reshape(shape) / count
    return dx, dgamma, dbeta


def batchnorm_backward_fast(
    dout: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same as :func:`batchnorm_backward_naive`, with the graph simplified on paper:

    ``dx = gamma * inv_std * (dout - mean(dout) - x_hat * mean(dout * x_hat))``.
    """
    x_hat, gamma, inv_std, mode, axes = cache
    dout = _check_bn_dout(dout, cache)
    shape = _channel_shape(x_hat)  # (1, C, 1, 1), for the per-channel vectors
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    scale = (gamma * inv_std).reshape(shape)
    if mode == "eval":
        return dout * scale, dgamma, dbeta
    count = x_hat.size // x_hat.shape[1]
    mean_dout = (dbeta / count).reshape(shape)
    mean_dout_x_hat = (dgamma / count).reshape(shape)
    dx = scale * (dout - mean_dout - x_hat * mean_dout_x_hat)
    return dx, dgamma, dbeta


batchnorm2d_backward_naive = batchnorm_backward_naive
batchnorm2d_backward_fast = batchnorm_backward_fast
batchnorm2d_backward = batchnorm_backward_fast
batchnorm1d_backward_naive = batchnorm_backward_naive
batchnorm1d_backward_fast = batchnorm_backward_fast
batchnorm1d_backward = batchnorm_backward_fast


# --------------------------------------------------------------------------- LRN


class LRNCache(NamedTuple):
    x: np.ndarray
    scale: np.ndarray  # k + alpha * (sum of squares over the channel window)
    n: int
    alpha: float
    beta: float


def _channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """``out[:, c] = sum of a[:, c - before : c + after + 1]`` (clipped at the edges),
    with a cumulative sum over the channel axis."""
    C = a.shape[1]
    padded = np.zeros((a.shape[0], C + 1) + a.shape[2:], dtype=a.dtype)
    np.cumsum(a, axis=1, out=padded[:, 1:])  # padded[:, c] = sum of a[:, :c]
    hi = np.minimum(np.arange(C) + after + 1, C)
    lo = np.maximum(np.arange(C) - before, 0)
    return padded[:, hi] - padded[:, lo]


def local_response_norm_forward(
    x: np.ndarray, *, n: int = 5, k: float = 2.0, alpha: float = 1e-4,
    beta: float = 0.75,
) -> tuple[np.ndarray, LRNCache]:
    """Local response normalisation across channels, as in AlexNet (2012):

    ``out[:, c] = x[:, c] / (k + alpha * sum_{c'} x[:, c']**2) ** beta``

    where ``c'`` runs over ``n`` neighbouring channels, ``c - n//2`` to
    ``c + (n-1)//2``, clipped at the edges. The defaults are AlexNet's ``k = 2,
    n = 5, alpha = 1e-4, beta = 0.75``.

    Note: torch's ``F.local_response_norm(x, size, alpha, beta, k)`` divides
    ``alpha`` by ``size``; it equals this function with ``alpha = torch_alpha / n``.

    Args:
        x: ``(N, C, H, W)`` (or any ``(N, C, ...)``).

    Returns:
        ``out`` of the shape of ``x``, and the cache.
    """
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(
            f"expected x of shape (N, C, H, W) or (N, C, ...) (3-D or more), got "
            f"shape {x.shape} ({x.ndim}-D)"
        )
    n = as_int("n", n, minimum=1)
    if k <= 0 or alpha < 0 or beta < 0:
        raise ValueError(
            f"expected k > 0, alpha >= 0 and beta >= 0, got k={k!r}, alpha={alpha!r}, "
            f"beta={beta!r}"
        )
    x = x.astype(float_dtype(x), copy=False)
    scale = k + alpha * _channel_window_sum(x * x, n // 2, (n - 1) // 2)
    out = x * scale**-beta
    return out, LRNCache(x, scale, n, alpha, beta)


def local_response_norm_backward(dout: np.ndarray, cache: LRNCache) -> np.ndarray:
    """Backward of :func:`local_response_norm_forward`.

    ``out[c] = x[c] * scale[c]**-beta`` and ``scale[c]`` depends on the squares of
    the channels in the window of ``c``; so channel ``j`` gets its own term
    ``dout[j] * scale[j]**-beta`` and, from every ``c`` whose window holds ``j``,
    ``-2 * alpha * beta * x[j] * dout[c] * x[c] * scale[c]**(-beta - 1)``. The
    channels ``c`` whose window holds ``j`` are ``j - (n-1)//2`` to ``j + n//2``:
    the window mirrored.
    """
    x, scale, n, alpha, beta = cache
    dout = check_shape("dout", dout, x.shape, "the shape of x")
    through_scale = dout * x * scale ** (-beta - 1.0)
    gathered = _channel_window_sum(through_scale, (n - 1) // 2, n // 2)
    return dout * scale**-beta - 2.0 * alpha * beta * x * gathered
