"""Assignment 03_regularisation: honest solutions in other styles earn full marks in
the trusted check; the experiment lands in its stated ranges on every split, with a
margin; the grader's augmentation references make the draws the notebook states."""

import numpy as np
import pytest

from assignment_helpers import example_tests, failures, solution, solution_namespace, trusted
from conftest import ROOT

NAME = "03_regularisation"

# The spec's examples graded end to end, and plain nbgrader agreeing on one of them
test_each_example_earns_its_declared_score, test_plain_nbgrader_autograde_agrees = \
    example_tests(NAME)

# The experiment's network, shared by the styles (only how the layers are written
# differs); each style's TwoLayerNet keeps the released constructor.
_NET_METHODS = '''
    def _forward(self, X, mode):
        P, caches = self.params, {}
        h, caches["affine1"] = affine_forward(X, P["W1"], P["b1"])
        if self.regularised:
            h, caches["bn"] = batchnorm_forward(h, P["gamma"], P["beta"], self.running_mean,
                                                self.running_var, mode)
        h, caches["relu"] = relu_forward(h)
        if self.regularised:
            h, caches["dropout"] = dropout_forward(h, self.p, mode, self.rng)
        scores, caches["affine2"] = affine_forward(h, P["W2"], P["b2"])
        return scores, caches

    def loss(self, X, y):
        scores, caches = self._forward(X, "train")
        loss, d = softmax_loss(scores, y)
        g = {}
        d, g["W2"], g["b2"] = affine_backward(d, caches["affine2"])
        if self.regularised:
            d = dropout_backward(d, caches["dropout"])
        d = relu_backward(d, caches["relu"])
        if self.regularised:
            d, g["gamma"], g["beta"] = batchnorm_backward(d, caches["bn"])
        _, g["W1"], g["b1"] = affine_backward(d, caches["affine1"])
        if self.regularised:
            return l2_regularise(loss, g, self.params, self.reg)
        return loss, g

    def predict(self, X):
        return self._forward(X, "eval")[0].argmax(axis=1)
'''


def _net() -> str:
    """The released constructor of TwoLayerNet with the methods above."""
    released = solution(NAME)["two_layer_net"]
    head = released[: released.index("    def loss(")]
    return head + _NET_METHODS.lstrip("\n")


EXPERIMENT = '''
def experiment(X_train, y_train, X_val, y_val, seed=0):
    Xt, Xv = X_train.reshape(X_train.shape[0], -1), X_val.reshape(X_val.shape[0], -1)
    result = {}
    for regularised in (False, True):
        net = TwoLayerNet(Xt.shape[1], 100, 10, regularised=regularised, seed=seed)
        train(net, Xt, y_train, seed=seed)
        key = "regularised" if regularised else "plain"
        result[key] = float((net.predict(Xv) == y_val).mean())
    return result
'''

# --- style 1: loops ----------------------------------------------------------------

LOOPS = {
    "dropout_forward": '''
def dropout_forward(x, p, mode, rng):
    if mode != "train":
        return x.copy(), ("eval", None, p)
    keep = rng.uniform(size=x.shape) < 1 - p
    out = np.zeros(x.shape)
    for i in zip(*np.nonzero(keep)):
        out[i] = x[i] / (1 - p)
    return out, ("train", keep, p)
''',
    "dropout_backward": '''
def dropout_backward(dout, cache):
    mode, keep, p = cache
    if mode != "train":
        return dout.copy()
    return np.where(keep, dout / (1 - p), 0.0)
''',
    "batchnorm_forward": '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, mode="train",
                      momentum=0.1, eps=1e-5):
    C = x.shape[1]
    out = np.empty(x.shape)
    x_hat = np.empty(x.shape)
    std = np.empty(C)
    for c in range(C):
        values = x[:, c]
        m = values.size
        if mode == "train":
            mu = values.sum() / m
            var = ((values - mu) ** 2).sum() / m
            running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mu
            running_var[c] = (1 - momentum) * running_var[c] + momentum * var * m / (m - 1)
        else:
            mu, var = running_mean[c], running_var[c]
        std[c] = np.sqrt(var + eps)
        x_hat[:, c] = (values - mu) / std[c]
        out[:, c] = gamma[c] * x_hat[:, c] + beta[c]
    return out, (mode, x_hat, std, gamma)
''',
    "batchnorm_backward": '''
def batchnorm_backward(dout, cache):
    mode, x_hat, std, gamma = cache
    C = dout.shape[1]
    dx = np.empty(dout.shape)
    dgamma, dbeta = np.empty(C), np.empty(C)
    for c in range(C):
        g, xh = dout[:, c], x_hat[:, c]
        m = g.size
        dbeta[c] = g.sum()
        dgamma[c] = (g * xh).sum()
        dxh = g * gamma[c]
        if mode == "train":
            # the graph step by step: x_hat = (x - mu) / std
            dvar = np.sum(dxh * xh * std[c]) * -0.5 / std[c] ** 3
            dmu = -dxh.sum() / std[c]
            dx[:, c] = dxh / std[c] + dvar * 2 * xh * std[c] / m + dmu / m
        else:
            dx[:, c] = dxh / std[c]
    return dx, dgamma, dbeta
''',
    "random_crop": '''
def random_crop(x, pad, rng):
    N, C, H, W = x.shape
    top = rng.integers(0, 2 * pad + 1, size=N)
    left = rng.integers(0, 2 * pad + 1, size=N)
    out = np.zeros((N, C, H, W))
    for n in range(N):
        for i in range(H):
            for j in range(W):
                r, s = top[n] + i - pad, left[n] + j - pad
                if 0 <= r < H and 0 <= s < W:
                    out[n, :, i, j] = x[n, :, r, s]
    return out
''',
    "horizontal_flip": '''
def horizontal_flip(x, rng, p=0.5):
    flip = rng.random(len(x)) < p
    out = np.empty(x.shape)
    for n in range(len(x)):
        for j in range(x.shape[3]):
            out[n, :, :, j] = x[n, :, :, -1 - j] if flip[n] else x[n, :, :, j]
    return out
''',
    "brightness_contrast": '''
def brightness_contrast(x, rng, brightness=0.2, contrast=0.2):
    N = len(x)
    b = rng.uniform(-brightness, brightness, size=N)
    c = rng.uniform(1 - contrast, 1 + contrast, size=N)
    out = np.empty(x.shape)
    for n in range(N):
        mean = x[n].mean()
        out[n] = np.minimum(np.maximum(mean + c[n] * (x[n] - mean) + b[n], 0.0), 1.0)
    return out
''',
    "l2_regularise": '''
def l2_regularise(loss, grads, params, reg):
    new_grads = {}
    for name, g in grads.items():
        if name.startswith("W"):
            loss += reg / 2 * np.sum(params[name] * params[name])
            new_grads[name] = g + reg * params[name]
        else:
            new_grads[name] = g
    return float(loss), new_grads
''',
}

# --- style 2: sliding_window_view and einsum ----------------------------------------

WINDOWS = {
    "dropout_forward": '''
def dropout_forward(x, p, mode, rng):
    if mode == "eval":
        return x.copy(), None
    mask = (rng.random(x.shape) >= p).astype(float) / (1 - p)
    return np.einsum("...,...->...", x, mask), mask
''',
    "dropout_backward": '''
def dropout_backward(dout, cache):
    return dout.copy() if cache is None else dout * cache
''',
    "batchnorm_forward": '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, mode="train",
                      momentum=0.1, eps=1e-5):
    spec = "nc->c" if x.ndim == 2 else "nchw->c"
    view = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    if mode == "train":
        mu = np.einsum(spec, x) / m
        centred = x - mu.reshape(view)
        var = np.einsum(spec, centred ** 2) / m
        running_mean[:] = (1 - momentum) * running_mean + momentum * mu
        running_var[:] = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    else:
        mu, var = running_mean.copy(), running_var.copy()
        centred = x - mu.reshape(view)
    inv = 1 / np.sqrt(var + eps)
    x_hat = centred * inv.reshape(view)
    return x_hat * gamma.reshape(view) + beta.reshape(view), (x_hat, gamma, inv, spec, view, m, mode)
''',
    "batchnorm_backward": '''
def batchnorm_backward(dout, cache):
    x_hat, gamma, inv, spec, view, m, mode = cache
    dbeta = np.einsum(spec, dout)
    dgamma = np.einsum(spec, dout * x_hat)
    if mode == "eval":
        return dout * (gamma * inv).reshape(view), dgamma, dbeta
    dx = (gamma * inv / m).reshape(view) * (
        m * dout - dbeta.reshape(view) - x_hat * dgamma.reshape(view))
    return dx, dgamma, dbeta
''',
    "random_crop": '''
from numpy.lib.stride_tricks import sliding_window_view


def random_crop(x, pad, rng):
    N, C, H, W = x.shape
    top = rng.integers(0, 2 * pad + 1, size=N)
    left = rng.integers(0, 2 * pad + 1, size=N)
    padded = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    padded[:, :, pad : pad + H, pad : pad + W] = x
    windows = sliding_window_view(padded, (H, W), axis=(2, 3))  # (N, C, 2p+1, 2p+1, H, W)
    return windows[np.arange(N), :, top, left].copy()  # (N, C, H, W)
''',
    "horizontal_flip": '''
def horizontal_flip(x, rng, p=0.5):
    flip = rng.random(x.shape[0]) < p
    return np.where(flip[:, None, None, None], x[..., ::-1], x).astype(float)
''',
    "brightness_contrast": '''
def brightness_contrast(x, rng, brightness=0.2, contrast=0.2):
    N = x.shape[0]
    b = rng.uniform(-brightness, brightness, size=N)
    c = rng.uniform(1 - contrast, 1 + contrast, size=N)
    m = np.einsum("nchw->n", x) / x[0].size
    out = np.einsum("nchw,n->nchw", x - m[:, None, None, None], c) + (m + b)[:, None, None, None]
    return out.clip(0, 1)
''',
    "l2_regularise": '''
def l2_regularise(loss, grads, params, reg):
    weights = {k: v for k, v in params.items() if k[0] == "W"}
    penalty = sum(np.einsum("ij,ij->", w, w) for w in weights.values())
    return loss + reg * penalty / 2, {k: g + reg * weights[k] if k in weights else g
                                      for k, g in grads.items()}
''',
}

# --- style 3: index arrays ----------------------------------------------------------

INDEX = {
    "dropout_forward": '''
def dropout_forward(x, p, mode, rng):
    if mode == "eval":
        return np.array(x, dtype=float), ("eval", None)
    u = rng.random(x.size)
    kept = np.flatnonzero(u >= p)
    out = np.zeros(x.size)
    out[kept] = x.ravel()[kept] / (1 - p)
    return out.reshape(x.shape), ("train", kept, p)
''',
    "dropout_backward": '''
def dropout_backward(dout, cache):
    if cache[0] == "eval":
        return np.array(dout, dtype=float)
    _, kept, p = cache
    dx = np.zeros(dout.size)
    dx[kept] = dout.ravel()[kept] / (1 - p)
    return dx.reshape(dout.shape)
''',
    "batchnorm_forward": '''
def _as_rows(x):
    """(N, C) or (N, C, H, W) -> (m, C): one row per value of every channel."""
    return x if x.ndim == 2 else x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def _from_rows(rows, shape):
    if len(shape) == 2:
        return rows
    N, C, H, W = shape
    return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)


def batchnorm_forward(x, gamma, beta, running_mean, running_var, mode="train",
                      momentum=0.1, eps=1e-5):
    rows = _as_rows(x)
    m = rows.shape[0]
    if mode == "train":
        mu, var = rows.mean(axis=0), rows.var(axis=0)
        np.copyto(running_mean, (1 - momentum) * running_mean + momentum * mu)
        np.copyto(running_var, (1 - momentum) * running_var + momentum * var * m / (m - 1))
    else:
        mu, var = running_mean.copy(), running_var.copy()
    inv = 1 / np.sqrt(var + eps)
    x_hat = (rows - mu) * inv
    return _from_rows(x_hat * gamma + beta, x.shape), (x_hat, gamma, inv, x.shape, mode)
''',
    "batchnorm_backward": '''
def batchnorm_backward(dout, cache):
    x_hat, gamma, inv, shape, mode = cache
    d = _as_rows(dout)
    dbeta, dgamma = d.sum(axis=0), (d * x_hat).sum(axis=0)
    if mode == "eval":
        return _from_rows(d * gamma * inv, shape), dgamma, dbeta
    dx = gamma * inv * (d - d.mean(axis=0) - x_hat * (d * x_hat).mean(axis=0))
    return _from_rows(dx, shape), dgamma, dbeta
''',
    "random_crop": '''
def random_crop(x, pad, rng):
    N, C, H, W = x.shape
    top = rng.integers(0, 2 * pad + 1, size=N)
    left = rng.integers(0, 2 * pad + 1, size=N)
    rows = top[:, None] - pad + np.arange(H)  # (N, H): source rows, maybe outside
    cols = left[:, None] - pad + np.arange(W)  # (N, W)
    inside = ((rows >= 0) & (rows < H))[:, :, None] & ((cols >= 0) & (cols < W))[:, None, :]
    n = np.arange(N)[:, None, None]
    gathered = x[n, :, np.clip(rows, 0, H - 1)[:, :, None], np.clip(cols, 0, W - 1)[:, None, :]]
    # gathered: (N, H, W, C), the advanced indices first
    return np.where(inside[..., None], gathered, 0.0).transpose(0, 3, 1, 2)
''',
    "horizontal_flip": '''
def horizontal_flip(x, rng, p=0.5):
    N, W = x.shape[0], x.shape[3]
    flip = rng.random(N) < p
    cols = np.where(flip[:, None], np.arange(W)[::-1], np.arange(W))  # (N, W)
    return np.take_along_axis(np.asarray(x, float), cols[:, None, None, :], axis=3)
''',
    "brightness_contrast": '''
def brightness_contrast(x, rng, brightness=0.2, contrast=0.2):
    N = x.shape[0]
    shift = rng.uniform(-brightness, brightness, size=N)
    scale = rng.uniform(1 - contrast, 1 + contrast, size=N)
    flat = x.reshape(N, -1)
    mean = flat.mean(axis=1, keepdims=True)
    out = (flat - mean) * scale[:, None] + mean + shift[:, None]
    out[out < 0] = 0.0
    out[out > 1] = 1.0
    return out.reshape(x.shape)
''',
    "l2_regularise": '''
def l2_regularise(loss, grads, params, reg):
    names = sorted(k for k in params if k.startswith("W"))
    flat = np.concatenate([params[k].ravel() for k in names])
    new = {k: grads[k].copy() for k in grads}
    for k in names:
        new[k] += reg * params[k]
    return loss + 0.5 * reg * float(flat @ flat), new
''',
}

STYLES = {"loops": LOOPS, "sliding_window_view": WINDOWS, "index_arrays": INDEX}


@pytest.mark.parametrize("style", STYLES)
def test_honest_solutions_in_other_styles_earn_full_marks(style):
    answers = {k: v.strip("\n") + "\n" for k, v in STYLES[style].items()}
    answers["two_layer_net"] = _net()
    answers["experiment"] = EXPERIMENT.strip("\n") + "\n"
    result = trusted(NAME, answers, session_seed=sum(map(ord, style)))
    assert not failures(result)
    assert result.score == 20


def test_the_experiment_lands_in_its_ranges_on_every_split_with_a_margin():
    """The hidden test draws a new split per session, and shuffles labels once."""
    from sklearn.datasets import load_digits

    ns = solution_namespace(NAME)
    digits = load_digits()
    X, y = digits.images[:, None] / 16.0, digits.target
    for seed in range(3):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(X))
        train, val = order[:1000], order[1000:1400]
        got = ns["experiment"](X[train], y[train], X[val], y[val])
        assert min(got.values()) >= 0.93, (seed, got)
        shuffled = ns["experiment"](X[train], y[train], X[val], rng.permutation(y[val]))
        assert max(shuffled.values()) <= 0.2, (seed, shuffled)


def test_the_references_make_the_draws_the_notebook_states():
    """The grader's references and the solution agree, and a different order of draws
    (left before top) gives a different crop: the stated order matters."""
    import sys

    from cnn_course.course.spec import load_spec

    load_spec(ROOT / "solutions", NAME)
    refs = sys.modules[f"cnn_course_spec_{NAME}"]  # the spec's module
    ns = solution_namespace(NAME)
    x = np.random.default_rng(1).random((6, 2, 5, 7))
    calls = {"random_crop": lambda f, rng: f(x, 2, rng),
             "horizontal_flip": lambda f, rng: f(x, rng),
             "brightness_contrast": lambda f, rng: f(x, rng, 0.3, 0.4)}
    for name, apply in calls.items():
        np.testing.assert_array_equal(apply(ns[name], np.random.default_rng(9)),
                                      apply(getattr(refs, f"ref_{name}"),
                                            np.random.default_rng(9)))
    swapped = LOOPS["random_crop"].replace(
        "top = rng.integers(0, 2 * pad + 1, size=N)\n    left",
        "left = rng.integers(0, 2 * pad + 1, size=N)\n    top")
    assert swapped != LOOPS["random_crop"]
    scope = {"np": np}
    exec(swapped, scope)
    assert not np.array_equal(scope["random_crop"](x, 2, np.random.default_rng(9)),
                              refs.ref_random_crop(x, 2, np.random.default_rng(9)))
