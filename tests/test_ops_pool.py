"""cnn_course.ops.pool: pooling, unpooling and upsampling against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from cnn_course import ops
from ops_helpers import FEW, ORACLE, assert_close, rng_for, tensor

torch.set_num_threads(1)

MAX = ((ops.maxpool2d_forward_fast, ops.maxpool2d_backward_fast),
       (ops.maxpool2d_forward_naive, ops.maxpool2d_backward_naive))
AVG = ((ops.avgpool2d_forward_fast, ops.avgpool2d_backward_fast),
       (ops.avgpool2d_forward_naive, ops.avgpool2d_backward_naive))


@st.composite
def pool_cases(draw):
    """Random windows and strides (overlapping or not) with a whole-number output."""
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    H_out, W_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H = (H_out - 1) * stride[0] + kernel[0]
    W = (W_out - 1) * stride[1] + kernel[1]
    # small integers make ties common; the torch oracle decides who wins them
    ties = draw(st.booleans())
    return dict(shape=(N, C, H, W), kernel=kernel, stride=stride, ties=ties,
                seed=draw(st.integers(0, 2**31)))


def pool_input(case):
    rng = rng_for(case["seed"])
    if case["ties"]:
        return rng.integers(0, 3, size=case["shape"]).astype(np.float64)
    return rng.standard_normal(case["shape"])


def check_pool(x, kernel, stride, versions, torch_pool, seed):
    xt = tensor(x)
    ref = torch_pool(xt, kernel, stride)
    dout = rng_for(seed + 1).standard_normal(ref.shape)
    ref.backward(torch.from_numpy(dout))
    for forward, backward in versions:
        out, cache = forward(x, kernel=kernel, stride=stride)
        assert_close(out, ref, what=forward.__name__)
        assert_close(backward(dout, cache), xt.grad, what=backward.__name__)


@ORACLE
@given(case=pool_cases())
def test_maxpool2d_matches_torch_including_ties_and_overlaps(case):
    """Naive and fast max pooling equal F.max_pool2d and its autograd, with
    overlapping windows and with many ties (small integer inputs)."""
    x = pool_input(case)
    check_pool(x, case["kernel"], case["stride"], MAX,
               lambda t, k, s: F.max_pool2d(t, k, s), case["seed"])


@ORACLE
@given(case=pool_cases())
def test_maxpool2d_indices_match_torch(case):
    """The remembered positions are torch's return_indices, ties included."""
    x = pool_input(case)
    _, ref = F.max_pool2d(torch.from_numpy(x), case["kernel"], case["stride"],
                          return_indices=True)
    for forward, _ in MAX:
        _, cache = forward(x, kernel=case["kernel"], stride=case["stride"])
        np.testing.assert_array_equal(cache.indices, ref.numpy())


@ORACLE
@given(case=pool_cases())
def test_avgpool2d_matches_torch(case):
    """Naive and fast average pooling equal F.avg_pool2d and its autograd."""
    x = pool_input(case)
    check_pool(x, case["kernel"], case["stride"], AVG,
               lambda t, k, s: F.avg_pool2d(t, k, s), case["seed"])


def test_maxpool_tie_gradient_goes_to_the_first_maximum():
    """Ties: a window of equal values sends its whole gradient to its top-left
    pixel (first in row-major order), as torch does; overlapping windows that pick
    the same pixel add up."""
    x = np.ones((1, 1, 3, 3))
    for forward, backward in MAX:
        out, cache = forward(x, kernel=2, stride=1)
        dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
        # windows start at (0,0), (0,1), (1,0), (1,1): each one's first pixel wins
        assert dx.tolist() == [[[[1.0, 2.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]]]
    x = np.array([[[[5.0, 1.0], [1.0, 5.0]]]])  # a tie on the diagonal
    for forward, backward in MAX:
        out, cache = forward(x, kernel=2)
        assert out.item() == 5.0
        assert backward(np.ones((1, 1, 1, 1)), cache).tolist() == [[[[1, 0], [0, 0]]]]
    xt = tensor(np.array([[[[5.0, 1.0], [1.0, 5.0]]]]))
    F.max_pool2d(xt, 2).sum().backward()
    assert xt.grad.tolist() == [[[[1, 0], [0, 0]]]]  # torch agrees


def test_maxpool_overlapping_alexnet_windows():
    """AlexNet's overlapping pooling, 3x3 windows with stride 2: 13 -> 6."""
    x = rng_for(3).standard_normal((2, 4, 13, 13))
    check_pool(x, 3, 2, MAX, lambda t, k, s: F.max_pool2d(t, k, s), 3)
    assert ops.maxpool2d_forward(x, kernel=3, stride=2)[0].shape == (2, 4, 6, 6)


@pytest.mark.parametrize("versions", [MAX, AVG], ids=["max", "avg"])
def test_pooling_edge_cases(versions):
    """1x1 windows, a window as large as the input, stride larger than the window,
    C=1 and N=1, odd sizes: all against torch."""
    torch_pool = (F.max_pool2d if versions is MAX else F.avg_pool2d)
    cases = [((2, 3, 5, 5), 1, 1), ((1, 1, 5, 7), (5, 7), None), ((2, 2, 9, 9), 2, 7),
             ((1, 1, 7, 5), 3, 2), ((3, 2, 7, 9), (3, 1), (2, 4))]
    for shape, kernel, stride in cases:
        x = rng_for(4).standard_normal(shape)
        check_pool(x, kernel, stride, versions,
                   lambda t, k, s: torch_pool(t, k, s), 4)


@FEW
@given(case=pool_cases())
def test_pooling_backward_passes_gradcheck(case):
    """Central differences agree with both pooling backwards (distinct values, so
    there are no ties where the derivative would jump)."""
    case = dict(case, ties=False)
    x = pool_input(case)
    params = dict(kernel=case["kernel"], stride=case["stride"])
    for forward, backward in (MAX[0], AVG[0]):
        out, cache = forward(x, **params)
        dout = rng_for(case["seed"] + 2).standard_normal(out.shape)
        dx = backward(dout, cache)
        error = ops.gradcheck(lambda x: forward(x, **params)[0], [x], [dx], dout)
        assert error < 1e-7


def test_global_avgpool_matches_torch_and_gradcheck():
    """Global average pooling equals adaptive_avg_pool2d(x, 1), forward and backward,
    and takes GoogLeNet's 7x7x1024 map to 1024 numbers with no weights."""
    x = rng_for(5).standard_normal((2, 3, 5, 4))
    xt = tensor(x)
    ref = F.adaptive_avg_pool2d(xt, 1)[:, :, 0, 0]
    dout = rng_for(6).standard_normal((2, 3))
    ref.backward(torch.from_numpy(dout))
    out, cache = ops.global_avgpool_forward(x)
    assert_close(out, ref)
    dx = ops.global_avgpool_backward(dout, cache)
    assert_close(dx, xt.grad)
    f = lambda x: ops.global_avgpool_forward(x)[0]  # noqa: E731
    assert ops.gradcheck(f, [x], [dx], dout) < 1e-7
    big = np.zeros((1, 1024, 7, 7), dtype=np.float32)
    assert ops.global_avgpool_forward(big)[0].shape == (1, 1024)


@ORACLE
@given(case=pool_cases())
def test_max_unpool2d_matches_torch(case):
    """Max-unpooling with the remembered positions equals F.max_unpool2d, forward
    and backward, overlapping windows included."""
    x = pool_input(case)
    kernel, stride = case["kernel"], case["stride"]
    pooled, cache = ops.maxpool2d_forward(x, kernel=kernel, stride=stride)
    pt = tensor(pooled)
    ref = F.max_unpool2d(pt, torch.from_numpy(cache.indices), kernel, stride,
                         output_size=x.shape[2:])
    dout = rng_for(case["seed"] + 3).standard_normal(ref.shape)
    ref.backward(torch.from_numpy(dout))
    out, unpool_cache = ops.max_unpool2d_forward(pooled, cache.indices, kernel=kernel,
                                                 stride=stride, output_size=x.shape)
    assert_close(out, ref)
    assert_close(ops.max_unpool2d_backward(dout, unpool_cache), pt.grad)
    assert_close(ops.max_unpool2d(pooled, cache.indices, kernel=kernel, stride=stride,
                                  output_size=x.shape[2:]), ref)


def test_max_unpool2d_puts_maxima_back_where_they_were():
    """The lecture's picture: 4x4 -> 2x2 max pool -> 4x4, zeros except at the maxima."""
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], float)
    pooled, cache = ops.maxpool2d_forward(x[None, None], kernel=2, stride=2)
    up = ops.max_unpool2d(pooled, cache.indices, kernel=2)
    assert up[0, 0].tolist() == [[0, 0, 0, 0], [0, 6, 0, 8], [3, 0, 0, 0], [0, 0, 0, 4]]


@pytest.mark.parametrize("scale", [1, 2, 3, (2, 3)])
def test_nearest_upsample2d_matches_torch_interpolate(scale):
    """Nearest-neighbour upsampling equals F.interpolate(mode='nearest'), with its
    gradient, and passes gradcheck."""
    x = rng_for(7).standard_normal((2, 3, 3, 4))
    xt = tensor(x)
    factor = scale if isinstance(scale, tuple) else (scale, scale)
    ref = F.interpolate(xt, scale_factor=factor, mode="nearest")
    dout = rng_for(8).standard_normal(ref.shape)
    ref.backward(torch.from_numpy(dout))
    out, cache = ops.nearest_upsample2d_forward(x, scale=scale)
    assert_close(out, ref)
    dx = ops.nearest_upsample2d_backward(dout, cache)
    assert_close(dx, xt.grad)
    assert_close(ops.nearest_upsample2d(x, scale=scale), ref)
    f = lambda x: ops.nearest_upsample2d_forward(x, scale=scale)[0]  # noqa: E731
    assert ops.gradcheck(f, [x], [dx], dout) < 1e-7


@pytest.mark.parametrize("scale", [1, 2, 3, (3, 2)])
def test_bed_of_nails_upsample2d_matches_a_one_hot_transposed_conv(scale):
    """Bed of nails is a transposed conv whose kernel is 1 in the top-left corner
    and 0 elsewhere, with stride = scale; forward, backward and gradcheck."""
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    x = rng_for(9).standard_normal((2, 3, 3, 4))
    xt = tensor(x)
    nail = torch.zeros(1, 1, sh, sw, dtype=torch.float64)
    nail[0, 0, 0, 0] = 1.0
    ref = F.conv_transpose2d(xt.reshape(6, 1, 3, 4), nail, stride=(sh, sw))
    ref = ref.reshape(2, 3, 3 * sh, 4 * sw)
    dout = rng_for(10).standard_normal(ref.shape)
    ref.backward(torch.from_numpy(dout))
    out, cache = ops.bed_of_nails_upsample2d_forward(x, scale=scale)
    assert_close(out, ref)
    dx = ops.bed_of_nails_upsample2d_backward(dout, cache)
    assert_close(dx, xt.grad)
    assert_close(ops.bed_of_nails_upsample2d(x, scale=scale), ref)
    f = lambda x: ops.bed_of_nails_upsample2d_forward(x, scale=scale)[0]  # noqa: E731
    assert ops.gradcheck(f, [x], [dx], dout) < 1e-7


def test_bed_of_nails_small_example():
    """[[1, 2], [3, 4]] -> each value in the top-left of a 2x2 block of zeros."""
    out = ops.bed_of_nails_upsample2d(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert out[0, 0].tolist() == [[1, 0, 2, 0], [0, 0, 0, 0],
                                  [3, 0, 4, 0], [0, 0, 0, 0]]
    near = ops.nearest_upsample2d(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert near[0, 0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2],
                                   [3, 3, 4, 4], [3, 3, 4, 4]]



def test_max_unpool2d_backward_passes_gradcheck():
    """Central differences agree with max_unpool2d_backward. (Non-overlapping
    windows: with overlaps two pooled values can share a position, and nudging one
    of them alone is something max pooling can never produce.)"""
    x = rng_for(11).standard_normal((2, 2, 6, 4))
    pooled, cache = ops.maxpool2d_forward(x, kernel=2, stride=2)
    out, unpool_cache = ops.max_unpool2d_forward(pooled, cache.indices, kernel=2)
    dout = rng_for(12).standard_normal(out.shape)
    dx = ops.max_unpool2d_backward(dout, unpool_cache)
    f = lambda p: ops.max_unpool2d(p, cache.indices, kernel=2)  # noqa: E731
    assert ops.gradcheck(f, [pooled], [dx], dout) < 1e-7
