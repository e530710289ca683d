"""Softmax cross-entropy loss, with its gradient.

Lecture: ``lectures/01_fully_connected.ipynb`` (the loss) and
``lectures/08_lenet.ipynb`` (training with it).
"""

from __future__ import annotations

import numpy as np

from ._validate import check_ndim, float_dtype


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``scores: (N, K)``; subtracting the row maximum first
    keeps ``exp`` from overflowing and changes nothing else."""
    scores = check_ndim("scores", scores, 2, "(N, K)")
    shifted = scores - scores.max(axis=1, keepdims=True)  # (N, K), max is 0
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(
    scores: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of the softmax of ``scores`` against the labels ``y``.

    Args:
        scores: class scores (logits) ``(N, K)``.
        y: labels ``(N,)``, integers in ``[0, K)``.

    Returns:
        ``loss = -mean_n log softmax(scores)[n, y[n]]`` and
        ``dscores = (softmax(scores) - onehot(y)) / N``, ``(N, K)``.
    """
    scores = check_ndim("scores", scores, 2, "(N, K)")
    y = check_ndim("y", y, 1, "(N,)")
    N, K = scores.shape
    if y.shape[0] != N:
        raise ValueError(f"expected y of shape (N,) = ({N},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"expected integer labels y, got dtype {y.dtype}")
    if N and (y.min() < 0 or y.max() >= K):
        raise ValueError(
            f"expected labels in [0, K) = [0, {K}), got values from {y.min()} to "
            f"{y.max()}"
        )
    scores = scores.astype(float_dtype(scores), copy=False)
    shifted = scores - scores.max(axis=1, keepdims=True)  # (N, K)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dscores = np.exp(log_probs)  # softmax, (N, K)
    dscores[np.arange(N), y] -= 1
    dscores /= N
    return float(loss), dscores
