"""Data that needs no file and no download: scikit-learn's digits, sample photos,
and synthetic shapes with segmentation masks.

Lectures: ``lectures/02_images_as_tensors.ipynb`` (``photo``),
``lectures/08_lenet.ipynb`` (``digits``, the quick dataset of ``cnn-course train``),
``lectures/12_beyond_classification.ipynb`` (``shapes``: a mask per image).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .datasets import ImageDataset, first_n

__all__ = ["digits", "photo", "PHOTOS", "shapes", "SHAPE_CLASSES",
           "SegmentationDataset"]


def digits(limit: int | None = None) -> ImageDataset:
    """scikit-learn's 1,797 handwritten digits, ``uint8 (N, 1, 8, 8)``, labels 0..9.

    The originals are 0..16 counts; they are scaled to 0..255 (``round(v * 255 / 16)``)
    like every other image here. Bundled with scikit-learn: no file, no download.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    scaled = np.round(bunch.images * (255 / 16)).astype(np.uint8)  # (N, 8, 8)
    images = torch.from_numpy(scaled).unsqueeze(1)  # (N, 1, 8, 8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    ds = ImageDataset(images, labels, [str(d) for d in range(10)], "digits")
    return first_n(ds, limit)


#: Photos bundled with scikit-learn (``china``, ``flower``; CC BY 2.0) and
#: scikit-image (public domain / CC0).
PHOTOS = ("china", "flower", "astronaut", "camera", "cat", "coffee", "rocket",
          "coins", "horse", "text", "brick", "grass", "gravel")


def photo(name: str = "cat") -> torch.Tensor:
    """A bundled sample photo as ``uint8 (C, H, W)``: C = 3 for colour, 1 for gray.

    ``name`` is one of :data:`PHOTOS` (``"cat"`` is scikit-image's ``chelsea``).
    """
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        array = load_sample_image(f"{name}.jpg")
    elif name in PHOTOS:
        from skimage import data as skdata

        array = getattr(skdata, "chelsea" if name == "cat" else name)()
    else:
        raise ValueError(f"unknown photo {name!r}; choose one of {PHOTOS}")
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 2:
        array = array[:, :, None]
    array = np.array(array[:, :, :3], dtype=np.uint8)  # a writable copy
    return torch.from_numpy(array).permute(2, 0, 1)  # (C, H, W)


# ----------------------------------------------------------------------------------
# Synthetic shapes with segmentation masks
# ----------------------------------------------------------------------------------

SHAPE_CLASSES = ("circle", "square", "triangle")


class SegmentationDataset(ImageDataset):
    """An :class:`ImageDataset` plus ``masks``: ``int64 (N, H, W)``.

    ``masks`` is 0 on the background and ``label + 1`` on the shape's pixels.
    ``ds[i]`` is ``(x, y, mask)``.
    """

    def __init__(self, images, labels, masks, classes, name="") -> None:
        super().__init__(images, labels, classes, name)
        self.masks = masks

    def __getitem__(self, index):
        x, y = super().__getitem__(index)
        return x, y, self.masks[index]

    def subset(self, indices) -> SegmentationDataset:
        indices = torch.as_tensor(indices, dtype=torch.long)
        return SegmentationDataset(self.images[indices], self.labels[indices],
                                   self.masks[indices], self.classes, self.name)


def _shape_mask(kind: str, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float,
                r: float, angle: float) -> np.ndarray:
    if kind == "circle":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    if kind == "square":
        return (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    # triangle: inside all three edges of an equilateral triangle, turned by angle
    corners = [(cy - r * np.cos(angle + k * 2 * np.pi / 3),
                cx + r * np.sin(angle + k * 2 * np.pi / 3)) for k in range(3)]
    inside = np.ones_like(yy, dtype=bool)
    for (y0, x0), (y1, x1) in zip(corners, corners[1:] + corners[:1]):
        # sign of the cross product says which side of the edge a pixel is on
        cross = (x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0)
        inside &= cross <= 0
    if not inside.any():  # drawn the other way round
        inside = np.ones_like(yy, dtype=bool)
        for (y0, x0), (y1, x1) in zip(corners, corners[1:] + corners[:1]):
            inside &= (x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0) >= 0
    return inside


def shapes(n: int = 1000, size: int = 32, *, seed: int = 0,
           classes: Sequence[str] = SHAPE_CLASSES, channels: int = 3,
           noise: float = 0.05) -> SegmentationDataset:
    """``n`` images of one random shape each, with labels and per-pixel masks.

    Seeded: the same ``seed`` gives the same images. Each image has a random
    background colour and one filled circle, square or triangle of random colour,
    position and size, plus Gaussian noise of std ``noise`` (in [0, 1] units).
    Returns ``images`` ``uint8 (n, channels, size, size)``, ``labels`` ``(n,)`` and
    ``masks`` ``int64 (n, size, size)``: 0 background, ``label + 1`` on the shape.
    """
    unknown = [c for c in classes if c not in SHAPE_CLASSES]
    if unknown:
        raise ValueError(f"unknown shapes {unknown}; choose from {SHAPE_CLASSES}")
    if size < 8:
        raise ValueError(f"expected size >= 8 pixels, got {size}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    images = np.empty((n, size, size, channels), dtype=np.float64)
    masks = np.zeros((n, size, size), dtype=np.int64)
    labels = rng.integers(0, len(classes), size=n)
    for i in range(n):
        r = rng.uniform(0.15, 0.3) * size
        cy, cx = rng.uniform(r, size - r, size=2)
        mask = _shape_mask(classes[labels[i]], yy, xx, cy, cx, r,
                           rng.uniform(0, 2 * np.pi))
        background = rng.uniform(0.0, 0.45, size=channels)
        foreground = rng.uniform(0.55, 1.0, size=channels)
        if rng.random() < 0.5:  # dark shape on a light background, half the time
            background, foreground = 1 - background, 1 - foreground
        images[i] = np.where(mask[:, :, None], foreground, background)
        masks[i][mask] = labels[i] + 1
    images += rng.normal(0.0, noise, size=images.shape)
    images = np.clip(np.round(images * 255), 0, 255).astype(np.uint8)
    return SegmentationDataset(
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(masks),
        list(classes), f"shapes (seed {seed})")
