"""The classic image kernels and what they do to a picture.

Lecture: ``lectures/03_convolution.ipynb``. All kernels are used with
cross-correlation (``cnn_course.ops.correlate2d``), the deep-learning convention.
"""

from __future__ import annotations

import numpy as np

from .ops import check_ndim, correlate2d


def identity(size: int = 3) -> np.ndarray:
    """A ``(size, size)`` kernel that copies the centre pixel; ``size`` must be odd."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"expected an odd kernel size >= 1, got {size}")
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return k


def box_blur(size: int = 3) -> np.ndarray:
    """The ``(size, size)`` mean filter: every weight is ``1 / size**2``."""
    if size < 1:
        raise ValueError(f"expected a kernel size >= 1, got {size}")
    return np.full((size, size), 1.0 / size**2)


def sobel_x() -> np.ndarray:
    """Lx = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]: responds to vertical edges."""
    return np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def sobel_y() -> np.ndarray:
    """Ly = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]: responds to horizontal edges."""
    return sobel_x().T.copy()


def gradient_magnitude(image: np.ndarray, mode: str = "same") -> np.ndarray:
    """``sqrt(Lx^2 + Ly^2)`` of a grayscale ``image: (H, W)``: edge strength."""
    image = check_ndim("image", image, 2, "(H, W) grayscale")
    gx = correlate2d(image, sobel_x(), mode)
    gy = correlate2d(image, sobel_y(), mode)
    return np.hypot(gx, gy)


def line_detectors() -> dict[str, np.ndarray]:
    """3x3 detectors of thin vertical, horizontal and diagonal lines."""
    vertical = np.array([[-1.0, 2.0, -1.0]] * 3)
    diagonal = 3 * np.eye(3) - 1.0
    return {
        "vertical": vertical,
        "horizontal": vertical.T.copy(),
        "diagonal": diagonal,
        "anti-diagonal": diagonal[:, ::-1].copy(),
    }


def classic_kernels() -> dict[str, np.ndarray]:
    """Name -> kernel for the lecture's gallery of feature maps."""
    return {
        "identity": identity(),
        "box blur": box_blur(),
        "Sobel x": sobel_x(),
        "Sobel y": sobel_y(),
    }


def filter_bank(image: np.ndarray, kernels: dict[str, np.ndarray],
                mode: str = "same") -> np.ndarray:
    """Apply every kernel to ``image: (H, W)``; return the stack ``(F, H', W')``.

    This is what one convolution layer with ``F`` filters does to one channel.
    """
    image = check_ndim("image", image, 2, "(H, W) grayscale")
    return np.stack([correlate2d(image, k, mode) for k in kernels.values()])
