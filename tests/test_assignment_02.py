"""Assignment 02_backprop: honest solutions in other styles earn full marks in the
trusted check; the forward pass the notebook gives is right; the tiny CNN clears the
accuracy threshold on every split, with a margin."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from assignment_helpers import example_tests, failures, solution_namespace, trusted

NAME = "02_backprop"

# The spec's examples graded end to end, and plain nbgrader agreeing on one of them
test_each_example_earns_its_declared_score, test_plain_nbgrader_autograde_agrees = \
    example_tests(NAME)

# --- style 1: explicit loops (over channels and output positions) --------------------

LOOPS = {
    "maxpool_forward": '''
def maxpool_forward(x, kernel=2, stride=None):
    KH, KW = as_pair(kernel)
    SH, SW = (KH, KW) if stride is None else as_pair(stride)
    N, C, H, W = x.shape
    H_out, W_out = (H - KH) // SH + 1, (W - KW) // SW + 1
    out = np.empty((N, C, H_out, W_out))
    rows = np.zeros((N, C, H_out, W_out), dtype=int)
    cols = np.zeros((N, C, H_out, W_out), dtype=int)
    for c in range(C):
        for i in range(H_out):
            for j in range(W_out):
                window = x[:, c, i * SH : i * SH + KH, j * SW : j * SW + KW]
                k = window.reshape(N, -1).argmax(axis=1)
                rows[:, c, i, j] = i * SH + k // KW
                cols[:, c, i, j] = j * SW + k % KW
                out[:, c, i, j] = window.reshape(N, -1).max(axis=1)
    return out, (x.shape, rows, cols)
''',
    "maxpool_backward": '''
def maxpool_backward(dout, cache):
    shape, rows, cols = cache
    N, C, H_out, W_out = dout.shape
    dx = np.zeros(shape)
    samples = np.arange(N)
    for c in range(C):
        for i in range(H_out):
            for j in range(W_out):
                dx[samples, c, rows[:, c, i, j], cols[:, c, i, j]] += dout[:, c, i, j]
    return dx
''',
    "avgpool_forward": '''
def avgpool_forward(x, kernel=2, stride=None):
    KH, KW = as_pair(kernel)
    SH, SW = (KH, KW) if stride is None else as_pair(stride)
    N, C, H, W = x.shape
    H_out, W_out = (H - KH) // SH + 1, (W - KW) // SW + 1
    out = np.empty((N, C, H_out, W_out))
    for c in range(C):
        for i in range(H_out):
            for j in range(W_out):
                out[:, c, i, j] = x[:, c, i * SH : i * SH + KH,
                                    j * SW : j * SW + KW].sum(axis=(1, 2)) / (KH * KW)
    return out, (x.shape, KH, KW, SH, SW)
''',
    "avgpool_backward": '''
def avgpool_backward(dout, cache):
    shape, KH, KW, SH, SW = cache
    N, C, H_out, W_out = dout.shape
    dx = np.zeros(shape)
    for c in range(C):
        for i in range(H_out):
            for j in range(W_out):
                dx[:, c, i * SH : i * SH + KH, j * SW : j * SW + KW] += (
                    dout[:, c, i, j][:, None, None] / (KH * KW))
    return dx
''',
    "conv2d_backward": '''
def conv2d_backward(dout, cache):
    x, w, b, stride, pad, dilation = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = dout.shape[2:]
    x_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    x_pad[:, :, pad : pad + H, pad : pad + W] = x
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w, dtype=float)
    span_h, span_w = dilation * (HH - 1) + 1, dilation * (WW - 1) + 1
    for i in range(H_out):
        for j in range(W_out):
            r, s = i * stride, j * stride
            field = x_pad[:, :, r : r + span_h : dilation, s : s + span_w : dilation]
            g = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(g, field, axes=([0], [0]))  # (F, C, HH, WW)
            dx_pad[:, :, r : r + span_h : dilation, s : s + span_w : dilation] += (
                np.tensordot(g, w, axes=([1], [0])))  # (N, C, HH, WW)
    db = np.array([dout[:, f].sum() for f in range(F)])
    return dx_pad[:, :, pad : pad + H, pad : pad + W], dw, db
''',
    "numerical_gradient": '''
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for k in range(x.size):
        index = np.unravel_index(k, x.shape)
        keep = x[index]
        x[index] = keep + h
        up = f(x)
        x[index] = keep - h
        down = f(x)
        x[index] = keep
        grad[index] = (up - down) / (2 * h)
    return grad
''',
    "rel_error": '''
def rel_error(a, b):
    worst = 0.0
    for u, v in zip(np.ravel(a), np.ravel(b)):
        worst = max(worst, abs(u - v) / max(abs(u) + abs(v), 1e-8))
    return float(worst)
''',
    "tiny_cnn_loss": '''
def tiny_cnn_loss(params, X, y=None):
    conv, c1 = conv2d_forward(X, params["W1"], params["b1"], 1, 1)
    act, c2 = relu_forward(conv)
    pool, c3 = maxpool_forward(act, 2, 2)
    scores, c4 = affine_forward(pool, params["W2"], params["b2"])
    if y is None:
        return scores
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    N = len(y)
    loss = -np.mean(np.log(probs[np.arange(N), y]))
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {}
    dpool, grads["W2"], grads["b2"] = affine_backward(dscores, c4)
    dconv = relu_backward(maxpool_backward(dpool, c3), c2)
    _, grads["W1"], grads["b1"] = conv2d_backward(dconv, c1)
    return float(loss), grads
''',
}

# --- style 2: sliding_window_view and einsum -----------------------------------------

WINDOWS = {
    "maxpool_forward": '''
from numpy.lib.stride_tricks import sliding_window_view


def maxpool_forward(x, kernel=2, stride=None):
    KH, KW = as_pair(kernel)
    SH, SW = (KH, KW) if stride is None else as_pair(stride)
    windows = sliding_window_view(x, (KH, KW), axis=(2, 3))[:, :, ::SH, ::SW]
    flat = windows.reshape(*windows.shape[:4], KH * KW)
    k = flat.argmax(axis=-1)
    out = np.take_along_axis(flat, k[..., None], axis=-1)[..., 0]
    return out, (x.shape, (KH, KW), (SH, SW), k)
''',
    "maxpool_backward": '''
def maxpool_backward(dout, cache):
    shape, (KH, KW), (SH, SW), k = cache
    N, C, H_out, W_out = dout.shape
    routed = (np.arange(KH * KW) == k[..., None]) * dout[..., None]
    routed = routed.reshape(N, C, H_out, W_out, KH, KW)
    dx = np.zeros(shape)
    for p in range(KH):
        for q in range(KW):
            dx[:, :, p : p + SH * (H_out - 1) + 1 : SH,
               q : q + SW * (W_out - 1) + 1 : SW] += routed[..., p, q]
    return dx
''',
    "avgpool_forward": '''
def avgpool_forward(x, kernel=2, stride=None):
    KH, KW = as_pair(kernel)
    SH, SW = (KH, KW) if stride is None else as_pair(stride)
    windows = sliding_window_view(x, (KH, KW), axis=(2, 3))[:, :, ::SH, ::SW]
    return np.einsum("nchwpq->nchw", windows) / (KH * KW), (x.shape, KH, KW, SH, SW)
''',
    "avgpool_backward": '''
def avgpool_backward(dout, cache):
    shape, KH, KW, SH, SW = cache
    H_out, W_out = dout.shape[2:]
    dx = np.zeros(shape)
    for p in range(KH):
        for q in range(KW):
            dx[:, :, p : p + SH * (H_out - 1) + 1 : SH,
               q : q + SW * (W_out - 1) + 1 : SW] += dout / (KH * KW)
    return dx
''',
    "conv2d_backward": '''
def conv2d_backward(dout, cache):
    """dw from the receptive fields; dx as the full correlation of the stride-spread
    dout with the dilated kernel rotated by 180 degrees."""
    x, w, b, S, P, D = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = dout.shape[2:]
    x_pad = np.zeros((N, C, H + 2 * P, W + 2 * P))
    x_pad[:, :, P : P + H, P : P + W] = x
    KH, KW = D * (HH - 1) + 1, D * (WW - 1) + 1
    fields = sliding_window_view(x_pad, (KH, KW), axis=(2, 3))[:, :, ::S, ::S]
    fields = fields[:, :, :H_out, :W_out, ::D, ::D]  # (N, C, H', W', HH, WW)
    dw = np.einsum("nchwpq,nfhw->fcpq", fields, dout)
    spread = np.zeros((N, F, (H_out - 1) * S + 1, (W_out - 1) * S + 1))
    spread[:, :, ::S, ::S] = dout
    w_dilated = np.zeros((F, C, KH, KW))
    w_dilated[:, :, ::D, ::D] = w
    padded = np.zeros((N, F, spread.shape[2] + 2 * (KH - 1),
                       spread.shape[3] + 2 * (KW - 1)))
    padded[:, :, KH - 1 : KH - 1 + spread.shape[2], KW - 1 : KW - 1 + spread.shape[3]] = spread
    windows = sliding_window_view(padded, (KH, KW), axis=(2, 3))
    full = np.einsum("nfhwpq,fcpq->nchw", windows, w_dilated[:, :, ::-1, ::-1])
    dx_pad = np.zeros_like(x_pad)
    dx_pad[:, :, : full.shape[2], : full.shape[3]] = full
    return dx_pad[:, :, P : P + H, P : P + W], dw, np.einsum("nfhw->f", dout)
''',
    "numerical_gradient": '''
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
        it.iternext()
    return grad
''',
    "rel_error": '''
def rel_error(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = np.abs(a) + np.abs(b)
    return float(np.max(np.abs(a - b) / np.where(scale > 1e-8, scale, 1e-8)))
''',
    "tiny_cnn_loss": '''
def tiny_cnn_loss(params, X, y=None):
    layers = [
        (lambda v: conv2d_forward(v, params["W1"], params["b1"], pad=1),
         lambda d, c: conv2d_backward(d, c)[0], ("W1", "b1")),
        (relu_forward, relu_backward, ()),
        (lambda v: maxpool_forward(v, kernel=(2, 2), stride=(2, 2)), maxpool_backward, ()),
    ]
    caches, h = [], X
    for forward, _, _ in layers:
        h, cache = forward(h)
        caches.append(cache)
    scores, affine_cache = affine_forward(h, params["W2"], params["b2"])
    if y is None:
        return scores
    loss, d = softmax_loss(scores, y)
    grads = {}
    d, grads["W2"], grads["b2"] = affine_backward(d, affine_cache)
    d = maxpool_backward(d, caches[2])
    d = relu_backward(d, caches[1])
    _, grads["W1"], grads["b1"] = conv2d_backward(d, caches[0])
    return loss, grads
''',
}

# --- style 3: index arrays (fancy indexing and np.add.at) ----------------------------

INDEX = {
    "maxpool_forward": '''
def _grid(H, W, KH, KW, SH, SW, DH=1, DW=1):
    """Row and column index arrays of every window: (H', 1, KH, 1) and (1, W', 1, KW)."""
    H_out = (H - DH * (KH - 1) - 1) // SH + 1
    W_out = (W - DW * (KW - 1) - 1) // SW + 1
    rows = (np.arange(H_out) * SH)[:, None, None, None] + (np.arange(KH) * DH)[None, None, :, None]
    cols = (np.arange(W_out) * SW)[None, :, None, None] + (np.arange(KW) * DW)[None, None, None, :]
    return rows, cols


def maxpool_forward(x, kernel=2, stride=None):
    KH, KW = as_pair(kernel)
    SH, SW = (KH, KW) if stride is None else as_pair(stride)
    N, C, H, W = x.shape
    rows, cols = _grid(H, W, KH, KW, SH, SW)
    windows = x[:, :, rows, cols]  # (N, C, H', W', KH, KW)
    H_out, W_out = windows.shape[2:4]
    flat = windows.reshape(N, C, H_out, W_out, KH * KW)
    k = flat.argmax(axis=-1)
    top = rows[:, :, 0, 0][None, None] + k // KW
    left = cols[:, :, 0, 0][None, None] + k % KW
    return flat.max(axis=-1), (x.shape, top, left)
''',
    "maxpool_backward": '''
def maxpool_backward(dout, cache):
    shape, top, left = cache
    N, C = shape[:2]
    dx = np.zeros(shape)
    n = np.arange(N)[:, None, None, None]
    c = np.arange(C)[None, :, None, None]
    np.add.at(dx, (n, c, top, left), dout)
    return dx
''',
    "avgpool_forward": '''
def avgpool_forward(x, kernel=2, stride=None):
    KH, KW = as_pair(kernel)
    SH, SW = (KH, KW) if stride is None else as_pair(stride)
    rows, cols = _grid(x.shape[2], x.shape[3], KH, KW, SH, SW)
    return x[:, :, rows, cols].mean(axis=(4, 5)), (x.shape, rows, cols)
''',
    "avgpool_backward": '''
def avgpool_backward(dout, cache):
    shape, rows, cols = cache
    KH, KW = rows.shape[2], cols.shape[3]
    share = np.broadcast_to(dout[..., None, None] / (KH * KW),
                            dout.shape + (KH, KW))
    dx = np.zeros(shape)
    np.add.at(dx, (slice(None), slice(None), rows, cols), share)
    return dx
''',
    "conv2d_backward": '''
def conv2d_backward(dout, cache):
    x, w, b, stride, pad, dilation = cache
    N, C, H, W = x.shape
    HH, WW = w.shape[2:]
    x_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    x_pad[:, :, pad : pad + H, pad : pad + W] = x
    rows, cols = _grid(H + 2 * pad, W + 2 * pad, HH, WW, stride, stride, dilation, dilation)
    fields = x_pad[:, :, rows, cols]  # (N, C, H', W', HH, WW): im2col by index arrays
    dw = np.einsum("nchwpq,nfhw->fcpq", fields, dout)
    dfields = np.einsum("nfhw,fcpq->nchwpq", dout, w)
    dx_pad = np.zeros_like(x_pad)
    np.add.at(dx_pad, (slice(None), slice(None), rows, cols), dfields)
    return dx_pad[:, :, pad : pad + H, pad : pad + W], dw, dout.sum(axis=(0, 2, 3))
''',
    "numerical_gradient": '''
import itertools


def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for index in itertools.product(*(range(n) for n in x.shape)):
        saved = float(x[index])
        x[index] = saved + h
        f_plus = f(x)
        x[index] = saved - h
        f_minus = f(x)
        x[index] = saved
        grad[index] = (f_plus - f_minus) / (2.0 * h)
    return grad
''',
    "rel_error": '''
def rel_error(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.clip(np.abs(a) + np.abs(b), 1e-8, None)))
''',
    "tiny_cnn_loss": '''
def tiny_cnn_loss(params, X, y=None):
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    z, conv_cache = conv2d_forward(X, W1, b1, stride=1, pad=1, dilation=1)
    a = np.maximum(z, 0)
    p, pool_cache = maxpool_forward(a, 2)
    flat = p.reshape(len(X), -1)
    scores = flat @ W2 + b2
    if y is None:
        return scores
    loss, dscores = softmax_loss(scores, y)
    dflat = dscores @ W2.T
    dp = dflat.reshape(p.shape)
    dz = maxpool_backward(dp, pool_cache) * (z > 0)
    _, dW1, db1 = conv2d_backward(dz, conv_cache)
    return loss, {"W1": dW1, "b1": db1, "W2": flat.T @ dscores, "b2": dscores.sum(axis=0)}
''',
}

STYLES = {"loops": LOOPS, "sliding_window_view": WINDOWS, "index_arrays": INDEX}


@pytest.mark.parametrize("style", STYLES)
def test_honest_solutions_in_other_styles_earn_full_marks(style):
    answers = {k: v.strip("\n") + "\n" for k, v in STYLES[style].items()}
    result = trusted(NAME, answers, session_seed=sum(map(ord, style)))
    assert not failures(result)
    assert result.score == 20


def test_the_given_forward_pass_matches_torch():
    """Students build on conv2d_forward: it must be right, floor sizes included."""
    conv2d_forward = solution_namespace(NAME)["conv2d_forward"]
    rng = np.random.default_rng(0)
    for stride, pad, dilation in [(1, 0, 1), (2, 1, 1), (3, 2, 1), (1, 1, 2), (2, 0, 3)]:
        x, w = rng.normal(size=(2, 3, 9, 8)), rng.normal(size=(4, 3, 2, 3))
        b = rng.normal(size=4)
        out, cache = conv2d_forward(x, w, b, stride=stride, pad=pad, dilation=dilation)
        ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                       stride=stride, padding=pad, dilation=dilation).numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)
        assert cache[3:] == (stride, pad, dilation) and cache[0] is x


def test_the_tiny_cnn_clears_the_threshold_on_every_split_with_a_margin():
    """The hidden training test draws a new split per session: every one must pass."""
    from sklearn.datasets import load_digits

    ns = solution_namespace(NAME)
    digits = load_digits()
    X, y = (digits.images / 16.0)[:, None], digits.target
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(X))
        train, test = order[:1200], order[1200:1700]
        params, losses = ns["train_tiny_cnn"](X[train], y[train])
        predicted = ns["tiny_cnn_loss"](params, X[test]).argmax(axis=1)
        accuracy = np.mean(predicted == y[test])
        assert accuracy >= 0.93, (seed, accuracy)
        assert losses[-1] < losses[0]
