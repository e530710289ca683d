"""``fit``: the training loop of :mod:`.loop` with what a real run needs around it.

Lectures: ``lectures/08_lenet.ipynb`` (the first real training run),
``lectures/09_overfitting.ipynb`` (early stopping, augmentation),
``lectures/11_transfer_learning.ipynb`` (fine-tuning with two learning rates).

``fit(model, train_data, val_data, optimizer=..., schedule=..., epochs=...)`` calls
:func:`~cnn_course.training.loop.train_epoch` once per epoch, with ``tqdm.auto``
progress bars (running loss and accuracy), evaluates after every epoch and returns
a :class:`~cnn_course.training.metrics.History`. Around that core it can save a
checkpoint after every epoch and resume from it exactly, seed everything, follow a
learning-rate schedule, stop early, and use bf16 autocast on CUDA.
"""

from __future__ import annotations

import copy
import operator
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..device import model_device
from .checkpoint import load_checkpoint, save_checkpoint
from .loader import as_loader
from .loop import evaluate, train_epoch
from .metrics import History
from .runtime import seed_everything
from .schedules import ConstantSchedule, Schedule

__all__ = ["fit"]


# which metric early stopping watches, and what counts as an improvement of it:
# better(new, best) is new > best for accuracies, new < best for losses
_MONITORS = {"val_acc": operator.gt, "val_loss": operator.lt,
             "train_acc": operator.gt, "train_loss": operator.lt}


def _resume(checkpoint: str | os.PathLike, model: nn.Module,
            optimizer: torch.optim.Optimizer, device: torch.device
            ) -> tuple[History, int, Any, Any]:
    """Load a run saved by :func:`_save`: its history, next epoch and best so far."""
    state = load_checkpoint(checkpoint, model, optimizer, map_location=device)
    torch.set_rng_state(state["rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    return (History.from_dict(state["history"]), state["epoch"],
            state.get("best_value"), state.get("best_state"))


def _save(checkpoint: str | os.PathLike, model: nn.Module,
          optimizer: torch.optim.Optimizer, device: torch.device, epochs_done: int,
          history: History, best_value: Any, best_state: Any) -> None:
    """Everything :func:`_resume` needs to go on as if the run had not stopped."""
    extra = {"epoch": epochs_done, "history": history.as_dict(),
             "best_value": best_value, "best_state": best_state,
             "rng": torch.get_rng_state()}
    if device.type == "cuda":
        extra["cuda_rng"] = torch.cuda.get_rng_state(device)
    save_checkpoint(checkpoint, model, optimizer, **extra)


def fit(
    model: nn.Module,
    train_data,
    val_data=None,
    *,
    epochs: int = 10,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 0.01,
    schedule: Schedule | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 128,
    transform: Callable | None = None,
    eval_transform: Callable | None = None,
    loss_fn: Callable | None = None,
    seed: int | None = None,
    deterministic: bool = False,
    bf16: bool | None = None,
    early_stopping: int | None = None,
    monitor: str = "val_acc",
    restore_best: bool = True,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[History], None] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and evaluate it after each one.

    - ``train_data`` / ``val_data``: an ``ImageDataset``, a pair ``(X, y)`` of
      tensors, a :class:`~cnn_course.training.loader.TensorLoader` or any iterable
      of ``(X, y)`` batches with a length (a ``DataLoader``). Datasets and pairs
      are batched by ``batch_size``; training batches are shuffled and passed
      through ``transform`` (augmentation and normalisation), validation batches
      through ``eval_transform``.
    - ``optimizer``: default SGD with momentum 0.9 at ``lr``. ``schedule`` (e.g.
      :func:`~cnn_course.training.schedules.cosine_schedule`) sets each group's lr
      before every step.
    - ``loss_fn(logits, y)``: default cross-entropy (binary for one output).
    - ``seed``: seeds torch, and makes the shuffling, augmentation and dropout of
      every epoch a function of (seed, epoch); ``deterministic`` also asks for
      deterministic kernels (see
      :func:`~cnn_course.training.runtime.seed_everything`).
    - ``bf16``: bf16 autocast; default on for CUDA devices that support it.
    - ``early_stopping=k``: stop when ``monitor`` (``"val_acc"``, ``"val_loss"``, ...)
      has not improved for ``k`` epochs; ``restore_best`` then reloads the best
      epoch's weights.
    - ``checkpoint``: a file saved after every epoch (model, optimizer, history,
      random state); ``resume=True`` continues from it when it exists, exactly as if
      the run had not stopped.
    - ``on_epoch(history)``: called after every epoch (printing, plotting).

    Returns the :class:`~cnn_course.training.metrics.History`.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else model_device(model)
    if monitor not in _MONITORS:
        raise ValueError(f"expected monitor in {sorted(_MONITORS)}, got {monitor!r}")
    if monitor.startswith("val") and val_data is None and early_stopping:
        raise ValueError(f"early stopping on {monitor!r} needs val_data")
    if seed is not None:
        seed_everything(seed, deterministic)
    if bf16 is None:
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    model.to(device)
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
    schedule = schedule or ConstantSchedule()
    train_loader = as_loader(train_data, batch_size, True, transform, seed, device)
    val_loader = as_loader(val_data, 2 * batch_size, False, eval_transform, None,
                           device)
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * epochs

    history, start_epoch = History(), 0
    better = _MONITORS[monitor]
    best_value, best_state = None, None
    if checkpoint is not None and resume and Path(checkpoint).is_file():
        history, start_epoch, best_value, best_state = _resume(
            checkpoint, model, optimizer, device)

    step = start_epoch * steps_per_epoch
    for epoch in range(start_epoch, epochs):
        if history.stopped_early:
            break
        if seed is not None:
            torch.manual_seed(seed * 1_000_003 + epoch)  # dropout of this epoch
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        started = time.perf_counter()
        # the bar is closed by hand, after the validation numbers are on it
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}",
                   disable=not progress, leave=True, dynamic_ncols=True)

        def set_lr() -> None:
            nonlocal step
            schedule.apply(optimizer, step, steps_per_epoch, total_steps)
            step += 1

        def show(loss: float, acc: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.3f}")

        try:  # the core: forward, loss, zero_grad, backward, step on every batch
            train = train_epoch(model, train_loader, optimizer, loss_fn,
                                device=device, bf16=bf16, before_step=set_lr,
                                after_step=show)
        except BaseException:  # no batches, or interrupted: close the bar first
            bar.close()
            raise

        history.epoch.append(epoch + 1)
        history.lr.append(optimizer.param_groups[-1]["lr"])
        history.train_loss.append(train["loss"])
        history.train_acc.append(train["acc"])
        if val_loader is not None:
            metrics = evaluate(model, val_loader, device, loss_fn=loss_fn, bf16=bf16)
            history.val_loss.append(metrics["loss"])
            history.val_acc.append(metrics["acc"])
            bar.set_postfix(loss=f"{train['loss']:.4f}", acc=f"{train['acc']:.3f}",
                            val_loss=f"{metrics['loss']:.4f}",
                            val_acc=f"{metrics['acc']:.3f}")
        else:
            history.val_loss.append(None)
            history.val_acc.append(None)
        bar.close()
        history.seconds.append(time.perf_counter() - started)

        value = getattr(history, monitor)[-1]
        if value is not None and (best_value is None or better(value, best_value)):
            best_value = value
            history.best_epoch = epoch + 1
            if restore_best and early_stopping:
                best_state = copy.deepcopy(model.state_dict())
        if (early_stopping and history.best_epoch is not None
                and epoch + 1 - history.best_epoch >= early_stopping):
            history.stopped_early = True

        if checkpoint is not None:
            _save(checkpoint, model, optimizer, device, epoch + 1, history,
                  best_value, best_state)
        if on_epoch is not None:
            on_epoch(history)

    if history.stopped_early and restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return history
