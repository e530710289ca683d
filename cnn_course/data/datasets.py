"""The in-memory image dataset every loader returns, and few-shot subsets of it.

Lectures: ``lectures/08_lenet.ipynb`` to ``lectures/12_beyond_classification.ipynb``
(every dataset), ``lectures/11_transfer_learning.ipynb`` (``per_class``: 10, 50 or
100 labelled images per class).

An :class:`ImageDataset` holds

- ``images``: ``uint8`` tensor ``(N, C, H, W)``, values 0..255;
- ``labels``: ``int64`` tensor ``(N,)``, values ``0..len(classes) - 1``;
- ``classes``: the class names, in label order;

and ``ds[i]`` is ``(x, y)`` with ``x`` a ``float32`` ``(C, H, W)`` tensor in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["ImageDataset", "per_class", "first_n", "check_split"]


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


def first_n(dataset: ImageDataset, limit: int | None) -> ImageDataset:
    """The first ``limit`` examples (all of them when ``limit`` is None)."""
    if limit is None or limit >= len(dataset):
        return dataset
    return dataset.subset(torch.arange(limit))


def check_split(split: str) -> None:
    """Raise ``ValueError`` unless ``split`` is ``"train"`` or ``"test"``."""
    if split not in ("train", "test"):
        raise ValueError(f"expected split 'train' or 'test', got {split!r}")
