"""The training loop itself: one epoch of forward, loss, backward and step.

Lecture: ``lectures/08_lenet.ipynb`` (the first real training run: this file is
what the lecture shows); ``lectures/09_overfitting.ipynb`` and
``lectures/11_transfer_learning.ipynb`` evaluate with it.

:func:`train_epoch` is the whole of training in five lines, run once per batch;
:func:`~cnn_course.training.fit.fit` calls it once per epoch and adds what a real
run needs around it (schedules, progress bars, checkpoints, early stopping).
:func:`predict` and :func:`evaluate` run a model without training it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..device import model_device
from .loader import as_loader
from .metrics import accuracy, predicted

__all__ = ["default_loss", "train_epoch", "predict", "evaluate"]

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def default_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``logits (N, K)`` and labels ``y (N,)``; binary
    cross-entropy when the model has one output ``(N, 1)``."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    return F.cross_entropy(logits, y)


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` when ``bf16``, else nothing."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def train_epoch(
    model: nn.Module,
    loader: Batches,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    *,
    device: str | torch.device | None = None,
    bf16: bool = False,
    before_step: Callable[[], None] | None = None,
    after_step: Callable[[float, float], None] | None = None,
) -> dict[str, float]:
    """Train ``model`` on every batch ``(X, y)`` of ``loader`` once.

    ``X: (B, C, H, W)``, ``y: (B,)`` (or ``(B, H, W)`` masks with logits
    ``(B, K, H, W)``: accuracy is then per pixel); ``loss_fn(logits, y)`` defaults to
    :func:`default_loss`. ``before_step()`` runs before each batch (``fit`` sets
    the learning rate there), ``after_step(loss, acc)`` after it, with the running
    means so far (``fit`` updates its progress bar). Returns the epoch's mean
    ``{"loss": ..., "acc": ...}`` over its examples.
    """
    device = torch.device(device) if device is not None else model_device(model)
    loss_fn = loss_fn or default_loss
    model.train()  # dropout on, batch norm uses (and updates) batch statistics
    total_loss, total_correct, total_seen, total_labels = 0.0, 0, 0, 0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        if before_step is not None:
            before_step()
        with autocast(device, bf16):
            # forward: the scores (B, K) that the loss will judge
            logits = model(X)
        # the one number to lower; float32 even under bf16, which would round it
        loss = loss_fn(logits.float(), y)
        # backward adds into .grad, so clear what the last batch left there first
        optimizer.zero_grad(set_to_none=True)
        # the chain rule fills every parameter's .grad with d loss / d parameter
        loss.backward()
        # move each parameter against its gradient: downhill on this batch's loss
        optimizer.step()

        with torch.no_grad():  # bookkeeping only: no graph for the statistics
            n = y.shape[0]
            right = predicted(logits) == y  # (B,), or (B, H, W) for masks
            total_loss += loss.item() * n
            total_correct += int(right.sum())
            total_seen += n
            total_labels += right.numel()  # one per example, or per pixel
        if after_step is not None:
            after_step(total_loss / total_seen, total_correct / total_labels)
    if total_seen == 0:
        raise ValueError("the training data gave no batches")
    return {"loss": total_loss / total_seen, "acc": total_correct / total_labels}


@torch.no_grad()
def predict(model: nn.Module, data, device: str | torch.device | None = None, *,
            batch_size: int = 512, transform: Callable | None = None,
            bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` in eval mode over ``data``: ``(logits (N, K), labels (N,))``.

    ``data`` is anything ``fit`` accepts. Both results are returned on the CPU;
    logits are float32.
    """
    device = torch.device(device) if device is not None else model_device(model)
    loader = as_loader(data, batch_size, False, transform, None, device)
    was_training = model.training
    model.eval()
    logits, labels = [], []
    try:
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            with autocast(device, bf16):
                out = model(X)
            logits.append(out.float().cpu())
            labels.append(y.cpu())
    finally:
        model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def evaluate(model: nn.Module, data, device: str | torch.device | None = None, *,
             loss_fn: Callable | None = None, batch_size: int = 512,
             transform: Callable | None = None, bf16: bool = False
             ) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` on ``data``: ``{"loss": .., "acc": ..}``."""
    logits, labels = predict(model, data, device, batch_size=batch_size,
                             transform=transform, bf16=bf16)
    loss_fn = loss_fn or default_loss
    return {"loss": float(loss_fn(logits, labels)), "acc": accuracy(logits, labels)}
