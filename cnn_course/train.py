"""Training loop, learning-rate schedules and evaluation.

Lectures: ``lectures/08_lenet.ipynb`` (the first real training run),
``lectures/09_overfitting.ipynb`` (early stopping, augmentation),
``lectures/11_transfer.ipynb`` (fine-tuning with two learning rates).

``fit(model, train_data, val_data, optimizer=..., schedule=..., epochs=...)`` trains
with ``tqdm.auto`` progress bars (running loss and accuracy), evaluates after every
epoch and returns a :class:`History`. It can save a checkpoint after every epoch and
resume from it exactly, seed everything, stop early, and use bf16 autocast on CUDA.

``CNN_COURSE_FAST=1`` (set by the tests and CI) is "fast mode": lectures and the
``cnn-course train`` command use :func:`fast` to shrink epochs and data so that every
notebook runs on a CPU in seconds. The normal mode is the real course.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "fast_mode", "fast", "seed_everything", "TensorLoader", "Schedule",
    "ConstantSchedule", "StepSchedule", "CosineSchedule", "PowerSchedule",
    "step_schedule", "cosine_schedule", "power_schedule", "History", "fit",
    "evaluate", "predict", "accuracy", "confusion_matrix", "save_checkpoint",
    "load_checkpoint",
]


# ----------------------------------------------------------------------------------
# Fast mode and seeding
# ----------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------
# Batches from tensors
# ----------------------------------------------------------------------------------


class TensorLoader:
    """Mini-batches ``(X, y)`` from an in-memory dataset, fast and reproducible.

    ``data`` is an :class:`~cnn_course.data.ImageDataset` (uint8 images become
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


def _as_loader(data, batch_size: int, shuffle: bool, transform, seed, device):
    """Wrap datasets and tensor pairs in a :class:`TensorLoader`; pass loaders on."""
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


# ----------------------------------------------------------------------------------
# Learning-rate schedules
# ----------------------------------------------------------------------------------


class Schedule:
    """A learning-rate schedule: ``lr(step) = lr0 * factor(step, ...)``.

    ``step`` counts optimizer steps from 0; ``steps_per_epoch`` and ``total_steps``
    let a schedule speak in epochs or in fractions of the run. ``fit`` sets every
    parameter group's ``lr`` to its own initial lr times the factor, so groups with
    different learning rates (transfer learning) keep their ratio.
    """

    def factor(self, step: int, steps_per_epoch: int, total_steps: int) -> float:
        raise NotImplementedError

    def lrs(self, lr: float, steps_per_epoch: int, epochs: int) -> list[float]:
        """The learning rate of every step of a run, for plots and checks."""
        total = steps_per_epoch * epochs
        return [lr * self.factor(s, steps_per_epoch, total) for s in range(total)]


@dataclass
class ConstantSchedule(Schedule):
    """The same learning rate throughout."""

    def factor(self, step, steps_per_epoch, total_steps):
        return 1.0


@dataclass
class StepSchedule(Schedule):
    """Multiply the learning rate by ``gamma`` every ``every`` epochs."""

    every: int = 10
    gamma: float = 0.1

    def factor(self, step, steps_per_epoch, total_steps):
        epoch = step // max(steps_per_epoch, 1)
        return self.gamma ** (epoch // self.every)


@dataclass
class CosineSchedule(Schedule):
    """Half a cosine from 1 down to ``min_factor`` over the run, after a linear
    warm-up of ``warmup_epochs`` epochs."""

    warmup_epochs: float = 0.0
    min_factor: float = 0.0

    def factor(self, step, steps_per_epoch, total_steps):
        warmup = int(self.warmup_epochs * steps_per_epoch)
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total_steps - warmup, 1)
        cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return self.min_factor + (1 - self.min_factor) * cosine


@dataclass
class PowerSchedule(Schedule):
    """The decks' ``eta_t = eta_0 / t^power`` (power 0.3), t = 1, 2, 3, ...

    ``per="step"`` counts optimizer steps (the lecture's SGD), ``per="epoch"``
    counts epochs.
    """

    power: float = 0.3
    per: str = "step"

    def __post_init__(self) -> None:
        if self.per not in ("step", "epoch"):
            raise ValueError(f"expected per 'step' or 'epoch', got {self.per!r}")

    def factor(self, step, steps_per_epoch, total_steps):
        t = step + 1 if self.per == "step" else step // max(steps_per_epoch, 1) + 1
        return 1.0 / t ** self.power


def step_schedule(every: int = 10, gamma: float = 0.1) -> StepSchedule:
    """lr times ``gamma`` every ``every`` epochs."""
    return StepSchedule(every, gamma)


def cosine_schedule(warmup_epochs: float = 0.0, min_factor: float = 0.0
                    ) -> CosineSchedule:
    """Cosine decay over the whole run, with an optional linear warm-up."""
    return CosineSchedule(warmup_epochs, min_factor)


def power_schedule(power: float = 0.3, per: str = "step") -> PowerSchedule:
    """``eta_t = eta_0 / t ** power``: the lecture's ``0.1 / t^0.3`` is
    ``lr=0.1, schedule=power_schedule(0.3)``."""
    return PowerSchedule(power, per)


# ----------------------------------------------------------------------------------
# Metrics and evaluation
# ----------------------------------------------------------------------------------


def _default_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy; binary cross-entropy when the model has one output."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    return F.cross_entropy(logits, y)


def _predicted(logits: torch.Tensor) -> torch.Tensor:
    """Class predictions: arg-max, or ``logit > 0`` for a one-output model."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=1)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of correct predictions (arg-max, or ``logit > 0`` for one output)."""
    return (_predicted(logits) == y).float().mean().item()


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor,
                     num_classes: int | None = None) -> torch.Tensor:
    """``cm[i, j]`` = how many examples of true class i were predicted as j.

    ``int64 (num_classes, num_classes)``; rows sum to the class counts.
    """
    y_true = torch.as_tensor(y_true).long().flatten().cpu()
    y_pred = torch.as_tensor(y_pred).long().flatten().cpu()
    if num_classes is None:
        num_classes = int(max(y_true.max(), y_pred.max()).item()) + 1
    flat = y_true * num_classes + y_pred
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def _autocast(device: torch.device, bf16: bool):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@torch.no_grad()
def predict(model: nn.Module, data, device: str | torch.device | None = None, *,
            batch_size: int = 512, transform: Callable | None = None,
            bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` in eval mode over ``data``: ``(logits (N, K), labels (N,))``.

    Both are returned on the CPU; logits are float32.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    loader = _as_loader(data, batch_size, False, transform, None, device)
    was_training = model.training
    model.eval()
    logits, labels = [], []
    try:
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            with _autocast(device, bf16):
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
    loss_fn = loss_fn or _default_loss
    return {"loss": float(loss_fn(logits, labels)), "acc": accuracy(logits, labels)}


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


# ----------------------------------------------------------------------------------
# History and checkpoints
# ----------------------------------------------------------------------------------


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


def save_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None,
                    **extra: Any) -> Path:
    """Save model (and optimizer) state plus ``extra`` to ``path``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), **extra}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-save never leaves a broken checkpoint
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint; copy its states into ``model`` and ``optimizer`` if given."""
    state = torch.load(path, map_location=map_location, weights_only=False)
    if model is not None:
        model.load_state_dict(state["model"])
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    return state


# ----------------------------------------------------------------------------------
# The training loop
# ----------------------------------------------------------------------------------

def _higher(new: float, old: float) -> bool:
    return new > old


def _lower(new: float, old: float) -> bool:
    return new < old


# which metric early stopping watches, and what counts as an improvement of it
_MONITORS = {"val_acc": _higher, "val_loss": _lower, "train_acc": _higher,
             "train_loss": _lower}


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
      tensors, a :class:`TensorLoader` or any iterable of ``(X, y)`` batches with
      a length (a ``DataLoader``). Datasets and pairs are batched by
      ``batch_size``; training batches are shuffled and passed through
      ``transform`` (augmentation and normalisation), validation batches
      through ``eval_transform``.
    - ``optimizer``: default SGD with momentum 0.9 at ``lr``. ``schedule`` (e.g.
      :func:`cosine_schedule`) sets each group's lr before every step.
    - ``loss_fn(logits, y)``: default cross-entropy (binary for one output).
    - ``seed``: seeds torch, and makes the shuffling, augmentation and dropout of
      every epoch a function of (seed, epoch); ``deterministic`` also asks for
      deterministic kernels (see :func:`seed_everything`).
    - ``bf16``: bf16 autocast; default on for CUDA devices that support it.
    - ``early_stopping=k``: stop when ``monitor`` (``"val_acc"``, ``"val_loss"``, ...)
      has not improved for ``k`` epochs; ``restore_best`` then reloads the best
      epoch's weights.
    - ``checkpoint``: a file saved after every epoch (model, optimizer, history,
      random state); ``resume=True`` continues from it when it exists, exactly as if
      the run had not stopped.
    - ``on_epoch(history)``: called after every epoch (printing, plotting).

    Returns the :class:`History`.
    """
    device = torch.device(device) if device is not None else _model_device(model)
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
    loss_fn = loss_fn or _default_loss
    schedule = schedule or ConstantSchedule()
    train_loader = _as_loader(train_data, batch_size, True, transform, seed, device)
    val_loader = _as_loader(val_data, 2 * batch_size, False, eval_transform, None,
                            device)
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * epochs

    history = History()
    start_epoch = 0
    better = _MONITORS[monitor]
    best_value, best_state = None, None
    if checkpoint is not None and resume and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, model, optimizer, map_location=device)
        history = History.from_dict(state["history"])
        start_epoch = state["epoch"]
        best_value, best_state = state.get("best_value"), state.get("best_state")
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], device)

    from tqdm.auto import tqdm

    step = start_epoch * steps_per_epoch
    for epoch in range(start_epoch, epochs):
        if history.stopped_early:
            break
        if seed is not None:
            torch.manual_seed(seed * 1_000_003 + epoch)  # dropout of this epoch
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        model.train()
        started = time.perf_counter()
        total_loss, total_correct, total_seen = 0.0, 0, 0
        # the bar is closed by hand, after the validation numbers are on it
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}",
                   disable=not progress, leave=True, dynamic_ncols=True)
        for X, y in train_loader:
            X, y = X.to(device), y.to(device)
            factor = schedule.factor(step, steps_per_epoch, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * factor
            with _autocast(device, bf16):
                logits = model(X)
            loss = loss_fn(logits.float(), y)  # the loss in float32, always
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            with torch.no_grad():
                n = y.shape[0]
                total_loss += loss.item() * n
                total_correct += int((_predicted(logits) == y).sum())
                total_seen += n
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / total_seen:.4f}",
                            acc=f"{total_correct / total_seen:.3f}")
        if total_seen == 0:
            bar.close()
            raise ValueError("the training data gave no batches")

        history.epoch.append(epoch + 1)
        history.lr.append(optimizer.param_groups[-1]["lr"])
        history.train_loss.append(total_loss / total_seen)
        history.train_acc.append(total_correct / total_seen)
        if val_loader is not None:
            metrics = evaluate(model, val_loader, device, loss_fn=loss_fn, bf16=bf16)
            history.val_loss.append(metrics["loss"])
            history.val_acc.append(metrics["acc"])
            bar.set_postfix(loss=f"{history.train_loss[-1]:.4f}",
                            acc=f"{history.train_acc[-1]:.3f}",
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
            extra = {"epoch": epoch + 1, "history": history.as_dict(),
                     "best_value": best_value, "best_state": best_state,
                     "rng": torch.get_rng_state()}
            if device.type == "cuda":
                extra["cuda_rng"] = torch.cuda.get_rng_state(device)
            save_checkpoint(checkpoint, model, optimizer, **extra)
        if on_epoch is not None:
            on_epoch(history)

    if history.stopped_early and restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return history
