"""The grader's weights for module parts: drawn from a seed, the same code on both sides.

Specs that check a student's ``nn.Module`` against a reference load the same weights
into both: here, for the references, and in the notebook's checks, where
:data:`GRADER_WEIGHTS` travels as source text among the assignment's helpers (the
checks run without ``cnn_course.course``). Kinds of entry: ``weight`` (a kernel or a
matrix, unit variance in and out), ``bias``, batch norm's ``gamma``, ``beta``,
``mean``, ``var`` and ``count`` (``num_batches_tracked``), and ``fixed`` (left as the
module made it, such as LeNet-5's RBF prototypes).
"""

from __future__ import annotations

import numpy as np
import torch

GRADER_WEIGHTS = '''
def grader_weights(entries, seed):
    """{name: float64 tensor} from [(name, shape, kind), ...], drawn from seed."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape, kind in entries:
        shape = tuple(shape)
        if kind == "fixed":  # left to the module
            continue
        if kind == "count":  # batch norm's num_batches_tracked
            state[name] = torch.tensor(0)
            continue
        if kind == "weight":  # a kernel: unit variance in, unit variance out
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            value = rng.normal(size=shape) / np.sqrt(fan_in)
        elif kind in ("gamma", "var"):  # batch norm's scale, running variance
            value = rng.uniform(0.5, 2.0, size=shape)
        else:  # biases, batch norm's shift and running mean
            value = rng.normal(size=shape) * 0.5
        state[name] = torch.from_numpy(value)
    return state
'''

_scope: dict = {"np": np, "torch": torch}
exec(GRADER_WEIGHTS, _scope)  # noqa: S102 (the course's own source, above)
grader_weights = _scope["grader_weights"]


# Checks of a module part that the specs share (``run(NAMES, {"build": ...})``): its
# state dict's names and shapes, and its parameter count.
NAMES = '''
model = eval(build)
result = sorted([name, list(t.shape)] for name, t in model.state_dict().items())
'''
PARAMS = '''
model = eval(build)
result = sum(p.numel() for p in model.parameters())
'''
NAMES_HINT = "the names must be exactly the notebook's (print(model.state_dict().keys()))"
