"""Shared helpers for the data, training, transfer and plot tests.

The local dataset copies live in ``../shared/datasets`` next to the checkout; tests
that need them skip, saying why, when that folder is absent. Nothing here writes
into that folder or into the real per-user cache: caches go to pytest's tmp folders.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import ROOT

DATASETS = ROOT.parent / "shared" / "datasets"

needs_mnist = pytest.mark.skipif(
    not (DATASETS / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason=f"the local MNIST copy is not in {DATASETS / 'mnist'}",
)
needs_fashion = pytest.mark.skipif(
    not (DATASETS / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason=f"the local Fashion-MNIST copy is not in {DATASETS / 'fashion-mnist'}",
)
needs_cifar = pytest.mark.skipif(
    not (DATASETS / "cifar10-jpg" / "cifar10-jpg.tar.gz").is_file(),
    reason=f"the local CIFAR-10 JPEG copy is not in {DATASETS / 'cifar10-jpg'}",
)


def folder_listing(folder) -> list[tuple[str, int]]:
    """Every file under ``folder`` with its size: to prove nothing was written."""
    return sorted((str(p.relative_to(folder)), p.stat().st_size)
                  for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def cifar_cache(tmp_path_factory):
    """A cache folder (session-wide, never the real one) for the extracted CIFAR-10."""
    return tmp_path_factory.mktemp("cifar_cache")


@pytest.fixture(scope="session")
def cifar_test(cifar_cache):
    """CIFAR-10's test split from the local JPEG copy, extracted into a tmp cache."""
    if not (DATASETS / "cifar10-jpg" / "cifar10-jpg.tar.gz").is_file():
        pytest.skip(f"the local CIFAR-10 JPEG copy is not in {DATASETS}")
    from cnn_course import data

    return data.cifar10("test", DATASETS, cache=cifar_cache, download=False)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Point the per-user cache and the data root away from the real home folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CNN_COURSE_DATA", raising=False)
    return tmp_path / "xdg" / "cnn_course"


class TinyNet(nn.Module):
    """A small conv net with batch norm and dropout, for training-loop tests."""

    head_name = "head"

    def __init__(self, in_channels: int = 1, num_classes: int = 3,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(dropout),
        )
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


def blobs(n: int = 96, num_classes: int = 3, size: int = 8, seed: int = 0,
          noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """A learnable toy image task: class k lights up quadrant k, plus noise.

    ``X: float32 (n, 1, size, size)``, ``y: int64 (n,)``.
    """
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % num_classes
    X = noise * torch.randn(n, 1, size, size, generator=g)
    half = size // 2
    for k in range(num_classes):
        r, c = divmod(k, 2)
        X[y == k, :, r * half:(r + 1) * half, c * half:(c + 1) * half] += 1.0
    return X, y


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


__all__ = ["DATASETS", "needs_mnist", "needs_fashion", "needs_cifar",
           "folder_listing", "cifar_cache", "cifar_test", "isolated_cache",
           "TinyNet", "blobs", "state_equal"]
