"""The decks' worked examples, with their true values (SYLLABUS.md, errata table)."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_course import ops

A_5X5 = [[1, 2, -1, 0, 1], [-1, 1, 3, 4, 4], [2, -3, 4, 3, -4], [-3, 2, 0, -1, 0],
         [5, 2, -4, 0, 1]]


def conv2d_single(image, kernel, **params):
    """One image, one filter, no bias, through the multi-channel layer."""
    image, kernel = np.asarray(image, float), np.asarray(kernel, float)
    out, _ = ops.conv2d_forward(image[None, None], kernel[None, None], np.zeros(1),
                                **params)
    return out[0, 0]


def test_1d_correlation_example():
    """A=[3,1,4,1,5,9], w=[1,0,-1] -> [-1, 0, -1, -8], through conv1d (naive, fast)."""
    A, w = np.array([[[3, 1, 4, 1, 5, 9]]], float), np.array([[[1, 0, -1]]], float)
    for forward in (ops.conv1d_forward_fast, ops.conv1d_forward_naive):
        assert forward(A, w, np.zeros(1))[0][0, 0].tolist() == [-1, 0, -1, -8]


def test_2d_correlation_example_with_the_decks_slip_corrected():
    """3x3 example: the deck says [[-2,-8],[-1,0]], the true value [[-2,-8],[-5,0]]."""
    A = [[3, 1, 4], [1, 5, 9], [2, 6, 5]]
    out = conv2d_single(A, [[1, 0], [0, -1]])
    assert out.tolist() == [[-2, -8], [-5, 0]]
    assert out.tolist() != [[-2, -8], [-1, 0]]


def test_5x5_correlation_example_with_the_decks_slip_corrected():
    """5x5 example: the deck's last row [-5,6,0,-1] should end in -2."""
    out = conv2d_single(A_5X5, [[1, 0], [0, -1]])
    assert out.tolist() == [[0, -1, -5, -4], [2, -3, 0, 8], [0, -3, 5, 3],
                            [-5, 6, 0, -2]]


def test_output_sizes_7_by_3():
    """N=7, F=3: stride 1 -> 5, stride 2 -> 3, stride 3 -> 2.33 does not fit."""
    assert ops.output_size(7, 3, stride=1) == 5
    assert ops.output_size(7, 3, stride=2) == 3
    with pytest.raises(ValueError, match=r"2\.33"):
        ops.output_size(7, 3, stride=3)
    x = np.ones((1, 1, 7, 7))
    w = np.ones((1, 1, 3, 3))
    assert conv2d_single(x[0, 0], w[0, 0], stride=1).shape == (5, 5)
    assert conv2d_single(x[0, 0], w[0, 0], stride=2).shape == (3, 3)
    with pytest.raises(ValueError, match=r"2\.33"):
        conv2d_single(x[0, 0], w[0, 0], stride=3)


def test_same_padding_p_equals_f_minus_1_over_2():
    """'Same' padding for stride 1 is P = (F - 1)/2: 3x3 -> 1, 5x5 -> 2."""
    x = np.ones((1, 1, 9, 9))
    for F_ in (3, 5, 7):
        out, _ = ops.conv2d_forward(x, np.ones((1, 1, F_, F_)), np.zeros(1),
                                    pad=(F_ - 1) // 2)
        assert out.shape == (1, 1, 9, 9)


def test_32x32x3_input_with_six_5x5x3_filters_gives_28x28x6():
    """The deck's layer: 32x32x3 input, six 5x5x3 filters -> 28x28x6."""
    x = np.zeros((1, 3, 32, 32))
    out, _ = ops.conv2d_forward(x, np.zeros((6, 3, 5, 5)), np.zeros(6))
    assert out.shape == (1, 6, 28, 28)


def test_2x2_average_pooling_example_with_the_decks_slip_corrected():
    """The deck says [[36,80],[12,15]]; the true mean of the first window is 36.5."""
    x = np.array([[31, 15, 28, 184], [0, 100, 70, 38], [12, 12, 7, 2], [12, 12, 45, 6]],
                 float)[None, None]
    for forward in (ops.avgpool2d_forward_fast, ops.avgpool2d_forward_naive):
        out, _ = forward(x, kernel=2, stride=2)
        assert out[0, 0].tolist() == [[36.5, 80], [12, 15]]


def test_2x2_max_pooling_example():
    """[[1,1,2,4],[5,6,7,8],[3,2,1,0],[1,2,3,4]] -> [[6,8],[3,4]], as the deck says."""
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]],
                 float)[None, None]
    for forward in (ops.maxpool2d_forward_fast, ops.maxpool2d_forward_naive):
        out, _ = forward(x, kernel=2, stride=2)
        assert out[0, 0].tolist() == [[6, 8], [3, 4]]


def test_transposed_convolution_example():
    """Input [[0,1],[2,3]] with kernel [[0,1],[2,3]] -> [[0,0,1],[0,4,6],[4,12,9]]."""
    x = np.array([[0, 1], [2, 3]], float)[None, None]
    for forward in (ops.conv_transpose2d_forward_fast,
                    ops.conv_transpose2d_forward_naive):
        out, _ = forward(x, x, np.zeros(1))
        assert out[0, 0].tolist() == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]


def test_receptive_field_of_stacked_3x3_convolutions():
    """3x3 stack: one output pixel depends on 3, 5, 7 input pixels per side (the
    gradient of one output with respect to the input is non-zero on that square)."""
    for depth, size in ((1, 3), (2, 5), (3, 7)):
        x = np.zeros((1, 1, 9, 9))
        caches, h = [], x
        for _ in range(depth):
            h, cache = ops.conv2d_forward(h, np.ones((1, 1, 3, 3)), np.zeros(1), pad=1)
            caches.append(cache)
        dout = np.zeros(h.shape)
        dout[0, 0, 4, 4] = 1.0
        for cache in reversed(caches):
            dout = ops.conv2d_backward(dout, cache)[0]
        rows, cols = np.nonzero(dout[0, 0])
        extent = (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
        assert extent == (size, size)
