"""Shared fixtures. Tests run on 2 cores: one torch thread each, fixed seeds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("CNN_COURSE_FAST", "1")

ROOT = Path(__file__).resolve().parents[1]
# The local copies of MNIST, Fashion-MNIST and CIFAR-10 next to the checkout; loaders
# (and the lectures the tests run) read them instead of downloading.
DATASETS = ROOT.parent / "shared" / "datasets"
if DATASETS.is_dir():
    os.environ.setdefault("CNN_COURSE_DATA", str(DATASETS))


@pytest.fixture(scope="session")
def layout():
    from cnn_course.course.grading.paths import find_layout

    return find_layout(ROOT)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
