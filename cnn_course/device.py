"""Pick the device a lecture runs on: cuda, then mps, then cpu.

Lectures: every one, from ``lectures/01_fully_connected.ipynb`` on.

Every lecture notebook starts with ``device = get_device()``. The choice is printed
once per process, so a student always sees where their tensors live.
:func:`model_device` says where a model already is (the training loop and the
counting functions follow the model there).
"""

from __future__ import annotations

import functools
import os

import torch


@functools.lru_cache(maxsize=None)
def get_device(verbose: bool = True) -> torch.device:
    """Return the best available ``torch.device`` and print it once.

    Order: CUDA GPU, Apple-silicon GPU (mps), CPU. Set ``CNN_COURSE_DEVICE=cpu`` (or any
    other device string) to override the choice.
    """
    forced = os.environ.get("CNN_COURSE_DEVICE")
    if forced:
        device = torch.device(forced)
        why = "set by CNN_COURSE_DEVICE"
    elif torch.cuda.is_available():
        device = torch.device("cuda")
        why = torch.cuda.get_device_name(0)
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device = torch.device("mps")
        why = "Apple GPU"
    else:
        device = torch.device("cpu")
        why = f"no GPU found, {torch.get_num_threads()} CPU threads"
    if verbose:
        print(f"cnn_course: using device {device} ({why})")
    return device


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s first parameter lives; the CPU for a model without any."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")
