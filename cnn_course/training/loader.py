"""Mini-batches from tensors in memory: fast, reproducible, augmented on the device.

Lectures: ``lectures/08_lenet.ipynb`` (batches of MNIST),
``lectures/09_overfitting.ipynb`` (augmentation per batch, on the GPU).

torch's ``DataLoader`` works too (``fit`` takes any iterable of ``(X, y)``), but
the course's datasets already sit in memory as one uint8 tensor: indexing it is
faster than collating single examples, and the generator seeded with
``(seed, epoch)`` makes an epoch repeat exactly after a resume.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["TensorLoader", "as_loader"]


class TensorLoader:
    """Mini-batches ``(X, y)`` from an in-memory dataset, fast and reproducible.

    ``data`` is an :class:`~cnn_course.data.datasets.ImageDataset` (uint8 images become
    ``float32`` in [0, 1] batch by batch) or a tuple ``(X, y)`` of tensors. Each
    batch is moved to ``device`` and then passed through ``transform(X, generator)``
    (augmentation, normalisation), so augmentation runs on the GPU when there is one.

    With ``seed``, the shuffling and the transform's random draws of epoch ``e`` come
    from a generator seeded with ``(seed, e)``: an epoch is the same whether it runs
    straight through or after a resume. :meth:`set_epoch` picks the epoch.
    """

    def __init__(self, data, batch_size: int = 128, *, shuffle: bool = False,
                 transform: Callable | None = None, seed: int | None = None,
                 device: str | torch.device | None = None,
                 drop_last: bool = False) -> None:
        if hasattr(data, "images") and hasattr(data, "labels"):
            X, y = data.images, data.labels
        else:
            X, y = data
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"{X.shape[0]} inputs but {y.shape[0]} labels")
        if batch_size < 1:
            raise ValueError(f"expected batch_size >= 1, got {batch_size}")
        self.X, self.y = X, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.transform = transform
        self.seed = seed
        self.device = torch.device(device) if device is not None else None
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s shuffling and augmentation (with a seed)."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = self.X.shape[0]
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def _generator(self) -> torch.Generator:
        if self.seed is None:  # follow torch's global RNG (torch.manual_seed)
            seed = int(torch.randint(0, 2**62, (1,)).item())
        else:  # a different, fixed stream for every (seed, epoch)
            seed = self.seed * 1_000_003 + self.epoch
        return torch.Generator().manual_seed(seed)

    def __iter__(self):
        generator = self._generator()
        n = self.X.shape[0]
        if self.shuffle:
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        for b in range(len(self)):
            index = order[b * self.batch_size:(b + 1) * self.batch_size]
            X, y = self.X[index], self.y[index]
            if self.device is not None:
                X, y = X.to(self.device, non_blocking=True), y.to(self.device)
            if X.dtype == torch.uint8:
                X = X.float() / 255  # (B, C, H, W) in [0, 1]
            if self.transform is not None:
                X = self.transform(X, generator)
            yield X, y


def as_loader(data, batch_size: int, shuffle: bool, transform: Callable | None,
              seed: int | None, device: torch.device | None):
    """Wrap datasets and tensor pairs in a :class:`TensorLoader`; pass loaders on.

    A :class:`TensorLoader` without a device is given ``device``; any other iterable
    of ``(X, y)`` batches (a torch ``DataLoader``) is returned as it is.
    """
    if data is None or isinstance(data, TensorLoader):
        if isinstance(data, TensorLoader) and data.device is None:
            data.device = device
        return data
    if hasattr(data, "images") and hasattr(data, "labels"):
        return TensorLoader(data, batch_size, shuffle=shuffle, transform=transform,
                            seed=seed, device=device)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(
            isinstance(t, torch.Tensor) for t in data):
        return TensorLoader(tuple(data), batch_size, shuffle=shuffle,
                            transform=transform, seed=seed, device=device)
    return data  # any iterable of (X, y) batches, e.g. a torch DataLoader
