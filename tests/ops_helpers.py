"""Shared helpers for the tests of ``cnn_course.ops``: the torch oracle and settings.

Every numpy op is compared with torch in float64. Tolerance: element-wise relative
error 1e-9, with an absolute floor of 1e-9 times the largest expected magnitude (an
entry that cancels to about 0 can only be compared relative to the array's scale).
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)  # the tests run in parallel workers on a small machine

RTOL = 1e-9

# Reproducible property tests: the same examples on every run, no example database.
ORACLE = settings(
    max_examples=100, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FEW = settings(ORACLE, max_examples=25)


def assert_close(actual, expected, rtol: float = RTOL, what: str = "",
                 scale: float = 0.0) -> None:
    """Assert that ``actual`` matches ``expected`` (numpy or torch) to ``rtol``.

    The absolute floor is ``rtol`` times the larger of ``scale`` and the largest
    expected magnitude; pass ``scale`` when every expected entry is tiny by
    cancellation (e.g. ``1 - tanh(x)**2`` at ``|x| = 30``), where both sides can
    only be right to about ``1e-16 * scale``.
    """
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} != expected {expected.shape}"
    )
    if expected.size:
        scale = max(scale, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=rtol,
                               atol=rtol * max(scale, 1e-300), err_msg=what)


def tensor(a: np.ndarray, grad: bool = True) -> torch.Tensor:
    """A float64 torch copy of ``a`` that records gradients."""
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def rng_for(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)
