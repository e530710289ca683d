"""Any folder of class sub-folders as one dataset in memory.

Lectures: ``lectures/11_transfer_learning.ipynb`` (your own photos,
``cnn-course train --dataset folder:PATH``); the CIFAR-10 JPEG copy is read
through it too.

``image_folder("photos/")`` reads ``photos/<class>/*.jpg`` (PNG, BMP, GIF, WebP
too): the sub-folder names are the classes, sorted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .datasets import ImageDataset
from .sources import DataError

__all__ = ["image_folder", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def _class_folders(root: Path, classes: Sequence[str] | None) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"no folder at {root}: expected one sub-folder per class")
    found = sorted(p for p in root.iterdir() if p.is_dir() and not
                   p.name.startswith("."))
    if classes is None:
        if not found:
            raise DataError(f"{root} has no class sub-folders (expected e.g. "
                            f"{root}/cat/001.jpg, {root}/dog/001.jpg)")
        return found
    names = {p.name: p for p in found}
    missing = [c for c in classes if c not in names]
    if missing:
        raise DataError(f"{root} has no sub-folder for {missing}; it has "
                        f"{sorted(names)}")
    return [names[c] for c in classes]


def image_folder(root: str | os.PathLike, size: int | tuple[int, int] | None = None,
                 *, classes: Sequence[str] | None = None, channels: int = 3,
                 limit_per_class: int | None = None) -> ImageDataset:
    """Every image in ``root/<class>/*`` (JPEG, PNG, ...), as one dataset in memory.

    Classes are the sub-folder names, sorted (or ``classes``, in that order, for a
    subset); files are read in sorted order. ``channels`` is 3 (RGB) or 1 (gray).
    Images must all have one size unless ``size`` (an int for squares, or
    ``(H, W)``) resizes them. Returns ``uint8 (N, channels, H, W)``.
    """
    from PIL import Image, UnidentifiedImageError

    if channels not in (1, 3):
        raise ValueError(f"expected channels 1 or 3, got {channels}")
    mode = "RGB" if channels == 3 else "L"
    if isinstance(size, int):
        size = (size, size)
    folders = _class_folders(Path(root), classes)
    arrays, labels = [], []
    for label, folder in enumerate(folders):
        files = sorted(p for p in folder.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
        if limit_per_class is not None:
            files = files[:limit_per_class]
        for file in files:
            try:
                with Image.open(file) as img:
                    img = img.convert(mode)
                    if size is not None and img.size != (size[1], size[0]):
                        img = img.resize((size[1], size[0]), Image.BILINEAR)
                    array = np.asarray(img, dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as err:
                raise DataError(f"cannot read image {file}: {err}") from err
            if arrays and array.shape[:2] != arrays[0].shape[:2]:
                raise DataError(
                    f"{file} is {array.shape[1]}x{array.shape[0]} but "
                    f"{arrays[0].shape[1]}x{arrays[0].shape[0]} came first: pass "
                    f"size=... to resize every image to one size"
                )
            arrays.append(array)
            labels.append(label)
    if not arrays:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    stacked = np.stack(arrays)  # (N, H, W) or (N, H, W, 3)
    if stacked.ndim == 3:
        stacked = stacked[:, :, :, None]
    images = torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()
    return ImageDataset(images, torch.tensor(labels, dtype=torch.long),
                        [f.name for f in folders], Path(root).name)
