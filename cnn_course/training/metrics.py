"""What training measures: accuracy, the confusion matrix, and the run's history.

Lectures: ``lectures/08_lenet.ipynb`` (accuracy, the confusion matrix of MNIST),
``lectures/09_overfitting.ipynb`` (training and validation curves from
:class:`History`), ``lectures/12_beyond_classification.ipynb`` (intersection over
union per class, for segmentation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

__all__ = ["predicted", "accuracy", "confusion_matrix", "iou_per_class", "History"]


def predicted(logits: torch.Tensor) -> torch.Tensor:
    """Class predictions ``(N,)`` from ``logits (N, K)``: the arg-max, or
    ``logit > 0`` for a one-output model ``(N, 1)``."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=1)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of correct predictions (arg-max, or ``logit > 0`` for one output)."""
    return (predicted(logits) == y).float().mean().item()


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor,
                     num_classes: int | None = None) -> torch.Tensor:
    """``cm[i, j]`` = how many examples of true class i were predicted as j.

    ``int64 (num_classes, num_classes)``; rows sum to the class counts.
    """
    y_true = torch.as_tensor(y_true).long().flatten().cpu()
    y_pred = torch.as_tensor(y_pred).long().flatten().cpu()
    if num_classes is None:
        num_classes = int(max(y_true.max(), y_pred.max()).item()) + 1
    # one count per (true, predicted) pair: the pair's index in the flat matrix
    flat = y_true * num_classes + y_pred
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def iou_per_class(y_true: torch.Tensor, y_pred: torch.Tensor,
                  num_classes: int) -> torch.Tensor:
    """Intersection over union of every class: ``float64 (num_classes,)``.

    ``y_true`` and ``y_pred`` are labels of any matching shape (a mask ``(N, H, W)``
    per image for segmentation). For class ``c``, with ``cm`` the confusion matrix,
    ``IoU_c = cm[c, c] / (row_c + column_c - cm[c, c])``: the pixels both call
    ``c``, over the pixels either calls ``c``. NaN for a class that neither has
    (``nanmean`` skips it in the mean IoU).
    """
    if torch.as_tensor(y_true).shape != torch.as_tensor(y_pred).shape:
        raise ValueError(f"expected y_true and y_pred of the same shape, got "
                         f"{tuple(torch.as_tensor(y_true).shape)} and "
                         f"{tuple(torch.as_tensor(y_pred).shape)}")
    cm = confusion_matrix(y_true, y_pred, num_classes).double()
    both = cm.diagonal()  # (K,): called c by both
    either = cm.sum(dim=1) + cm.sum(dim=0) - both  # (K,): called c by one or both
    iou = torch.full((num_classes,), float("nan"), dtype=torch.float64)
    present = either > 0
    iou[present] = both[present] / either[present]
    return iou


@dataclass
class History:
    """What ``fit`` measured, one entry per epoch (``val_*`` are None without
    validation data)."""

    epoch: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    def __len__(self) -> int:
        return len(self.epoch)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> History:
        return cls(**values)

    def last(self) -> dict[str, float | None]:
        """The metrics of the last epoch."""
        return {k: v[-1] for k, v in self.as_dict().items()
                if isinstance(v, list) and v}
