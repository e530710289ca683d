"""cnn_course.ops: activations, affine, dropout, softmax cross-entropy and gradcheck."""

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

ACTIVATIONS = {
    "relu": (ops.relu_forward, ops.relu_backward, torch.relu),
    "sigmoid": (ops.sigmoid_forward, ops.sigmoid_backward, torch.sigmoid),
    "tanh": (ops.tanh_forward, ops.tanh_backward, torch.tanh),
}
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@ORACLE
@given(shape=shapes, scale=st.sampled_from([0.1, 1.0, 30.0]),
       seed=st.integers(0, 2**31))
def test_activations_match_torch(name, shape, scale, seed):
    """relu, sigmoid and tanh equal torch forward and backward, large inputs too."""
    forward, backward, torch_fn = ACTIVATIONS[name]
    x = rng_for(seed).standard_normal(shape) * scale
    xt = tensor(x)
    ref = torch_fn(xt)
    dout = rng_for(seed + 1).standard_normal(shape)
    ref.backward(torch.from_numpy(dout))
    out, cache = forward(x)
    assert_close(out, ref, what=f"{name} out")
    # saturated units: 1 - tanh**2 cancels to ~1e-12 in both libraries, right only
    # to ~1e-16 * |dout|
    assert_close(backward(dout, cache), xt.grad, what=f"{name} dx",
                 scale=float(np.max(np.abs(dout))))


def test_relu_gradient_at_zero_is_zero_like_torch():
    """At exactly 0 the ReLU gradient is 0 (torch's convention)."""
    x = np.array([-1.0, 0.0, 2.0])
    out, cache = ops.relu_forward(x)
    assert ops.relu_backward(np.ones(3), cache).tolist() == [0.0, 0.0, 1.0]
    xt = tensor(x)
    torch.relu(xt).sum().backward()
    assert xt.grad.tolist() == [0.0, 0.0, 1.0]


def test_sigmoid_does_not_overflow_and_its_slope_is_at_most_a_quarter():
    """The vanishing-gradient slide: sigma' <= 1/4, reached at 0; no overflow at
    +-1000."""
    x = np.linspace(-1000, 1000, 20001)
    with np.errstate(over="raise"):
        out, cache = ops.sigmoid_forward(x)
    slope = ops.sigmoid_backward(np.ones_like(x), cache)
    assert np.all(np.isfinite(out)) and slope.max() == pytest.approx(0.25)
    assert slope[np.argmax(slope)] == slope[10000]  # at x = 0


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_backward_passes_gradcheck(name):
    """Central differences agree with every activation's backward."""
    forward, backward, _ = ACTIVATIONS[name]
    x = rng_for(1).standard_normal((3, 4))
    x[np.abs(x) < 1e-3] = 0.5  # stay away from ReLU's kink
    out, cache = forward(x)
    dout = rng_for(2).standard_normal(x.shape)
    dx = backward(dout, cache)
    assert ops.gradcheck(lambda x: forward(x)[0], [x], [dx], dout) < 1e-8


@ORACLE
@given(N=st.integers(1, 4), dims=st.lists(st.integers(1, 3), min_size=1, max_size=3),
       M=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_affine_matches_torch_linear(N, dims, M, seed):
    """affine (naive and fast) on (N, d_1, ..., d_k) equals F.linear on the flattened
    input, with gradients in the input's own shape."""
    rng = rng_for(seed)
    D = int(np.prod(dims))
    x = rng.standard_normal((N, *dims))
    w, b = rng.standard_normal((D, M)), rng.standard_normal(M)
    xt, wt, bt = tensor(x), tensor(w), tensor(b)
    ref = F.linear(xt.reshape(N, D), wt.T, bt)
    dout = rng.standard_normal((N, M))
    ref.backward(torch.from_numpy(dout))
    for forward in (ops.affine_forward_fast, ops.affine_forward_naive):
        out, cache = forward(x, w, b)
        assert_close(out, ref)
        dx, dw, db = ops.affine_backward(dout, cache)
        assert dx.shape == x.shape
        assert_close(dx, xt.grad)
        assert_close(dw, wt.grad)
        assert_close(db, bt.grad)


def test_affine_backward_passes_gradcheck():
    """Central differences agree with affine_backward."""
    rng = rng_for(3)
    x = rng.standard_normal((3, 2, 2))
    w, b = rng.standard_normal((4, 5)), rng.standard_normal(5)
    out, cache = ops.affine_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    grads = ops.affine_backward(dout, cache)
    assert ops.gradcheck(lambda x, w, b: ops.affine_forward(x, w, b)[0], [x, w, b],
                         list(grads), dout) < 1e-8


def test_without_nonlinearity_two_affine_layers_collapse_into_one():
    """The recap slide: W2 (W1 X + b1) + b2 = W' X + b' with W' of shape (1, 3)."""
    rng = rng_for(4)
    X = rng.standard_normal((5, 3))  # batch of 5 rows (the slide's X is (3, batch))
    W1, b1, W2, b2 = (rng.standard_normal(s) for s in [(3, 4), 4, (4, 1), 1])
    two = ops.affine_forward(ops.affine_forward(X, W1, b1)[0], W2, b2)[0]
    W_, b_ = W1 @ W2, b1 @ W2 + b2
    assert W_.T.shape == (1, 3)
    assert_close(two, ops.affine_forward(X, W_, b_)[0])


# --------------------------------------------------------------------------- dropout


def test_dropout_train_is_inverted_and_seeded():
    """Train mode: each unit is zeroed with probability p and survivors are scaled by
    1/(1-p), so the mean is kept; the same seed gives the same mask."""
    x = np.ones((200, 500))
    out, cache = ops.dropout_forward(x, p=0.3, seed=0)
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.01
    assert np.allclose(out[kept], 1 / 0.7)
    assert abs(out.mean() - 1.0) < 0.02
    again, _ = ops.dropout_forward(x, p=0.3, seed=0)
    assert np.array_equal(out, again)
    other, _ = ops.dropout_forward(x, p=0.3, seed=1)
    assert not np.array_equal(out, other)


def test_dropout_eval_is_the_identity_and_matches_torch():
    """Eval mode returns x unchanged, like F.dropout(training=False); the gradient
    passes unchanged too."""
    x = rng_for(5).standard_normal((3, 4))
    out, cache = ops.dropout_forward(x, p=0.5, mode="eval")
    assert_close(out, F.dropout(torch.from_numpy(x), 0.5, training=False))
    dout = rng_for(6).standard_normal((3, 4))
    assert_close(ops.dropout_backward(dout, cache), dout)


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_dropout_values_and_gradient_agree_with_torch_given_the_same_mask(p):
    """torch's dropout outputs are 0 or x/(1-p) as ours are; and with the mask
    torch drew, both compute the same output and gradient (the RNGs differ, the
    arithmetic must not)."""
    x = rng_for(7).standard_normal((50, 40)) + 3  # no zeros in x
    xt = tensor(x)
    torch.manual_seed(0)
    ref = F.dropout(xt, p, training=True)
    dout = rng_for(8).standard_normal(x.shape)
    ref.backward(torch.from_numpy(dout))
    kept = ref.detach().numpy() != 0
    out, cache = ops.dropout_forward(x, p=p, seed=0)
    ours_kept = out != 0
    scale = 0.0 if p == 1.0 else 1 / (1 - p)
    assert np.allclose(out[ours_kept], x[ours_kept] * scale)
    # replay torch's mask through our backward: same gradient as autograd's
    mask = kept.astype(np.float64) * scale
    replay = ops.layers.DropoutCache(mask, "train")
    assert_close(ops.dropout_backward(dout, replay), xt.grad)
    assert_close(x * mask, ref)
    if p in (0.0, 1.0):
        assert np.array_equal(ours_kept, kept)  # nothing random about these


def test_dropout_backward_passes_gradcheck():
    """With the mask fixed (same seed), central differences agree."""
    x = rng_for(9).standard_normal((4, 5))
    out, cache = ops.dropout_forward(x, p=0.4, seed=3)
    dout = rng_for(10).standard_normal(x.shape)
    dx = ops.dropout_backward(dout, cache)
    f = lambda x: ops.dropout_forward(x, p=0.4, seed=3)[0]  # noqa: E731
    assert ops.gradcheck(f, [x], [dx], dout) < 1e-8


# --------------------------------------------------------------------------- losses


@ORACLE
@given(N=st.integers(1, 6), K=st.integers(2, 6), scale=st.sampled_from([1.0, 100.0]),
       seed=st.integers(0, 2**31))
def test_softmax_cross_entropy_matches_torch(N, K, scale, seed):
    """Loss and dscores equal F.cross_entropy and its autograd, also for scores large
    enough to overflow a naive exp."""
    rng = rng_for(seed)
    scores, y = rng.standard_normal((N, K)) * scale, rng.integers(0, K, N)
    st_ = tensor(scores)
    ref = F.cross_entropy(st_, torch.from_numpy(y))
    ref.backward()
    loss, dscores = ops.softmax_cross_entropy(scores, y)
    assert_close(loss, ref)
    assert_close(dscores, st_.grad)
    assert_close(ops.softmax(scores), torch.softmax(torch.from_numpy(scores), dim=1))


def test_softmax_cross_entropy_passes_gradcheck():
    """Central differences of the loss agree with dscores."""
    rng = rng_for(11)
    scores, y = rng.standard_normal((4, 5)), rng.integers(0, 5, 4)
    _, dscores = ops.softmax_cross_entropy(scores, y)
    f = lambda s: ops.softmax_cross_entropy(s, y)[0]  # noqa: E731
    assert ops.gradcheck(f, [scores], [dscores]) < 1e-8


def test_uniform_scores_give_log_k():
    """Equal scores: the loss is log K, the value a fresh network starts near."""
    loss, _ = ops.softmax_cross_entropy(np.zeros((3, 10)), np.array([0, 4, 9]))
    assert loss == pytest.approx(np.log(10), rel=1e-12)


# --------------------------------------------------------------------------- gradcheck


def test_numerical_gradient_of_known_functions():
    """d/dx sum(x**2) = 2x, and d/dx of sum(f(x) * dout) for an array-valued f."""
    x = rng_for(12).standard_normal((3, 2))
    assert_close(ops.numerical_gradient(lambda x: np.sum(x**2), x), 2 * x, rtol=1e-8)
    dout = rng_for(13).standard_normal((3, 2))
    assert_close(ops.numerical_gradient(np.sin, x, dout), np.cos(x) * dout, rtol=1e-8)


def test_gradcheck_catches_a_wrong_backward():
    """A backward that is off by a factor (or has a sign flip) raises, naming the
    input; rel_error reports 1 for opposite signs and 0 for equal arrays."""
    x, w = rng_for(14).standard_normal((2, 3)), rng_for(15).standard_normal((3, 2))
    f = lambda x, w: x @ w  # noqa: E731
    dout = np.ones((2, 2))
    good = [dout @ w.T, x.T @ dout]
    assert ops.gradcheck(f, [x, w], good, dout) < 1e-8
    with pytest.raises(AssertionError, match="input 1"):
        ops.gradcheck(f, [x, w], [good[0], 1.01 * good[1]], dout)
    assert ops.rel_error(good[0], -good[0]) == pytest.approx(1.0)
    assert ops.rel_error(good[0], good[0]) == 0.0
    with pytest.raises(ValueError, match="float numpy array"):
        ops.numerical_gradient(lambda x: x, np.arange(3))


@FEW
@given(seed=st.integers(0, 2**31))
def test_gradcheck_restores_its_inputs(seed):
    """gradcheck nudges the inputs in place and puts every value back."""
    x = rng_for(seed).standard_normal((2, 3))
    before = x.copy()
    ops.gradcheck(lambda x: np.sum(x**3), [x], [3 * x**2], tol=1e-6)
    assert np.array_equal(x, before)
