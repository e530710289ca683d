"""Learning-rate schedules: constant, step, cosine with warm-up, and the decks' power
law ``eta_t = eta_0 / t^0.3``.

Lectures: ``lectures/08_lenet.ipynb`` (the power law of the decks),
``lectures/09_overfitting.ipynb`` (step and cosine decay).

A schedule is a factor of the initial learning rate, a function of the optimizer
step: ``lr(step) = lr0 * factor(step, steps_per_epoch, total_steps)``.
:meth:`Schedule.apply` sets it on every parameter group before a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "Schedule", "ConstantSchedule", "StepSchedule", "CosineSchedule",
    "PowerSchedule", "step_schedule", "cosine_schedule", "power_schedule",
]


class Schedule:
    """A learning-rate schedule: ``lr(step) = lr0 * factor(step, ...)``.

    ``step`` counts optimizer steps from 0; ``steps_per_epoch`` and ``total_steps``
    let a schedule speak in epochs or in fractions of the run. ``fit`` sets every
    parameter group's ``lr`` to its own initial lr times the factor, so groups with
    different learning rates (transfer learning) keep their ratio.
    """

    def factor(self, step: int, steps_per_epoch: int, total_steps: int) -> float:
        raise NotImplementedError

    def apply(self, optimizer: torch.optim.Optimizer, step: int,
              steps_per_epoch: int, total_steps: int) -> None:
        """Set every group's ``lr`` to its ``initial_lr`` times this step's factor."""
        factor = self.factor(step, steps_per_epoch, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

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
