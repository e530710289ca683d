"""CIFAR-10: the official python tarball, or the course's JPEG copy.

Lectures: ``lectures/09_overfitting.ipynb`` (augmentation on CIFAR-10),
``lectures/10_architectures.ipynb``, ``lectures/11_transfer_learning.ipynb`` (the
six animal classes as the source task, the four vehicles as the target).

``cifar10(split, root, classes=...)`` returns ``uint8 (N, 3, 32, 32)`` images. The
JPEG copy is extracted and decoded once, into the cache, never next to the tarball
(the data root may be read-only).
"""

from __future__ import annotations

import os
import pickle
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .datasets import ImageDataset, check_split, first_n
from .folder import image_folder
from .sources import (
    DataError,
    Downloader,
    RemoteFile,
    cache_dir,
    check_md5,
    data_root,
    extract_once,
    fetch,
)

__all__ = ["cifar10", "CIFAR10_CLASSES", "CIFAR10_ANIMALS", "CIFAR10_VEHICLES",
           "CIFAR10_PYTHON", "CIFAR10_JPG_MD5", "CIFAR10_JPG_ARRAY_MD5"]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                   "horse", "ship", "truck"]
CIFAR10_ANIMALS = ["bird", "cat", "deer", "dog", "frog", "horse"]
CIFAR10_VEHICLES = ["airplane", "automobile", "ship", "truck"]

CIFAR10_PYTHON = RemoteFile(
    "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",))
#: The course's JPEG copy (not downloadable: only found in a data root).
CIFAR10_JPG_MD5 = "34ec1c07be108afe1a3754f7105b69d6"
#: md5 of the decoded JPEG copy's uint8 (N, 32, 32, 3) arrays, per split.
CIFAR10_JPG_ARRAY_MD5 = {"train": "72662491311eea90632a1d0f92198ecd",
                         "test": "a085fc7e64a3745bfb901013e5654098"}


def _read_cifar_python(tarball: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    names = ([f"data_batch_{i}" for i in range(1, 6)] if split == "train"
             else ["test_batch"])
    data, labels = [], []
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for name in names:
                member = tar.extractfile(f"cifar-10-batches-py/{name}")
                batch = pickle.load(member, encoding="latin1")
                data.append(batch["data"])
                labels.extend(batch["labels"])
    except (tarfile.TarError, EOFError, KeyError, OSError) as err:
        raise DataError(f"cannot read {tarball}: {err}") from err
    images = np.concatenate(data).reshape(-1, 3, 32, 32)  # (N, 3, 32, 32)
    return images, np.asarray(labels, dtype=np.int64)


def _cifar10_jpg(folder: Path, split: str, cache: Path) -> tuple[np.ndarray,
                                                                  np.ndarray]:
    """The JPEG copy: decoded once, then kept as ``.npy`` arrays in the cache."""
    decoded = cache / "cifar10-jpg" / f"{split}-decoded.npz"
    if decoded.is_file():
        try:
            with np.load(decoded) as arrays:
                return arrays["images"], arrays["labels"]
        except (OSError, ValueError, KeyError, EOFError):  # damaged: decode again
            decoded.unlink(missing_ok=True)
    if (folder / split).is_dir():  # an already extracted copy in the data root
        extracted = folder
    else:
        tarball = folder / "cifar10-jpg.tar.gz"
        check_md5(tarball, CIFAR10_JPG_MD5)
        extracted = extract_once(tarball, cache / "cifar10-jpg" / "extracted")
    ds = image_folder(extracted / split, classes=CIFAR10_CLASSES)
    images = ds.images.permute(0, 2, 3, 1).contiguous().numpy()  # (N, 32, 32, 3)
    labels = ds.labels.numpy()
    decoded.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{decoded.stem}.", suffix=".npz",
                               dir=decoded.parent)
    with os.fdopen(fd, "wb") as f:
        np.savez(f, images=images, labels=labels)
    os.replace(tmp, decoded)  # readers see the whole file or none
    return images, labels


def cifar10(split: str = "train", root: str | os.PathLike | None = None, *,
            classes: Sequence[str] | None = None,
            cache: str | os.PathLike | None = None, download: bool = True,
            limit: int | None = None,
            downloader: Downloader | None = None) -> ImageDataset:
    """CIFAR-10: 50,000 train or 10,000 test colour images, ``uint8 (N, 3, 32, 32)``.

    Sources, in order:

    1. the official python tarball ``<root>/cifar10/cifar-10-python.tar.gz``;
    2. the course's JPEG copy ``<root>/cifar10-jpg/``: either the tarball
       ``cifar10-jpg.tar.gz`` (extracted once into the cache, never next to the
       tarball) or an already extracted ``train/<class>/`` and ``test/<class>/``;
    3. a download of the official tarball when ``download``.

    ``classes`` picks a subset, e.g. :data:`CIFAR10_ANIMALS`, relabelled 0..k-1 in
    the order given. ``limit`` keeps the first ``limit`` examples.
    """
    check_split(split)
    base = data_root(root, cache)
    cache_path = cache_dir(cache)
    python_tar = [base / "cifar10" / CIFAR10_PYTHON.name,
                  cache_path / "cifar10" / CIFAR10_PYTHON.name]
    jpg_folder = base / "cifar10-jpg"
    if any(p.is_file() for p in python_tar):
        path = fetch(CIFAR10_PYTHON, "cifar10", root, cache=cache,
                     download_missing=False)
        images, labels = _read_cifar_python(path, split)
        name = "cifar10"
    elif (jpg_folder / "cifar10-jpg.tar.gz").is_file() or (jpg_folder / split).is_dir():
        images, labels = _cifar10_jpg(jpg_folder, split, cache_path)
        images = images.transpose(0, 3, 1, 2)  # (N, 3, 32, 32)
        name = "cifar10-jpg"
    else:
        path = fetch(CIFAR10_PYTHON, "cifar10", root, cache=cache,
                     download_missing=download, downloader=downloader)
        images, labels = _read_cifar_python(path, split)
        name = "cifar10"
    images_t = torch.from_numpy(np.ascontiguousarray(images))
    labels_t = torch.from_numpy(labels.astype(np.int64))
    chosen = list(CIFAR10_CLASSES)
    if classes is not None:
        unknown = [c for c in classes if c not in CIFAR10_CLASSES]
        if unknown:
            raise ValueError(f"unknown CIFAR-10 classes {unknown}; they are "
                             f"{CIFAR10_CLASSES}")
        old = torch.tensor([CIFAR10_CLASSES.index(c) for c in classes])
        keep = torch.isin(labels_t, old)
        remap = torch.full((10,), -1, dtype=torch.long)
        remap[old] = torch.arange(len(classes))
        images_t, labels_t = images_t[keep], remap[labels_t[keep]]
        chosen = list(classes)
    return first_n(ImageDataset(images_t, labels_t, chosen, f"{name} {split}"), limit)
