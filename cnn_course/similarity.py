"""Convolution as a similarity score: dot product, cosine, Pearson, template matching.

Lecture: ``lectures/03_convolution.ipynb``. A large activation means the image patch
looks like the kernel; normalising the dot product makes that score independent of
brightness (cosine) and of brightness and offset (Pearson).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .ops import check_ndim


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"expected a and b of the same size, got {a.size} and {b.size}")
    return a, b


def dot(a, b) -> float:
    """Sum of elementwise products: what one output of a convolution computes."""
    a, b = _pair(a, b)
    return float(a @ b)


def cosine(a, b) -> float:
    """``a.b / (|a| |b|)``: 1 for vectors pointing the same way, whatever their
    length."""
    a, b = _pair(a, b)
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    if norms == 0:
        raise ValueError("cosine similarity is undefined for a zero vector")
    return float(a @ b / norms)


def pearson(a, b) -> float:
    """Cosine similarity of the centred vectors: invariant to scale and offset."""
    a, b = _pair(a, b)
    return cosine(a - a.mean(), b - b.mean())


def _box_sum(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sum of every ``(h, w)`` window of ``a``, in O(H*W) with an integral image."""
    c = np.pad(a.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))  # (H + 1, W + 1)
    return c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]  # (H - h + 1, W - w + 1)


def match_template(image: np.ndarray, template: np.ndarray,
                   eps: float = 1e-12) -> np.ndarray:
    """Normalised cross-correlation of ``template: (h, w)`` at every place of ``image``.

    ``image: (H, W)`` -> scores ``(H - h + 1, W - w + 1)`` in ``[-1, 1]``: the Pearson
    correlation between the template and each window. Flat windows (zero variance)
    score 0.
    """
    image = check_ndim("image", image, 2, "(H, W) grayscale").astype(np.float64)
    template = check_ndim("template", template, 2, "(h, w)").astype(np.float64)
    h, w = template.shape
    if h > image.shape[0] or w > image.shape[1]:
        raise ValueError(
            f"template of shape {template.shape} is larger than the image {image.shape}"
        )
    t = template - template.mean()
    t_norm = np.sqrt(np.sum(t**2))
    if t_norm < eps:
        raise ValueError("template is flat (zero variance): nothing to match")
    # The template is centred, so sum(window * t) already equals
    # sum((window - mean(window)) * t): one plain correlation gives the numerator.
    windows = sliding_window_view(image, (h, w))  # (H', W', h, w), a view: no copy
    numer = np.einsum("ijpq,pq->ij", windows, t)  # (H', W')
    n = h * w
    s1, s2 = _box_sum(image, h, w), _box_sum(image**2, h, w)  # (H', W') each
    w_norm = np.sqrt(np.maximum(s2 - s1**2 / n, 0.0))  # |window - mean(window)|
    out = np.zeros_like(numer)
    ok = w_norm > eps * max(1.0, float(np.sqrt(s2.max())))
    out[ok] = numer[ok] / (w_norm[ok] * t_norm)
    return np.clip(out, -1.0, 1.0)


def best_match(scores: np.ndarray) -> tuple[int, int]:
    """Row and column of the highest score: the template's top-left corner."""
    r, c = np.unravel_index(np.argmax(scores), scores.shape)
    return int(r), int(c)
