"""cnn_course.ops.norm: batch normalisation and local response normalisation."""

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

BACKWARDS = (ops.batchnorm2d_backward_fast, ops.batchnorm2d_backward_naive)


def bn_shapes(ndim):
    """(N, C, H, W) for 2-D; (N, C) or (N, C, L) for 1-D."""
    N, C = st.integers(1, 4), st.integers(1, 4)
    if ndim == 4:
        return st.tuples(N, C, st.integers(1, 4), st.integers(1, 4))
    return st.one_of(st.tuples(N, C), st.tuples(N, C, st.integers(1, 4)))


def check_batchnorm(forward, shape, mode, momentum, eps, seed):
    """Output, gradients and the updated running statistics against F.batch_norm."""
    rng = rng_for(seed)
    x = rng.standard_normal(shape) * 3 + 1
    C = shape[1]
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)
    t_mean, t_var = torch.tensor(running_mean), torch.tensor(running_var)
    xt, gt, bt = tensor(x), tensor(gamma), tensor(beta)
    ref = F.batch_norm(xt, t_mean, t_var, gt, bt, training=mode == "train",
                       momentum=momentum, eps=eps)
    dout = rng.standard_normal(shape)
    ref.backward(torch.from_numpy(dout))
    out, cache = forward(x, gamma, beta, running_mean=running_mean,
                         running_var=running_var, mode=mode, momentum=momentum, eps=eps)
    assert_close(out, ref, what="out")
    assert_close(running_mean, t_mean, what="running_mean")
    assert_close(running_var, t_var, what="running_var")
    for backward in BACKWARDS:
        dx, dgamma, dbeta = backward(dout, cache)
        assert_close(dx, xt.grad, rtol=1e-8, what=f"{backward.__name__} dx")
        assert_close(dgamma, gt.grad, what="dgamma")
        assert_close(dbeta, bt.grad, what="dbeta")


@ORACLE
@given(shape=bn_shapes(4), mode=st.sampled_from(["train", "eval"]),
       momentum=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
       eps=st.sampled_from([1e-5, 1e-2]),
       seed=st.integers(0, 2**31))
def test_batchnorm2d_matches_torch(shape, mode, momentum, eps, seed):
    """Train and eval mode, running statistics, momentum and eps: output, gradients
    (naive graph and simplified formula) and running averages equal F.batch_norm."""
    if mode == "train" and shape[0] * shape[2] * shape[3] < 2:
        shape = (2,) + shape[1:]  # a single value per channel has no variance
    check_batchnorm(ops.batchnorm2d_forward, shape, mode, momentum, eps, seed)


@ORACLE
@given(shape=bn_shapes(2), mode=st.sampled_from(["train", "eval"]),
       momentum=st.sampled_from([0.1, 0.9]), seed=st.integers(0, 2**31))
def test_batchnorm1d_matches_torch(shape, mode, momentum, seed):
    """batchnorm1d on (N, C) features and (N, C, L) sequences equals F.batch_norm."""
    if mode == "train" and np.prod(shape) // shape[1] < 2:
        shape = (2,) + shape[1:]
    check_batchnorm(ops.batchnorm1d_forward, shape, mode, momentum, 1e-5, seed)


def test_batchnorm_train_output_is_standardised_and_eval_uses_running_stats():
    """Train: every channel of the output has mean beta and std gamma. Eval: the
    running statistics are used and left alone."""
    rng = rng_for(1)
    x = rng.standard_normal((16, 3, 4, 4)) * 5 + 2
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0])
    mean, var = np.zeros(3), np.ones(3)
    out, _ = ops.batchnorm2d_forward(x, gamma, beta, running_mean=mean, running_var=var)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), gamma, rtol=1e-4)
    assert not np.allclose(mean, 0)  # updated in place
    frozen_mean, frozen_var = mean.copy(), var.copy()
    out, _ = ops.batchnorm2d_forward(x, gamma, beta, running_mean=mean,
                                     running_var=var, mode="eval")
    assert np.array_equal(mean, frozen_mean) and np.array_equal(var, frozen_var)
    per_channel = (1, 3, 1, 1)
    x_hat = (x - mean.reshape(per_channel)) / np.sqrt(var.reshape(per_channel) + 1e-5)
    assert_close(out, gamma.reshape(per_channel) * x_hat + beta.reshape(per_channel))


@FEW
@given(shape=st.one_of(bn_shapes(4), bn_shapes(2)),
       mode=st.sampled_from(["train", "eval"]), seed=st.integers(0, 2**31))
def test_batchnorm_backward_passes_gradcheck(shape, mode, seed):
    """Central differences agree with the batch-norm backward (1-D and 2-D) in both
    modes."""
    shape = (max(shape[0], 2),) + shape[1:]
    forward = ops.batchnorm2d_forward if len(shape) == 4 else ops.batchnorm1d_forward
    rng = rng_for(seed)
    x = rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    stats = dict(running_mean=rng.standard_normal(shape[1]),
                 running_var=rng.uniform(0.5, 2, shape[1]))

    def f(x, gamma, beta):  # a copy of the statistics: gradcheck calls it many times
        frozen = {k: v.copy() for k, v in stats.items()}
        return forward(x, gamma, beta, mode=mode, **frozen)[0]

    out, cache = forward(x, gamma, beta, mode=mode,
                         **{k: v.copy() for k, v in stats.items()})
    dout = rng.standard_normal(shape)
    grads = ops.batchnorm2d_backward(dout, cache)
    assert ops.gradcheck(f, [x, gamma, beta], list(grads), dout) < 1e-6


# --------------------------------------------------------------------------- LRN


@ORACLE
@given(N=st.integers(1, 3), C=st.integers(1, 7), H=st.integers(1, 3),
       n=st.integers(1, 6), k=st.sampled_from([1.0, 2.0]),
       alpha=st.sampled_from([1e-4, 0.1, 1.0]), beta=st.sampled_from([0.75, 0.5, 1.0]),
       seed=st.integers(0, 2**31))
def test_local_response_norm_matches_torch(N, C, H, n, k, alpha, beta, seed):
    """LRN (AlexNet's formula) equals F.local_response_norm with alpha * n (torch
    divides alpha by the window size), forward and backward, even and odd n."""
    x = rng_for(seed).standard_normal((N, C, H, H + 1)) * 2
    xt = tensor(x)
    ref = F.local_response_norm(xt, size=n, alpha=alpha * n, beta=beta, k=k)
    dout = rng_for(seed + 1).standard_normal(x.shape)
    ref.backward(torch.from_numpy(dout))
    out, cache = ops.local_response_norm_forward(x, n=n, k=k, alpha=alpha, beta=beta)
    assert_close(out, ref, what="lrn out")
    assert_close(ops.local_response_norm_backward(dout, cache), xt.grad, what="lrn dx")


def test_local_response_norm_alexnet_constants_by_hand():
    """k=2, n=5, alpha=1e-4, beta=0.75 (AlexNet's defaults): channel c is divided by
    (2 + 1e-4 * sum of squares of channels c-2..c+2) ** 0.75."""
    x = np.arange(1.0, 8.0).reshape(1, 7, 1, 1) * 10
    out, _ = ops.local_response_norm_forward(x)
    squares = (x[0, :, 0, 0]) ** 2
    for c in range(7):
        window = squares[max(0, c - 2) : c + 3].sum()
        assert np.isclose(out[0, c, 0, 0], x[0, c, 0, 0] / (2 + 1e-4 * window) ** 0.75,
                          rtol=1e-14)


def test_local_response_norm_backward_passes_gradcheck():
    """Central differences agree with the LRN backward."""
    x = rng_for(3).standard_normal((2, 6, 2, 3))
    params = dict(n=3, k=1.0, alpha=0.5, beta=0.75)
    out, cache = ops.local_response_norm_forward(x, **params)
    dout = rng_for(4).standard_normal(x.shape)
    dx = ops.local_response_norm_backward(dout, cache)
    f = lambda x: ops.local_response_norm_forward(x, **params)[0]  # noqa: E731
    assert ops.gradcheck(f, [x], [dx], dout) < 1e-7


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batchnorm_float32_stays_float32(mode):
    """float32 data keeps its dtype through batch norm."""
    x = rng_for(5).standard_normal((4, 3, 2, 2)).astype(np.float32)
    one, zero = np.ones(3, np.float32), np.zeros(3, np.float32)
    out, cache = ops.batchnorm2d_forward(x, one, zero, running_mean=zero.copy(),
                                         running_var=one.copy(), mode=mode)
    assert out.dtype == np.float32
    assert ops.batchnorm2d_backward(np.ones_like(out), cache)[0].dtype == np.float32
