"""cnn_course.ops.signal: 1-D and 2-D correlation and convolution, against torch/scipy."""

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_course.ops import (
    convolve1d,
    convolve2d,
    correlate1d_fast,
    correlate1d_naive,
    correlate2d_fast,
    correlate2d_naive,
    output_size,
)

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


@st.composite
def signal_and_kernel_2d(draw):
    H, W = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    HH, WW = draw(st.integers(1, H)), draw(st.integers(1, W))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return rng.normal(size=(H, W)), rng.normal(size=(HH, WW))


@SETTINGS
@given(signal_and_kernel_2d())
def test_correlate2d_matches_torch_conv2d(case):
    a, w = case
    ref = F.conv2d(torch.from_numpy(a)[None, None], torch.from_numpy(w)[None, None])[0, 0]
    for fn in (correlate2d_naive, correlate2d_fast):
        np.testing.assert_allclose(fn(a, w), ref.numpy(), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(st.integers(1, 20), st.integers(1, 20), st.integers(0, 2**31))
def test_correlate1d_matches_torch_conv1d(L, K, seed):
    K = min(K, L)
    rng = np.random.default_rng(seed)
    a, w = rng.normal(size=L), rng.normal(size=K)
    ref = F.conv1d(torch.from_numpy(a)[None, None], torch.from_numpy(w)[None, None])[0, 0]
    for fn in (correlate1d_naive, correlate1d_fast):
        np.testing.assert_allclose(fn(a, w), ref.numpy(), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(signal_and_kernel_2d(), st.sampled_from(["valid", "same", "full"]))
def test_modes_and_true_convolution_match_scipy(case, mode):
    a, w = case
    np.testing.assert_allclose(correlate2d_fast(a, w, mode),
                               scipy.signal.correlate2d(a, w, mode), atol=1e-12)
    np.testing.assert_allclose(correlate2d_naive(a, w, mode),
                               scipy.signal.correlate2d(a, w, mode), atol=1e-12)
    np.testing.assert_allclose(convolve2d(a, w, mode),
                               scipy.signal.convolve2d(a, w, mode), atol=1e-12)
    np.testing.assert_allclose(convolve1d(a[0], w[0], mode),
                               np.convolve(a[0], w[0], mode), atol=1e-12)


def test_decks_worked_examples_true_values():
    assert correlate1d_fast([3, 1, 4, 1, 5, 9], np.array([1, 0, -1])).tolist() == [-1, 0, -1, -8]
    w = np.array([[1, 0], [0, -1]])
    A = np.array([[3, 1, 4], [1, 5, 9], [2, 6, 5]])
    assert correlate2d_fast(A, w).tolist() == [[-2, -8], [-5, 0]]  # deck: [-1, 0] row
    B = np.array([[1, 2, -1, 0, 1], [-1, 1, 3, 4, 4], [2, -3, 4, 3, -4],
                  [-3, 2, 0, -1, 0], [5, 2, -4, 0, 1]])
    assert correlate2d_naive(B, w).tolist() == [[0, -1, -5, -4], [2, -3, 0, 8],
                                                [0, -3, 5, 3], [-5, 6, 0, -2]]


def test_output_size_decks_examples():
    assert output_size(7, 3, 1) == 5
    assert output_size(7, 3, 2) == 3  # the deck says 5
    assert output_size(32, 5) == 28
    with pytest.raises(ValueError, match=r"\(7 - 3 \+ 2\*0\)/3 \+ 1 = 2.33"):
        output_size(7, 3, 3)


@pytest.mark.parametrize("fn", [correlate2d_naive, correlate2d_fast])
def test_bad_input_names_what_was_expected(fn):
    with pytest.raises(ValueError, match=r"expected a of shape \(H, W\).*got shape \(3,\)"):
        fn(np.ones(3), np.ones((2, 2)))
    with pytest.raises(ValueError, match="larger than the"):
        fn(np.ones((2, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="expected mode to be one of"):
        fn(np.ones((4, 4)), np.ones((3, 3)), "circular")
