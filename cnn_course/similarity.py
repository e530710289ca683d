"""Convolution as a similarity score: dot product, cosine, Pearson, template matching.

Lecture: ``lectures/03_convolution.ipynb``. A large activation means the image patch
looks like the kernel; normalising the dot product makes that score independent of
brightness (cosine) and of brightness and offset (Pearson).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .ops._validate import check_ndim


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"expected a and b of the same size, got {a.size} and {b.size}")
    return a, b


def dot(a, b) -> float:
    """Sum of elementwise products: what one output of a convolution computes."""
    a, b = _pair(a, b)
    return float(a @ b)


def cosine(a, b) -> float:
    """``a.b / (|a| |b|)``: 1 for vectors pointing the same way, whatever their length."""
    a, b = _pair(a, b)
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    if norms == 0:
        raise ValueError("cosine similarity is undefined for a zero vector")
    return float(a @ b / norms)


def pearson(a, b) -> float:
    """Cosine similarity of the centred vectors: invariant to scale and offset."""
    a, b = _pair(a, b)
    return cosine(a - a.mean(), b - b.mean())


def match_template(image: np.ndarray, template: np.ndarray,
                   eps: float = 1e-12) -> np.ndarray:
    """Normalised cross-correlation of ``template: (h, w)`` at every place of ``image``.

    ``image: (H, W)`` -> scores ``(H - h + 1, W - w + 1)`` in ``[-1, 1]``: the Pearson
    correlation between the template and each window. Flat windows (zero variance)
    score 0.
    """
    image = check_ndim("image", image, 2, "(H, W) grayscale")
    template = check_ndim("template", template, 2, "(h, w)").astype(np.float64)
    if template.shape[0] > image.shape[0] or template.shape[1] > image.shape[1]:
        raise ValueError(
            f"template of shape {template.shape} is larger than the image {image.shape}"
        )
    t = template - template.mean()
    t_norm = np.sqrt(np.sum(t**2))
    if t_norm < eps:
        raise ValueError("template is flat (zero variance): nothing to match")
    windows = sliding_window_view(image.astype(np.float64), template.shape)
    # (H', W', h, w): every window a view of the image, no copy
    w_mean = windows.mean(axis=(2, 3), keepdims=True)  # (H', W', 1, 1)
    centred = windows - w_mean  # (H', W', h, w)
    numer = np.einsum("ijpq,pq->ij", centred, t)  # (H', W')
    w_norm = np.sqrt(np.einsum("ijpq,ijpq->ij", centred, centred))  # (H', W')
    out = np.zeros_like(numer)
    ok = w_norm > eps
    out[ok] = numer[ok] / (w_norm[ok] * t_norm)
    return out


def best_match(scores: np.ndarray) -> tuple[int, int]:
    """Row and column of the highest score: the template's top-left corner."""
    r, c = np.unravel_index(np.argmax(scores), scores.shape)
    return int(r), int(c)
