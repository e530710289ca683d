"""Training: the loop, ``fit`` around it, schedules, metrics and checkpoints.

Lectures: ``lectures/08_lenet.ipynb`` (the first real training run: the loop of
:mod:`.loop`), ``lectures/09_overfitting.ipynb`` (early stopping, augmentation,
schedules), ``lectures/11_transfer_learning.ipynb`` (fine-tuning with two learning
rates).

One module per job:

- :mod:`.loop`: ``train_epoch`` (forward, loss, ``zero_grad``, ``backward``,
  ``step``), ``evaluate``, ``predict``.
- :mod:`.fit`: ``fit``, that loop with progress bars, checkpoints and resume,
  early stopping, schedules and bf16 autocast.
- :mod:`.schedules`: ``step_schedule``, ``cosine_schedule``, ``power_schedule``.
- :mod:`.loader`: ``TensorLoader``, seeded mini-batches from tensors in memory.
- :mod:`.metrics`: ``accuracy``, ``confusion_matrix``, ``iou_per_class``,
  ``History``.
- :mod:`.checkpoint`: ``save_checkpoint``, ``load_checkpoint``.
- :mod:`.runtime`: ``fast_mode`` and ``fast`` (``CNN_COURSE_FAST=1`` in tests and
  CI), ``seed_everything``.
"""

from .checkpoint import load_checkpoint, save_checkpoint
from .fit import fit
from .loader import TensorLoader
from .loop import evaluate, predict, train_epoch
from .metrics import History, accuracy, confusion_matrix, iou_per_class
from .runtime import fast, fast_mode, seed_everything
from .schedules import (
    ConstantSchedule,
    CosineSchedule,
    PowerSchedule,
    Schedule,
    StepSchedule,
    cosine_schedule,
    power_schedule,
    step_schedule,
)

__all__ = [
    "fast_mode", "fast", "seed_everything", "TensorLoader", "Schedule",
    "ConstantSchedule", "StepSchedule", "CosineSchedule", "PowerSchedule",
    "step_schedule", "cosine_schedule", "power_schedule", "History", "fit",
    "train_epoch", "evaluate", "predict", "accuracy", "confusion_matrix",
    "iou_per_class",
    "save_checkpoint", "load_checkpoint",
]
