"""The LeNet-5 speedrun: MNIST to 99 % test accuracy in as few CPU seconds as possible.

Lecture: ``lectures/08_lenet.ipynb``, section 8 (what each trick buys, measured);
``cnn-course speedrun`` and ``benchmarks/bench_speedrun.py`` race it.

The numbers are :data:`~cnn_course.training.recipes.SPEEDRUN`; the model is the
course's modern LeNet-5 (``lenet5("modern", input_size=28)``), unchanged. What makes
the run short, against the course's recipe (:func:`default_run`):

- the data is loaded before the clock starts, as one normalised ``float32`` tensor
  (:func:`prepare`): a batch is one index into it, with no ``uint8`` to ``float``
  conversion and no augmentation per batch;
- AdamW at a peak of 0.007, after a linear warm-up of 0.3 epochs and then a half
  cosine down to 0, gets further per step than Nesterov SGD does in so few steps;
- label smoothing 0.1 keeps the last steps from chasing the last few training
  digits;
- the model and the data are stored channels-last, ``(N, H, W, C)`` in memory
  (``torch.channels_last``): the same network and the same numbers up to rounding,
  but oneDNN's CPU convolutions and pooling run faster in that layout;
- so 1.5 epochs are enough where the course's recipe takes 2 for less.

Training time is the wall time of :func:`train_speedrun` alone: no data loading, no
evaluation. A process's first steps pay one-time costs (oneDNN builds its kernels
for each shape it meets): :func:`warm_up` pays them before any clock starts, for
the speedrun and for its yardstick alike, and says how long they took.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from .recipes import SPEEDRUN, SpeedrunRecipe
from .schedules import cosine_schedule

__all__ = ["SpeedrunResult", "prepare", "train_speedrun", "speedrun", "default_run",
           "ladder", "warm_up", "threads"]


@dataclass
class SpeedrunResult:
    """One run: test accuracy, training seconds, optimizer steps, the seed and the
    trained model."""

    acc: float
    seconds: float
    steps: int
    seed: int
    model: nn.Module | None = field(default=None, repr=False)


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (``None``: leave them as they are),
    then restore the previous number."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def warm_up(batch_size: int = SPEEDRUN.batch_size, steps: int = 3,
            num_threads: int | None = None) -> float:
    """A few training steps of a throwaway LeNet-5 on random digits, in both memory
    layouts, so that the process's one-time costs are not counted as training (of
    the speedrun or of its yardstick). Returns their seconds."""
    from ..models import lenet5

    generator = torch.Generator().manual_seed(0)
    X = torch.randn(batch_size, 1, 28, 28, generator=generator)  # (B, 1, 28, 28)
    y = torch.randint(0, 10, (batch_size,), generator=generator)  # (B,)
    with threads(num_threads):
        started = time.perf_counter()
        for layout in (torch.contiguous_format, torch.channels_last):
            model = lenet5("modern", num_classes=10, in_channels=1, input_size=28)
            model = model.to(memory_format=layout)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
            for _ in range(steps):
                loss = F.cross_entropy(model(X.contiguous(memory_format=layout)), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        return time.perf_counter() - started


def prepare(dataset, mean: Sequence[float], std: Sequence[float]
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole of ``dataset`` as one normalised tensor: ``X (N, C, H, W)``
    ``float32``, ``y (N,)`` ``int64``. Done once, before the clock starts."""
    X, y = dataset.tensors()  # (N, C, H, W) in [0, 1]
    mean_ = torch.tensor(mean).view(1, -1, 1, 1)
    std_ = torch.tensor(std).view(1, -1, 1, 1)
    return ((X - mean_) / std_).contiguous(), y


def train_speedrun(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                   recipe: SpeedrunRecipe = SPEEDRUN, seed: int = 0) -> int:
    """Train ``model`` on ``X (N, C, H, W)``, ``y (N,)`` by ``recipe``.

    Full batches only, reshuffled every epoch by a generator seeded with ``seed``;
    the learning rate is set before every step. Returns the number of steps.
    """
    from .recipes import optimizer as make_optimizer

    batch_size = recipe.batch_size
    steps_per_epoch = X.shape[0] // batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{X.shape[0]} training images make no batch of "
                         f"{batch_size}: lower the batch size")
    total_steps = max(round(recipe.epochs * steps_per_epoch), 1)
    optimizer = make_optimizer(model, recipe.lr, recipe.weight_decay,
                               recipe.optimizer)
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]  # what the schedule scales
    schedule = cosine_schedule(warmup_epochs=recipe.warmup_epochs)
    generator = torch.Generator().manual_seed(seed)

    model.train()
    step = 0
    while step < total_steps:
        order = torch.randperm(X.shape[0], generator=generator)  # a new epoch
        for start in range(0, steps_per_epoch * batch_size, batch_size):
            if step == total_steps:  # a fraction of an epoch: stop in the middle
                break
            index = order[start:start + batch_size]  # (B,)
            schedule.apply(optimizer, step, steps_per_epoch, total_steps)
            logits = model(X[index])  # (B, 10)
            loss = F.cross_entropy(logits, y[index],
                                   label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    return step


@torch.no_grad()
def _test_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                   batch_size: int = 2000) -> float:
    model.eval()
    correct = 0
    for start in range(0, X.shape[0], batch_size):
        logits = model(X[start:start + batch_size])  # (B, 10)
        correct += int((logits.argmax(dim=1) == y[start:start + batch_size]).sum())
    return correct / X.shape[0]


def speedrun(train, test, mean: Sequence[float], std: Sequence[float],
             recipe: SpeedrunRecipe = SPEEDRUN, seed: int = 0,
             num_threads: int | None = None) -> SpeedrunResult:
    """One speedrun: a modern LeNet-5 seeded with ``seed``, trained on ``train`` by
    ``recipe`` and scored on ``test`` (``ImageDataset`` s of 28×28 gray digits).

    ``num_threads``: the torch CPU threads for the run (the race uses
    ``recipe.threads``); ``None`` leaves them as they are. ``seconds`` is the wall
    time of :func:`train_speedrun` only.
    """
    from ..models import lenet5

    X, y = prepare(train, mean, std)  # data loading: before the clock
    X_test, y_test = prepare(test, mean, std)
    torch.manual_seed(seed)  # the initial weights
    model = lenet5("modern", num_classes=10, in_channels=X.shape[1], input_size=28)
    if recipe.channels_last:  # the same tensors, stored (N, H, W, C) in memory
        model = model.to(memory_format=torch.channels_last)
        X = X.contiguous(memory_format=torch.channels_last)
    with threads(num_threads):
        started = time.perf_counter()
        steps = train_speedrun(model, X, y, recipe, seed)
        seconds = time.perf_counter() - started
        acc = _test_accuracy(model, X_test, y_test)
    return SpeedrunResult(acc, seconds, steps, seed, model)


def default_run(train, test, mean: Sequence[float], std: Sequence[float],
                epochs: int = 2, seed: int = 0,
                num_threads: int | None = None) -> SpeedrunResult:
    """The yardstick: the course's recipe (``cnn-course train lenet5-modern``) cut
    to ``epochs`` epochs, with ``fit`` as the lecture trains, no evaluation inside.

    Nesterov SGD at 0.05, cosine decay, batches of 128 converted from ``uint8`` and
    shifted by up to 2 pixels on the fly. ``seconds`` is the wall time of ``fit``.
    """
    from ..models import lenet5
    from .fit import fit
    from .recipes import augmentation, optimizer, recipe

    settings = recipe("lenet5-modern", colour=False)
    augment, normalize = augmentation(settings["augment"], 28, mean, std)
    torch.manual_seed(seed)
    model = lenet5("modern", num_classes=10, in_channels=1, input_size=28)
    sgd = optimizer(model, settings["lr"], settings["weight_decay"])
    with threads(num_threads):
        started = time.perf_counter()
        fit(model, train, None, epochs=epochs, optimizer=sgd,
            schedule=cosine_schedule(), device="cpu",
            batch_size=settings["batch_size"], transform=augment, seed=seed,
            progress=False)
        seconds = time.perf_counter() - started
        X_test, y_test = prepare(test, mean, std)
        acc = _test_accuracy(model, X_test, y_test)
    steps = epochs * -(-len(train) // settings["batch_size"])  # ceil: last batch too
    return SpeedrunResult(acc, seconds, steps, seed, model)


def ladder() -> list[tuple[str, SpeedrunRecipe]]:
    """The speedrun built up one trick at a time, after the yardstick
    (:func:`default_run`): each rung adds one change to the rung before it, and the
    last is :data:`SPEEDRUN` itself. Lecture 08 and ``bench_speedrun.py --ladder``
    measure what each rung buys.

    Returns ``[(what changes, recipe), ...]``.
    """
    from .recipes import recipe

    sgd = dict(optimizer="sgd", lr=recipe("lenet5-modern", colour=False)["lr"],
               warmup_epochs=0, label_smoothing=0.0, epochs=2)  # the yardstick's SGD
    return [
        ("+ one float tensor, no shifts", replace(SPEEDRUN, **sgd, channels_last=False)),
        ("+ channels-last", replace(SPEEDRUN, **sgd)),
        ("+ AdamW, warm-up", replace(SPEEDRUN, label_smoothing=0.0, epochs=2)),
        ("+ label smoothing 0.1", replace(SPEEDRUN, epochs=2)),
        ("1.5 epochs: the speedrun", SPEEDRUN),
    ]
