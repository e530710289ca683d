"""How a run is set up: fast mode for tests and CI, and seeding.

Lectures: ``lectures/08_lenet.ipynb`` and every lecture that trains after it
(``epochs = fast(20, 1)``; ``seed_everything(0)`` for runs that repeat exactly).

``CNN_COURSE_FAST=1`` (set by the tests and CI) is "fast mode": lectures and the
``cnn-course train`` command use :func:`fast` to shrink epochs and data so that every
notebook runs on a CPU in seconds. The normal mode is the real course.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

__all__ = ["fast_mode", "fast", "seed_everything"]


def fast_mode() -> bool:
    """True when ``CNN_COURSE_FAST`` is set to 1 / true / yes (tests and CI)."""
    return os.environ.get("CNN_COURSE_FAST", "").strip().lower() in ("1", "true",
                                                                     "yes")


def fast(normal: Any, quick: Any) -> Any:
    """``quick`` in fast mode, ``normal`` otherwise: ``epochs = fast(20, 1)``."""
    return quick if fast_mode() else normal


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (CPU and CUDA) with ``seed``.

    ``deterministic=True`` also asks torch for deterministic algorithms (cuDNN
    included); some GPU operations then run slower, and the few without a
    deterministic version warn.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        # cuBLAS needs this for deterministic matrix multiplies on CUDA >= 10.2
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
