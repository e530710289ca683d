"""The course's dataset names, in one place: ``load("cifar10-animals")``.

Lectures: ``lectures/08_lenet.ipynb`` (``mnist``, ``digits``),
``lectures/09_overfitting.ipynb`` (``fashion-mnist``, ``cifar10``),
``lectures/11_transfer_learning.ipynb`` (``cifar10-animals`` as the source task,
``cifar10-vehicles`` as the target, ``folder:PATH`` for your own photos). The
``cnn-course train --dataset NAME`` and ``cnn-course pretrain --source NAME``
commands and ``scripts/transfer_table.py`` take the same names.

``load(name, root)`` returns :class:`Splits`: the train and test
:class:`~cnn_course.data.datasets.ImageDataset` and the per-channel mean and std
to normalise them with. ``names()`` lists the names; ``folder:PATH`` (a folder of
class sub-folders, or one with ``train/`` and ``test/`` inside) works too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

from .augment import CIFAR10_MEAN, CIFAR10_STD, MNIST_MEAN, MNIST_STD
from .builtin import digits
from .cifar import (
    CIFAR10_ANIMALS,
    CIFAR10_JPG_MD5,
    CIFAR10_PYTHON,
    CIFAR10_VEHICLES,
    cifar10,
)
from .datasets import ImageDataset, per_class
from .folder import image_folder
from .mnist import FASHION_FILES, MNIST_FILES, fashion_mnist, mnist
from .sources import DataError

__all__ = ["Splits", "load", "names", "source_files"]

PathLike = str | os.PathLike | None


class Splits(NamedTuple):
    """What :func:`load` returns: ``train, test, mean, std = load("mnist")``."""

    train: ImageDataset
    test: ImageDataset
    mean: tuple[float, ...]
    std: tuple[float, ...]


def _idx_files(loader: Callable[..., ImageDataset]) -> Callable[..., Splits]:
    """MNIST or Fashion-MNIST: the first ``limit`` images of each split."""

    def load_idx(root: PathLike, cache: PathLike, limit_train: int | None,
                 limit_test: int | None) -> Splits:
        train = loader("train", root, cache=cache, limit=limit_train)
        test = loader("test", root, cache=cache, limit=limit_test)
        return Splits(train, test, MNIST_MEAN, MNIST_STD)

    return load_idx


def _cifar(classes: list[str] | None) -> Callable[..., Splits]:
    """CIFAR-10 or a subset of its classes: a class-balanced slice when limited."""

    def load_cifar(root: PathLike, cache: PathLike, limit_train: int | None,
                   limit_test: int | None) -> Splits:
        train = cifar10("train", root, classes=classes, cache=cache)
        test = cifar10("test", root, classes=classes, cache=cache)
        if limit_train is not None:  # a class-balanced slice, not the first images
            train = per_class(train, max(limit_train // len(train.classes), 1))
        if limit_test is not None:
            test = per_class(test, max(limit_test // len(test.classes), 1))
        return Splits(train, test, CIFAR10_MEAN, CIFAR10_STD)

    return load_cifar


def _random_split(full: ImageDataset) -> tuple[ImageDataset, ImageDataset]:
    """A seeded 80 / 20 split, for data that comes without a test set."""
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(0))
    cut = int(0.8 * len(full))
    return full.subset(order[:cut]), full.subset(order[cut:])


def _digits(root: PathLike, cache: PathLike, limit_train: int | None,
            limit_test: int | None) -> Splits:
    """scikit-learn's digits (no file to find: ``root`` and ``cache`` are unused)."""
    train, test = _random_split(digits())
    if limit_train is not None:
        train = train.subset(torch.arange(min(limit_train, len(train))))
    return Splits(train, test, (0.3,), (0.35,))  # the digits' mean and std, rounded


def _folder(folder: Path) -> Splits:
    """``folder/train`` and ``folder/test``, or one folder split 80 / 20; 32×32."""
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        train = image_folder(folder / "train", size=32)
        test = image_folder(folder / "test", size=32, classes=train.classes)
    else:
        train, test = _random_split(image_folder(folder, size=32))
    X = train.images.float() / 255  # (N, C, H, W)
    mean = X.mean(dim=(0, 2, 3)).tolist()
    std = X.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
    return Splits(train, test, tuple(mean), tuple(std))


#: name -> loader(root, cache, limit_train, limit_test); ``folder:PATH`` aside.
_LOADERS: dict[str, Callable[..., Splits]] = {
    "mnist": _idx_files(mnist),
    "fashion-mnist": _idx_files(fashion_mnist),
    "cifar10": _cifar(None),
    "cifar10-animals": _cifar(CIFAR10_ANIMALS),
    "cifar10-vehicles": _cifar(CIFAR10_VEHICLES),
    "digits": _digits,
}


def names() -> tuple[str, ...]:
    """The dataset names :func:`load` knows (besides ``folder:PATH``)."""
    return tuple(_LOADERS)


def load(name: str, root: PathLike = None, *, cache: PathLike = None,
         limit_train: int | None = None, limit_test: int | None = None) -> Splits:
    """The train and test sets of dataset ``name``, and their mean and std.

    ``name`` is one of :func:`names` or ``folder:PATH``. ``root`` and ``cache`` go
    to the loaders (see :mod:`.sources`). ``limit_train`` / ``limit_test`` shrink
    the sets for fast runs: the first images of MNIST, a class-balanced draw of
    CIFAR-10. Raises :class:`~cnn_course.data.sources.DataError` for an unknown
    name.
    """
    if name.startswith("folder:"):
        return _folder(Path(name.split(":", 1)[1]))
    if name not in _LOADERS:
        raise DataError(f"unknown dataset {name!r}; choose from {names()} or "
                        f"folder:PATH")
    return _LOADERS[name](root, cache, limit_train, limit_test)


def source_files(dataset_name: str) -> dict[str, str]:
    """The files (and md5s) a loaded dataset was read from, by its ``.name``.

    ``source_files("mnist train")`` -> ``{"mnist/train-images-idx3-ubyte.gz":
    "f68b...", ...}``; empty for data that comes from no file (``digits``). The
    weights' metadata records them.
    """
    if dataset_name.startswith("cifar10-jpg"):
        return {"cifar10-jpg/cifar10-jpg.tar.gz": CIFAR10_JPG_MD5}
    if dataset_name.startswith("cifar10"):
        return {f"cifar10/{CIFAR10_PYTHON.name}": CIFAR10_PYTHON.md5}
    if dataset_name.startswith("mnist"):
        return {f"mnist/{k}": v for k, v in MNIST_FILES.items()}
    if dataset_name.startswith("fashion-mnist"):
        return {f"fashion-mnist/{k}": v for k, v in FASHION_FILES.items()}
    return {}
