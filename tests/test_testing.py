"""cnn_course.course.testing: actionable messages, and shortcut detection that aliases can't hide."""

import numpy as np
import pytest
import torch

from cnn_course.course.testing import (
    expect_close,
    expect_conv_shape,
    expect_raises,
    expect_shape,
    forbid_shortcuts,
)


def test_shape_message_names_expected_and_got():
    with pytest.raises(AssertionError, match=r"expected output of shape \(2, 2\), got \(3, 3\): hint"):
        expect_shape(np.zeros((3, 3)), (2, 2), hint="hint")
    with pytest.raises(AssertionError, match="did you forget to `return`"):
        expect_shape(None, (2, 2))
    expect_shape(np.zeros((2, 2)), (2, 2))


def test_close_message_points_at_first_wrong_element():
    with pytest.raises(AssertionError, match=r"wrong at 1 of 4 positions; first at index \(1, 0\): got 9, expected -5"):
        expect_close(np.array([[-2, -8], [9, 0]]), [[-2, -8], [-5, 0]])
    expect_close(np.array([[1.0]]), [[1.0 + 1e-12]])


@pytest.mark.parametrize("params, got, question", [
    (dict(pad=1), (2, 4, 5, 5), "did you apply the padding?"),
    (dict(stride=2), (2, 4, 5, 5), "did you apply the stride?"),
    (dict(dilation=2), (2, 4, 5, 5), "did you apply the dilation?"),
])
def test_conv_shape_hint_guesses_the_forgotten_parameter(params, got, question):
    x_shape, w_shape = (2, 3, 7, 7), (4, 3, 3, 3)
    with pytest.raises(AssertionError, match=question.replace("?", r"\?")):
        expect_conv_shape(np.zeros(got), x_shape, w_shape, **params)
    if "pad" in params:  # the full message, as the issue words it
        with pytest.raises(AssertionError, match=r"expected output of shape \(2, 4, 7, 7\), got \(2, 4, 5, 5\)"):
            expect_conv_shape(np.zeros(got), x_shape, w_shape, **params)


def test_expect_raises():
    expect_raises(ValueError, int, "x")
    with pytest.raises(AssertionError, match="to raise ValueError, but it returned 3"):
        expect_raises(ValueError, int, "3")


def _pad_with_numpy(x):
    return np.pad(x, 1)


def _conv_with_renamed_torch(x):
    from torch.nn.functional import conv2d as innocent

    t = torch.from_numpy(x)[None, None]
    return innocent(t, t).numpy()


def _uses_course_library(x):
    from cnn_course.ops import correlate2d as mine

    return mine(x, x)


def _honest(x):
    out = np.zeros((x.shape[0] + 2, x.shape[1] + 2))
    out[1:-1, 1:-1] = x
    return out


@pytest.mark.parametrize("fn, culprit", [
    (_pad_with_numpy, "numpy.lib._arraypad_impl"),
    (_conv_with_renamed_torch, "torch"),
    (_uses_course_library, "cnn_course.ops.signal"),
])
def test_forbid_shortcuts_catches_library_calls(fn, culprit):
    with pytest.raises(AssertionError, match=rf"shortcut used: {fn.__name__} calls .*{culprit}"):
        forbid_shortcuts(fn, np.ones((3, 3)))


def test_forbid_shortcuts_passes_honest_code_and_restores_profiler():
    import sys

    assert forbid_shortcuts(_honest, np.ones((2, 2))).shape == (4, 4)
    assert sys.getprofile() is None
    # the forbidden list is a parameter: np.pad passes where only torch is forbidden
    assert forbid_shortcuts(_pad_with_numpy, np.ones((2, 2)), forbidden=("torch",)).shape == (4, 4)
