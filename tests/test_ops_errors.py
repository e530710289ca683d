"""cnn_course.ops rejects bad input with a ValueError that says what was expected."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnn_course import ops

rng = np.random.default_rng(0)
x4 = rng.standard_normal((2, 3, 7, 7))
w4 = rng.standard_normal((4, 3, 3, 3))
b4 = np.zeros(4)
x3 = rng.standard_normal((2, 3, 7))
w3 = rng.standard_normal((4, 3, 3))
gamma, beta = np.ones(3), np.zeros(3)


def _cache(forward, *args, **kwargs):
    return forward(*args, **kwargs)[1]


# (id, call, regex the message must match)
CASES = [
    # --- the wrong number of dimensions
    ("pad2d ndim", lambda: ops.pad2d(x3, 1), r"expected x of shape \(N, C, H, W\)"),
    ("pad2d_backward ndim", lambda: ops.pad2d_backward(x3, 1),
     r"expected dout of shape \(N, C, H_pad, W_pad\)"),
    ("conv2d x ndim", lambda: ops.conv2d_forward(x3, w4, b4),
     r"expected x of shape \(N, C, H, W\) \(4-D\), got shape \(2, 3, 7\) \(3-D\)"),
    ("conv2d naive x ndim", lambda: ops.conv2d_forward_naive(x4[0], w4, b4),
     r"expected x of shape \(N, C, H, W\)"),
    ("conv2d w ndim", lambda: ops.conv2d_forward(x4, w3, b4),
     r"expected w of shape \(F, C, HH, WW\)"),
    ("conv2d b shape", lambda: ops.conv2d_forward(x4, w4, np.zeros(3)),
     r"expected b of shape \(F,\) = \(4,\)"),
    ("conv1d x ndim", lambda: ops.conv1d_forward(x4, w3, b4),
     r"expected x of shape \(N, C, L\)"),
    ("conv_transpose2d x ndim", lambda: ops.conv_transpose2d_forward(x3, w4, b4),
     r"expected x of shape \(N, C, H, W\)"),
    ("maxpool ndim", lambda: ops.maxpool2d_forward(x3), r"expected x of shape"),
    ("maxpool naive ndim", lambda: ops.maxpool2d_forward_naive(x3), r"expected x of"),
    ("avgpool ndim", lambda: ops.avgpool2d_forward(x3), r"expected x of shape"),
    ("avgpool naive ndim", lambda: ops.avgpool2d_forward_naive(x3), r"expected x of"),
    ("global avgpool ndim", lambda: ops.global_avgpool_forward(x3),
     r"expected x of shape \(N, C, H, W\)"),
    ("max_unpool ndim", lambda: ops.max_unpool2d(x3, x3.astype(int)),
     r"expected x of shape \(N, C, H', W'\)"),
    ("nearest ndim", lambda: ops.nearest_upsample2d(x3), r"expected x of shape"),
    ("bed of nails ndim", lambda: ops.bed_of_nails_upsample2d(x3), r"expected x of"),
    ("batchnorm2d ndim", lambda: ops.batchnorm2d_forward(x3, gamma, beta),
     r"expected x of shape \(N, C, H, W\)"),
    ("batchnorm1d ndim", lambda: ops.batchnorm1d_forward(x4, gamma, beta),
     r"expected x of shape \(N, C\) or \(N, C, L\)"),
    ("lrn ndim", lambda: ops.local_response_norm_forward(x4[0, 0]),
     r"expected x of shape \(N, C, H, W\)"),
    ("affine w ndim", lambda: ops.affine_forward(x4, np.ones(5), np.ones(5)),
     r"expected w of shape \(D, M\)"),
    ("softmax scores ndim", lambda: ops.softmax_cross_entropy(np.ones(3),
                                                              np.ones(3, int)),
     r"expected scores of shape \(N, K\)"),
    ("softmax y ndim", lambda: ops.softmax_cross_entropy(np.ones((3, 2)),
                                                         np.ones((3, 1), int)),
     r"expected y of shape \(N,\)"),
    # --- backward passes check the upstream gradient
    ("conv2d backward dout", lambda: ops.conv2d_backward(
        np.ones((2, 4, 4, 5)), _cache(ops.conv2d_forward, x4, w4, b4)),
     r"expected dout of shape \(N, F, H', W'\) = \(2, 4, 5, 5\), got \(2, 4, 4, 5\)"),
    ("conv2d naive backward dout", lambda: ops.conv2d_backward_naive(
        np.ones((2, 4, 5)), _cache(ops.conv2d_forward, x4, w4, b4)),
     r"expected dout of shape"),
    ("conv1d backward dout", lambda: ops.conv1d_backward(
        np.ones((2, 4, 5, 1)), _cache(ops.conv1d_forward, x3, w3, b4)),
     r"expected dout of shape \(N, F, L'\)"),
    ("conv_transpose backward dout", lambda: ops.conv_transpose2d_backward(
        np.ones((2, 3, 9, 9)), _cache(ops.conv_transpose2d_forward, x4,
                                      w4.transpose(1, 0, 2, 3), np.zeros(4))),
     r"expected dout of shape"),
    ("maxpool backward dout", lambda: ops.maxpool2d_backward(
        np.ones((2, 3, 2, 2)), _cache(ops.maxpool2d_forward, x4, kernel=3, stride=2)),
     r"expected dout of shape \(N, C, H', W'\) = \(2, 3, 3, 3\)"),
    ("avgpool backward dout", lambda: ops.avgpool2d_backward(
        np.ones((2, 3, 2, 2)), _cache(ops.avgpool2d_forward, x4, kernel=3, stride=2)),
     r"expected dout of shape"),
    ("global avgpool backward dout", lambda: ops.global_avgpool_backward(
        np.ones((2, 4)), x4.shape), r"expected dout of shape \(N, C\) = \(2, 3\)"),
    ("batchnorm backward dout", lambda: ops.batchnorm2d_backward(
        np.ones((2, 3)), _cache(ops.batchnorm2d_forward, x4, gamma, beta)),
     r"expected dout of shape"),
    ("relu backward dout", lambda: ops.relu_backward(np.ones(3), x4),
     r"expected dout of shape"),
    ("affine backward dout", lambda: ops.affine_backward(
        np.ones((2, 3)), _cache(ops.affine_forward, x4, np.ones((147, 5)), np.ones(5))),
     r"expected dout of shape \(N, M\) = \(2, 5\)"),
    # --- a channel mismatch between x and w
    ("conv2d channels", lambda: ops.conv2d_forward(x4, w4[:, :2], b4),
     r"channel mismatch: x has C = 3 channels but w expects C = 2"),
    ("conv2d naive channels", lambda: ops.conv2d_forward_naive(x4, w4[:, :2], b4),
     r"channel mismatch"),
    ("conv1d channels", lambda: ops.conv1d_forward(x3, w3[:, :1], b4),
     r"channel mismatch: x has C = 3 channels but w expects C = 1"),
    ("conv_transpose2d channels", lambda: ops.conv_transpose2d_forward(x4, w4, b4),
     r"channel mismatch: x has C = 3 channels but w expects C = 4"),
    ("batchnorm gamma", lambda: ops.batchnorm2d_forward(x4, np.ones(4), beta),
     r"expected gamma of shape \(C,\) = \(3,\), got \(4,\)"),
    ("affine features", lambda: ops.affine_forward(x4, np.ones((10, 5)), np.ones(5)),
     r"D = 147 features per sample but w of shape \(10, 5\) expects D = 10"),
    # --- a kernel larger than the padded input
    ("conv2d kernel too big", lambda: ops.conv2d_forward(x4, np.ones((1, 3, 10, 3)),
                                                         np.zeros(1), pad=1),
     r"kernel along H spans 10 pixels but the padded input is only 7 \+ 2\*1 = 9"),
    ("conv2d dilated kernel too big",
     lambda: ops.conv2d_forward(x4, w4, b4, dilation=4),
     r"kernel along H spans 9 pixels"),
    ("conv1d kernel too big", lambda: ops.conv1d_forward(x3, np.ones((1, 3, 8)),
                                                         np.zeros(1)),
     r"kernel along L spans 8 pixels but the padded input is only 7"),
    ("maxpool window too big", lambda: ops.maxpool2d_forward(x4, kernel=8),
     r"kernel along H spans 8 pixels"),
    ("avgpool window too big", lambda: ops.avgpool2d_forward(x4, kernel=(1, 9)),
     r"kernel along W spans 9 pixels"),
    # --- a non-integer output size, with the formula filled in
    ("conv2d output size", lambda: ops.conv2d_forward(x4, w4, b4, stride=3),
     r"output size along H \(7 - 3 \+ 2\*0\)/3 \+ 1 = 2\.33 is not an integer"),
    ("conv2d naive output size", lambda: ops.conv2d_forward_naive(x4, w4, b4, stride=3),
     r"= 2\.33 is not an integer"),
    ("conv2d dilated output size", lambda: ops.conv2d_forward(
        x4, w4, b4, stride=(2, 3), dilation=(1, 2)),
     r"along W \(7 - \(2\*\(3 - 1\) \+ 1\) \+ 2\*0\)/3 \+ 1 = 1\.67 is not an integer"),
    ("conv1d output size", lambda: ops.conv1d_forward(x3, w3, b4, stride=3),
     r"output size along L \(7 - 3 \+ 2\*0\)/3 \+ 1 = 2\.33"),
    ("maxpool output size", lambda: ops.maxpool2d_forward(x4, kernel=2),
     r"output size along H \(7 - 2 \+ 2\*0\)/2 \+ 1 = 3\.50 is not an integer"),
    ("avgpool output size", lambda: ops.avgpool2d_forward(x4, kernel=3, stride=3),
     r"= 2\.33 is not an integer"),
    # --- an unknown pad_mode
    ("conv2d pad_mode",
     lambda: ops.conv2d_forward(x4, w4, b4, pad=1, pad_mode="circular"),
     r"expected pad_mode to be one of \('zeros', 'reflect', 'replicate'\), "
     r"got 'circular'"),
    ("conv1d pad_mode", lambda: ops.conv1d_forward(x3, w3, b4, pad_mode="same"),
     r"expected pad_mode to be one of"),
    ("pad2d mode", lambda: ops.pad2d(x4, 1, "wrap"), r"expected mode to be one of"),
    ("reflect pad too large", lambda: ops.pad2d(x4, 7, "reflect"),
     r"reflect padding needs pad < input size"),
    ("conv2d reflect pad too large", lambda: ops.conv2d_forward(
        x4, w4, b4, pad=7, pad_mode="reflect"),
     r"reflect padding needs pad < input size"),
    # --- a negative stride, pad or dilation (and zero where 1 is the minimum)
    ("conv2d stride", lambda: ops.conv2d_forward(x4, w4, b4, stride=-1),
     r"expected stride >= 1, got -1"),
    ("conv2d stride 0", lambda: ops.conv2d_forward(x4, w4, b4, stride=(1, 0)),
     r"expected stride >= 1, got \(1, 0\)"),
    ("conv2d pad", lambda: ops.conv2d_forward(x4, w4, b4, pad=-1),
     r"expected pad >= 0, got -1"),
    ("conv2d dilation", lambda: ops.conv2d_forward(x4, w4, b4, dilation=-2),
     r"expected dilation >= 1, got -2"),
    ("conv2d stride type", lambda: ops.conv2d_forward(x4, w4, b4, stride=1.5),
     r"expected stride to be an int or a pair of ints, got 1\.5"),
    ("conv1d stride", lambda: ops.conv1d_forward(x3, w3, b4, stride=-1),
     r"expected stride >= 1, got -1"),
    ("conv1d pad", lambda: ops.conv1d_forward(x3, w3, b4, pad=-3),
     r"expected pad >= 0, got -3"),
    ("conv1d dilation", lambda: ops.conv1d_forward(x3, w3, b4, dilation=0),
     r"expected dilation >= 1, got 0"),
    ("conv_transpose2d stride", lambda: ops.conv_transpose2d_forward(
        x4, w4.transpose(1, 0, 2, 3), np.zeros(4), stride=-2), r"expected stride >= 1"),
    ("conv_transpose2d pad", lambda: ops.conv_transpose2d_forward(
        x4, w4.transpose(1, 0, 2, 3), np.zeros(4), pad=-1), r"expected pad >= 0"),
    ("conv_transpose2d too much pad", lambda: ops.conv_transpose2d_forward(
        x4[:, :, :1, :1], w4.transpose(1, 0, 2, 3), np.zeros(4), pad=2),
     r"\(1 - 1\)\*1 - 2\*2 \+ 3 = -1.*must be >= 1"),
    ("maxpool stride", lambda: ops.maxpool2d_forward(x4, kernel=3, stride=-2),
     r"expected stride >= 1, got -2"),
    ("avgpool kernel", lambda: ops.avgpool2d_forward(x4, kernel=0),
     r"expected kernel >= 1, got 0"),
    ("pad2d pad", lambda: ops.pad2d(x4, -1), r"expected pad >= 0, got -1"),
    ("pad2d torch pad", lambda: ops.pad2d(x4, (1, -1, 0, 0)), r"expected pad >= 0"),
    ("nearest scale", lambda: ops.nearest_upsample2d(x4, scale=-2),
     r"expected scale >= 1, got -2"),
    ("bed of nails scale", lambda: ops.bed_of_nails_upsample2d(x4, scale=0),
     r"expected scale >= 1, got 0"),
    # --- the other settings
    ("dropout p", lambda: ops.dropout_forward(x4, p=1.5), r"expected p in \[0, 1\]"),
    ("dropout mode", lambda: ops.dropout_forward(x4, mode="test"),
     r"expected mode to be one of \('train', 'eval'\), got 'test'"),
    ("batchnorm mode", lambda: ops.batchnorm2d_forward(x4, gamma, beta, mode="test"),
     r"expected mode to be one of \('train', 'eval'\)"),
    ("batchnorm eval needs stats", lambda: ops.batchnorm2d_forward(x4, gamma, beta,
                                                                   mode="eval"),
     r"expected running_mean and running_var in eval mode"),
    ("batchnorm int running stats", lambda: ops.batchnorm2d_forward(
        x4, gamma, beta, running_mean=np.zeros(3, int)),
     r"expected running_mean to be a float numpy array"),
    ("batchnorm one value per channel", lambda: ops.batchnorm1d_forward(
        np.ones((1, 3)), gamma, beta), r"more than one value per channel"),
    ("batchnorm momentum", lambda: ops.batchnorm2d_forward(x4, gamma, beta, momentum=2),
     r"expected momentum in \[0, 1\]"),
    ("lrn n", lambda: ops.local_response_norm_forward(x4, n=0), r"expected n >= 1"),
    ("lrn k", lambda: ops.local_response_norm_forward(x4, k=0.0), r"expected k > 0"),
    ("softmax labels range", lambda: ops.softmax_cross_entropy(np.ones((2, 3)),
                                                               np.array([0, 3])),
     r"expected labels in \[0, K\) = \[0, 3\), got values from 0 to 3"),
    ("softmax labels dtype", lambda: ops.softmax_cross_entropy(np.ones((2, 3)),
                                                               np.array([0.0, 1.0])),
     r"expected integer labels"),
    ("max_unpool indices range", lambda: ops.max_unpool2d(
        np.ones((1, 1, 2, 2)), np.array([[[[0, 1], [2, 16]]]])),
     r"expected indices in \[0, H\*W\) = \[0, 16\)"),
    ("max_unpool indices shape", lambda: ops.max_unpool2d(
        np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 3), int)),
     r"expected indices of shape"),
    ("gradcheck lengths", lambda: ops.gradcheck(np.sum, [np.ones(2)], []),
     r"expected one gradient per input"),
    ("rel_error shapes", lambda: ops.rel_error(np.ones(2), np.ones(3)),
     r"expected arrays of the same shape"),
]


@pytest.mark.parametrize("call, pattern", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_raises_a_value_error_that_names_what_was_expected(call, pattern):
    """Each bad call raises ValueError, and the message says what was expected."""
    with pytest.raises(ValueError) as info:
        call()
    assert re.search(pattern, str(info.value)), str(info.value)


def test_the_decks_misfit_reads_as_the_style_guide_says():
    """7x7 input, 3x3 kernel, stride 3: the message shows the filled-in formula."""
    with pytest.raises(ValueError) as info:
        ops.conv2d_forward(np.ones((1, 1, 7, 7)), np.ones((1, 1, 3, 3)), np.zeros(1),
                           stride=3)
    assert "(7 - 3 + 2*0)/3 + 1 = 2.33 is not an integer: change stride or padding" in (
        str(info.value))
