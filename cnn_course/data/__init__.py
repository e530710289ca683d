"""Datasets, offline-first, and augmentations: MNIST, Fashion-MNIST, CIFAR-10, any
folder of class sub-folders, scikit-learn digits, sample photos and synthetic shapes.

Lectures: ``lectures/02_images_as_tensors.ipynb`` (photos),
``lectures/08_lenet.ipynb`` (MNIST, digits), ``lectures/09_overfitting.ipynb``
(augmentation, CIFAR-10), ``lectures/11_transfer_learning.ipynb`` (CIFAR-10, image
folders), ``lectures/12_beyond_classification.ipynb`` (``shapes``).

One module per job:

- :mod:`.sources`: where files are (``root``, ``$CNN_COURSE_DATA``, the per-user
  cache), md5 checks, downloads through pooch; :class:`DataError`.
- :mod:`.datasets`: :class:`ImageDataset`, what every loader returns, and
  ``per_class`` (few-shot subsets).
- :mod:`.mnist`, :mod:`.cifar`, :mod:`.folder`, :mod:`.builtin`: the loaders.
- :mod:`.registry`: the dataset names of the commands and lectures,
  ``load("cifar10-animals")``.
- :mod:`.augment`: batch-wise, seeded augmentations in torch.

``from cnn_course import data; data.mnist("train")`` keeps working: this package
re-exports the loaders and their constants.
"""

from .builtin import PHOTOS, SHAPE_CLASSES, SegmentationDataset, digits, photo, shapes
from .cifar import (
    CIFAR10_ANIMALS,
    CIFAR10_CLASSES,
    CIFAR10_JPG_ARRAY_MD5,
    CIFAR10_JPG_MD5,
    CIFAR10_PYTHON,
    CIFAR10_VEHICLES,
    cifar10,
)
from .datasets import ImageDataset, per_class
from .folder import IMAGE_SUFFIXES, image_folder
from .mnist import (
    FASHION_CLASSES,
    FASHION_FILES,
    MNIST_FILES,
    fashion_mnist,
    mnist,
    read_idx,
)
from .registry import Splits, load, names, source_files
from .sources import (
    DataError,
    RemoteFile,
    cache_dir,
    data_root,
    download,
    fetch,
    md5sum,
)

__all__ = [
    "DataError", "ImageDataset", "SegmentationDataset", "RemoteFile",
    "data_root", "cache_dir", "md5sum", "download", "fetch", "read_idx",
    "mnist", "fashion_mnist", "cifar10", "image_folder", "digits",
    "photo", "PHOTOS", "shapes", "per_class", "CIFAR10_CLASSES",
    "CIFAR10_ANIMALS", "CIFAR10_VEHICLES",
    "MNIST_FILES", "FASHION_FILES", "FASHION_CLASSES", "CIFAR10_PYTHON",
    "CIFAR10_JPG_MD5", "CIFAR10_JPG_ARRAY_MD5", "IMAGE_SUFFIXES", "SHAPE_CLASSES",
    "Splits", "load", "names", "source_files",
]
