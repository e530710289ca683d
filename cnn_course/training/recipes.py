"""The course's training recipe: what ``cnn-course train`` and lecture 08 train with.

One place for the numbers (lecture ``08_lenet`` trains LeNet-5 with exactly this, and
``cnn-course train`` uses it by default): SGD with Nesterov momentum and weight decay
on the weights only, a cosine schedule, and per kind of data an epoch count, batch
size and augmentation. Every value can be overridden on the command line.

:data:`SPEEDRUN` is the other recipe: the modern LeNet-5 raced to 99 % MNIST test
accuracy on two CPU threads (lecture ``08_lenet``, section 8; ``cnn-course
speedrun``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

# What works for each kind of data.
RECIPES = {
    "gray": {"epochs": 20, "lr": 0.05, "weight_decay": 5e-4, "batch_size": 128,
             "augment": "shift"},
    "colour": {"epochs": 30, "lr": 0.05, "weight_decay": 5e-4, "batch_size": 128,
               "augment": "crop-flip"},
}

# Per-architecture changes: the classic LeNet-5's RBF output gives large scores
# (squared distances over 84 units), so it needs a ten times smaller step.
MODEL_RECIPES = {"lenet5-classic": {"lr": 0.005}}


def recipe(architecture: str, colour: bool) -> dict:
    """The settings for ``architecture`` (a registry name) on gray or colour images."""
    settings = dict(RECIPES["colour" if colour else "gray"])
    settings.update(MODEL_RECIPES.get(architecture, {}))
    return settings


def augmentation(kind: str, size: int, mean: Sequence[float], std: Sequence[float]):
    """``(train_transform, eval_transform)`` for an augmentation kind.

    ``shift`` (MNIST digits: small shifts, never flips, a mirrored 2 is not a 2),
    ``crop-flip``, ``full`` or ``none``; both transforms end by normalising.
    """
    from cnn_course.data.augment import (
        ColorJitter,
        Compose,
        HorizontalFlip,
        Normalize,
        RandomCrop,
        RandomRotation,
    )

    kinds = {
        "none": [],
        "shift": [RandomCrop(size, padding=2)],
        "crop-flip": [RandomCrop(size, padding=size // 8), HorizontalFlip()],
        "full": [RandomCrop(size, padding=size // 8), HorizontalFlip(),
                 RandomRotation(10), ColorJitter(0.2, 0.2)],
    }
    if kind not in kinds:
        raise ValueError(f"augmentation must be one of {', '.join(kinds)}, got {kind!r}")
    return Compose(kinds[kind] + [Normalize(mean, std)]), Normalize(mean, std)


def optimizer(model: nn.Module, lr: float, weight_decay: float, kind: str = "sgd"
              ) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum (or AdamW); weight decay on the weights, none on the
    1-D parameters (biases, normalisation and subsampling coefficients)."""
    decay = [p for p in model.parameters() if p.ndim != 1]
    no_decay = [p for p in model.parameters() if p.ndim == 1]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if kind == "adam":
        return torch.optim.AdamW(groups, lr=lr)
    if kind != "sgd":
        raise ValueError(f"optimizer must be sgd or adam, got {kind!r}")
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)


@dataclass(frozen=True)
class SpeedrunRecipe:
    """The LeNet-5 speedrun's numbers: MNIST to 99 % test accuracy, fast, on a CPU.

    Lecture ``08_lenet``, section 8, measures what each one buys; ``cnn-course
    speedrun`` and ``benchmarks/bench_speedrun.py`` run it with
    :func:`cnn_course.training.speedrun.speedrun`. The model is the modern LeNet-5,
    unchanged. ``epochs`` may be a fraction: the run stops after
    ``round(epochs * (N // batch_size))`` steps.
    """

    epochs: float = 1.5
    batch_size: int = 128
    optimizer: str = "adam"  # AdamW; "sgd" is the course recipe's Nesterov SGD
    lr: float = 0.007  # the peak, after the warm-up
    weight_decay: float = 5e-4  # on the weights only, as in the course recipe
    warmup_epochs: float = 0.3  # linear warm-up, then a half cosine down to 0
    label_smoothing: float = 0.1
    channels_last: bool = True  # memory layout (N, H, W, C): same network, faster
    threads: int = 2  # torch CPU threads for the race
    target: float = 0.99  # the test accuracy to reach


#: The speedrun as raced: ``dataclasses.replace(SPEEDRUN, epochs=2)`` for a variant.
SPEEDRUN = SpeedrunRecipe()
