"""Datasets for lectures 8-12, offline-first: MNIST, Fashion-MNIST, CIFAR-10, any
folder of class sub-folders, scikit-learn digits, sample photos and synthetic shapes.

Lectures: ``lectures/08_lenet.ipynb`` (MNIST), ``lectures/09_overfitting.ipynb``
(augmentation, CIFAR-10), ``lectures/11_transfer.ipynb`` (CIFAR-10, image folders),
``lectures/12_segmentation.ipynb`` (``shapes``).

Every image loader returns an :class:`ImageDataset`:

- ``images``: ``uint8`` tensor ``(N, C, H, W)``, values 0..255;
- ``labels``: ``int64`` tensor ``(N,)``, values ``0..len(classes) - 1``;
- ``classes``: the class names, in label order;
- ``ds[i]`` is ``(x, y)`` with ``x`` a ``float32`` ``(C, H, W)`` tensor in [0, 1].

Where the files come from, in order:

1. the ``root`` argument of the loader, if given;
2. else the ``CNN_COURSE_DATA`` environment variable;
3. else the per-user cache, :func:`cache_dir` (``$XDG_CACHE_HOME/cnn_course``,
   by default ``~/.cache/cnn_course``).

A loader reads the data root but never writes into it unless it is writable and a
file has to be downloaded; anything derived (the extracted CIFAR-10 JPEGs, decoded
arrays) goes into the cache. Every file's md5 is checked before it is read, and a
download lands under a temporary name and is renamed into place only after its
check, so an interrupted download leaves nothing half-written.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .grading.paths import CourseError

__all__ = [
    "DataError", "ImageDataset", "SegmentationDataset", "RemoteFile",
    "data_root", "cache_dir", "md5sum", "download", "fetch", "read_idx",
    "mnist", "fashion_mnist", "cifar10", "image_folder", "digits",
    "photo", "PHOTOS", "shapes", "per_class", "CIFAR10_CLASSES",
    "CIFAR10_ANIMALS", "CIFAR10_VEHICLES",
]


class DataError(CourseError, RuntimeError):
    """A data file is missing, corrupted or cannot be downloaded.

    The message says which file, where it was looked for and what to do.
    """


# ----------------------------------------------------------------------------------
# Where data lives
# ----------------------------------------------------------------------------------


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """The per-user cache folder (created on demand).

    ``cache`` if given, else ``$XDG_CACHE_HOME/cnn_course``, else
    ``~/.cache/cnn_course``.
    """
    if cache is not None:
        folder = Path(cache)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = Path(base) / "cnn_course"
    return folder.expanduser()


def data_root(root: str | os.PathLike | None = None,
              cache: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$CNN_COURSE_DATA``, else :func:`cache_dir`."""
    if root is not None:
        return Path(root).expanduser()
    from_env = os.environ.get("CNN_COURSE_DATA")
    if from_env:
        return Path(from_env).expanduser()
    return cache_dir(cache)


def _writable(folder: Path) -> bool:
    """True when ``folder`` exists and we may create files in it, or can create it."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


# ----------------------------------------------------------------------------------
# Checksums and downloads
# ----------------------------------------------------------------------------------


def md5sum(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The md5 of a file, as 32 hex digits, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


# md5s already checked in this process, keyed by (path, size, mtime): MNIST is read
# many times by the tests and a lecture, but hashed once.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _check_md5(path: Path, md5: str | None, url: str | None = None) -> None:
    if md5 is None:
        return
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if _VERIFIED.get(key) == md5:
        return
    got = md5sum(path)
    if got != md5:
        again = f", or download it again from {url}" if url else ""
        raise DataError(
            f"{path} is corrupted or incomplete: md5 {got}, expected {md5} "
            f"({stat.st_size:,} bytes). It was not read. Delete it{again}."
        )
    _VERIFIED[key] = md5


def download(url: str, path: str | os.PathLike, md5: str | None = None, *,
             opener: Callable | None = None, progress: bool = True,
             timeout: float = 30.0) -> Path:
    """Download ``url`` to ``path`` with a progress bar, checking its md5.

    The bytes go to a temporary file in the same folder, which is renamed to
    ``path`` only after the md5 matches; on any failure the temporary file is
    removed and :class:`DataError` is raised, so nothing half-written is left.
    ``opener(url, timeout=...)`` returns a file-like response
    (default ``urllib.request.urlopen``; ``file://`` URLs work too).
    """
    from tqdm.auto import tqdm

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = opener or urllib.request.urlopen
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part",
                                    dir=path.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5()
        with os.fdopen(fd, "wb") as out, opener(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length") if hasattr(
                response, "headers") and response.headers else None
            bar = tqdm(total=int(total) if total else None, unit="B",
                       unit_scale=True, desc=path.name, disable=not progress)
            with bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        got = digest.hexdigest()
        if md5 is not None and got != md5:
            raise DataError(
                f"download of {url} is corrupted or incomplete: md5 {got}, expected "
                f"{md5}; nothing was saved to {path}"
            )
        os.replace(tmp, path)  # atomic: path is either absent or complete
    except DataError:
        tmp.unlink(missing_ok=True)
        raise
    except (OSError, urllib.error.URLError, ValueError) as err:
        tmp.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {err}") from err
    except BaseException:  # KeyboardInterrupt: clean up, then let it through
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class RemoteFile:
    """One dataset file: its name, md5 and the official URLs (mirrors after)."""

    name: str
    md5: str
    urls: tuple[str, ...]


def fetch(remote: RemoteFile, folder: str, root: str | os.PathLike | None = None, *,
          cache: str | os.PathLike | None = None, download_missing: bool = True,
          opener: Callable | None = None, progress: bool = True) -> Path:
    """Find ``folder/remote.name`` under the data root (or the cache), md5-checked.

    When it is in neither place and ``download_missing``, download it into the data
    root if that is writable, else into the cache. When that fails too, raise
    :class:`DataError` naming the file, the URL and the folder to put it in.
    """
    base = data_root(root, cache)
    places = [base / folder / remote.name]
    cached = cache_dir(cache) / folder / remote.name
    if cached not in places:
        places.append(cached)
    for path in places:
        if path.is_file():
            _check_md5(path, remote.md5, remote.urls[0])
            return path

    target = places[0] if _writable(base) else cached
    errors = []
    if download_missing:
        for url in remote.urls:
            try:
                return download(url, target, remote.md5, opener=opener,
                                progress=progress)
            except DataError as err:
                errors.append(str(err))
    why = "; ".join(errors) if errors else "downloads are switched off"
    raise DataError(
        f"{remote.name} not found in {places[0].parent}"
        + (f" nor in {cached.parent}" if cached != places[0] else "")
        + f" ({why}). Download it from {remote.urls[0]} and put it in "
        f"{target.parent} (or point CNN_COURSE_DATA at a folder holding "
        f"{folder}/{remote.name})."
    )


# ----------------------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------------------


class ImageDataset(torch.utils.data.Dataset):
    """Images and labels in memory.

    ``images``: ``uint8`` ``(N, C, H, W)`` in 0..255; ``labels``: ``int64`` ``(N,)``.
    ``ds[i]`` is ``(x, y)``: ``x`` ``float32`` ``(C, H, W)`` in [0, 1], ``y`` an int64
    scalar tensor. ``ds.tensors()`` gives the whole set as ``(X, y)`` at once.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor,
                 classes: Sequence[str], name: str = "") -> None:
        if images.ndim != 4:
            raise ValueError(f"expected images of shape (N, C, H, W), got "
                             f"{tuple(images.shape)}")
        if images.dtype != torch.uint8:
            raise ValueError(f"expected uint8 images (0..255), got {images.dtype}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"expected labels of shape ({images.shape[0]},), got "
                             f"{tuple(labels.shape)}")
        self.images = images
        self.labels = labels.long()
        self.classes = list(classes)
        self.name = name

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index].float() / 255, self.labels[index]

    def tensors(self, device: str | torch.device | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as ``float32`` ``(N, C, H, W)`` in [0, 1], and the labels."""
        X = self.images.to(device).float() / 255
        return X, self.labels.to(device)

    def subset(self, indices: torch.Tensor | Sequence[int]) -> ImageDataset:
        """The examples at ``indices``, as a new dataset sharing the class names."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        return ImageDataset(self.images[indices], self.labels[indices],
                            self.classes, self.name)

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        return (f"ImageDataset({self.name or 'images'}: {n} images of {c}x{h}x{w}, "
                f"{len(self.classes)} classes)")


def per_class(dataset: ImageDataset, n: int, seed: int = 0) -> ImageDataset:
    """``n`` random examples of every class (a seeded few-shot training set)."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in range(len(dataset.classes)):
        where = torch.nonzero(dataset.labels == label).flatten()
        if len(where) < n:
            raise ValueError(f"class {dataset.classes[label]!r} has only "
                             f"{len(where)} examples, asked for {n}")
        order = torch.randperm(len(where), generator=generator)
        chosen.append(where[order[:n]])
    return dataset.subset(torch.cat(chosen))


def _limit(dataset: ImageDataset, limit: int | None) -> ImageDataset:
    """The first ``limit`` examples (all of them when ``limit`` is None)."""
    if limit is None or limit >= len(dataset):
        return dataset
    return dataset.subset(torch.arange(limit))


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"expected split 'train' or 'test', got {split!r}")


# ----------------------------------------------------------------------------------
# MNIST and Fashion-MNIST: idx files
# ----------------------------------------------------------------------------------

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
                 root, cache, download_missing, limit, opener) -> ImageDataset:
    _check_split(split)
    prefix = "train" if split == "train" else "t10k"
    arrays = []
    for kind in ("images-idx3", "labels-idx1"):
        filename = f"{prefix}-{kind}-ubyte.gz"
        remote = RemoteFile(filename, files[filename],
                            tuple(base + filename for base in urls))
        path = fetch(remote, folder, root, cache=cache,
                     download_missing=download_missing, opener=opener)
        arrays.append(read_idx(path))
    images, labels = arrays
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{name} {split}: {images.shape[0]} images but "
                        f"{labels.shape[0]} labels")
    images = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 1, 28, 28)
    labels = torch.from_numpy(labels.astype(np.int64))  # (N,)
    return _limit(ImageDataset(images, labels, classes, f"{name} {split}"), limit)


def mnist(split: str = "train", root: str | os.PathLike | None = None, *,
          cache: str | os.PathLike | None = None, download: bool = True,
          limit: int | None = None, opener: Callable | None = None) -> ImageDataset:
    """MNIST digits: 60,000 train or 10,000 test images, ``uint8 (N, 1, 28, 28)``.

    Labels 0..9. Reads ``<root>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``
    (LeCun's canonical files), downloading them when missing and ``download``.
    ``limit`` keeps the first ``limit`` examples (for fast runs).
    """
    return _idx_dataset("mnist", "mnist", MNIST_FILES, (_LECUN, _MNIST_MIRROR),
                        [str(d) for d in range(10)], split, root, cache, download,
                        limit, opener)


def fashion_mnist(split: str = "train", root: str | os.PathLike | None = None, *,
                  cache: str | os.PathLike | None = None, download: bool = True,
                  limit: int | None = None,
                  opener: Callable | None = None) -> ImageDataset:
    """Fashion-MNIST: 60,000 / 10,000 clothes images, ``uint8 (N, 1, 28, 28)``.

    Ten classes (``FASHION_CLASSES``), files in ``<root>/fashion-mnist/``, same
    layout and format as :func:`mnist`.
    """
    return _idx_dataset("fashion-mnist", "fashion-mnist", FASHION_FILES, (_ZALANDO,),
                        FASHION_CLASSES, split, root, cache, download, limit, opener)


# ----------------------------------------------------------------------------------
# Image folders
# ----------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------

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


def _extract_once(tarball: Path, target: Path) -> Path:
    """Extract ``tarball`` into ``target`` (a cache folder) unless already done.

    Extraction goes to a temporary sibling folder that is renamed at the end, so a
    half-finished extraction is never mistaken for a finished one.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        # the tarball holds train/ and test/ at its top (or under one folder)
        inner = tmp if (tmp / "train").is_dir() else next(tmp.iterdir())
        os.chmod(inner, 0o755)
        os.replace(inner, target)
    except (tarfile.TarError, EOFError, OSError, StopIteration) as err:
        if target.is_dir():  # another process finished the same extraction first
            return target
        raise DataError(f"cannot extract {tarball}: {err}") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


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
        _check_md5(tarball, CIFAR10_JPG_MD5)
        extracted = _extract_once(tarball, cache / "cifar10-jpg" / "extracted")
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
            limit: int | None = None, opener: Callable | None = None) -> ImageDataset:
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
    _check_split(split)
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
                     download_missing=download, opener=opener)
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
    return _limit(ImageDataset(images_t, labels_t, chosen, f"{name} {split}"), limit)


# ----------------------------------------------------------------------------------
# Embedded data: scikit-learn digits, sample photos
# ----------------------------------------------------------------------------------


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
    return _limit(ds, limit)


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
