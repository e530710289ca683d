"""MNIST and Fashion-MNIST: LeCun's idx files, md5-checked, downloaded when missing.

Lectures: ``lectures/08_lenet.ipynb`` (MNIST), ``lectures/09_overfitting.ipynb``
(Fashion-MNIST).

``mnist(split, root)`` reads the four ``*-ubyte.gz`` files under ``<root>/mnist/``
(see :mod:`.sources` for where the root is and how missing files are fetched) and
returns an :class:`~cnn_course.data.datasets.ImageDataset` of
``uint8 (N, 1, 28, 28)`` images.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from .datasets import ImageDataset, check_split, first_n
from .sources import DataError, Downloader, RemoteFile, fetch

__all__ = ["read_idx", "mnist", "fashion_mnist", "MNIST_FILES", "FASHION_FILES",
           "FASHION_CLASSES"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4",
               0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (``.gz`` or plain), LeCun's format for MNIST.

    The header is two zero bytes, a type code (0x08 = uint8), the number of
    dimensions, then one big-endian int32 per dimension. A truncated file, a wrong
    header or a payload of the wrong length raises :class:`DataError`.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (EOFError, gzip.BadGzipFile, OSError) as err:
        raise DataError(f"{path} is not a complete gzip file ({err}); delete it and "
                        f"download it again") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an idx file (bad header {raw[:4]!r})")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}i", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    payload = raw[4 + 4 * ndim:]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(payload) != expected:
        raise DataError(f"{path} holds {len(payload):,} bytes of data, its header "
                        f"{shape} needs {expected:,}: the file is truncated")
    return np.frombuffer(payload, dtype=dtype).reshape(shape)


_LECUN = "http://yann.lecun.com/exdb/mnist/"
_MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_ZALANDO = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                   "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _idx_dataset(name: str, folder: str, files: dict[str, str],
                 urls: tuple[str, ...], classes: list[str], split: str,
                 root, cache, download_missing, limit, downloader) -> ImageDataset:
    check_split(split)
    prefix = "train" if split == "train" else "t10k"
    arrays = []
    for kind in ("images-idx3", "labels-idx1"):
        filename = f"{prefix}-{kind}-ubyte.gz"
        remote = RemoteFile(filename, files[filename],
                            tuple(base + filename for base in urls))
        path = fetch(remote, folder, root, cache=cache,
                     download_missing=download_missing,
                     downloader=downloader)
        arrays.append(read_idx(path))
    images, labels = arrays
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{name} {split}: {images.shape[0]} images but "
                        f"{labels.shape[0]} labels")
    images = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 1, 28, 28)
    labels = torch.from_numpy(labels.astype(np.int64))  # (N,)
    return first_n(ImageDataset(images, labels, classes, f"{name} {split}"), limit)


def mnist(split: str = "train", root: str | os.PathLike | None = None, *,
          cache: str | os.PathLike | None = None, download: bool = True,
          limit: int | None = None,
          downloader: Downloader | None = None) -> ImageDataset:
    """MNIST digits: 60,000 train or 10,000 test images, ``uint8 (N, 1, 28, 28)``.

    Labels 0..9. Reads ``<root>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``
    (LeCun's canonical files), downloading them when missing and ``download``.
    ``limit`` keeps the first ``limit`` examples (for fast runs). ``downloader``
    replaces pooch's HTTP download (see :func:`~cnn_course.data.sources.download`).
    """
    return _idx_dataset("mnist", "mnist", MNIST_FILES, (_LECUN, _MNIST_MIRROR),
                        [str(d) for d in range(10)], split, root, cache, download,
                        limit, downloader)


def fashion_mnist(split: str = "train", root: str | os.PathLike | None = None, *,
                  cache: str | os.PathLike | None = None, download: bool = True,
                  limit: int | None = None,
                  downloader: Downloader | None = None) -> ImageDataset:
    """Fashion-MNIST: 60,000 / 10,000 clothes images, ``uint8 (N, 1, 28, 28)``.

    Ten classes (``FASHION_CLASSES``), files in ``<root>/fashion-mnist/``, same
    layout and format as :func:`mnist`.
    """
    return _idx_dataset("fashion-mnist", "fashion-mnist", FASHION_FILES, (_ZALANDO,),
                        FASHION_CLASSES, split, root, cache, download, limit,
                        downloader)
