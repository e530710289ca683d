"""Assignment 02_backprop: its checks, points and rules (instructor side: never released).

References come from torch in float64 (forward values and autograd gradients) and,
for the tiny CNN's visible gradient check, from central differences of torch's loss.
Hidden cases draw random shapes (odd sizes, N = 1, C = 1, non-square inputs, kernels
and strides) and never reuse an input that students see. The training test draws a
new split of scikit-learn's digits in every grading session; its test labels stay in
the grader's process.
"""


import numpy as np
import torch
import torch.nn.functional as F

from cnn_course.course.spec import (
    SOLUTION,
    Assignment,
    Example,
    Limits,
    Metric,
    Part,
    Test,
    call,
    run,
)

TRAIN_CPU = 60  # CPU seconds for one training run of the tiny CNN (stated in the notebook)
MIN_ACCURACY = 0.90


def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def _pair(v):
    return (v, v) if np.ndim(v) == 0 else tuple(v)


# --- pooling -----------------------------------------------------------------------

def _pool_ref(kind, x, kernel, stride, dout=None):
    """torch's forward (dout None) or input gradient of max/avg pooling, float64."""
    t = _t(x).requires_grad_(dout is not None)
    pool = F.max_pool2d if kind == "maxpool" else F.avg_pool2d
    out = pool(t, _pair(kernel), None if stride is None else _pair(stride))
    if dout is None:
        return out.detach().numpy()
    out.backward(_t(dout))
    return t.grad.numpy()


def _pool_forward_case(kind, x, kernel, stride, label, **options):
    return run(f"result = {kind}_forward(x, kernel=kernel, stride=stride)[0]",
               {"x": x, "kernel": kernel, "stride": stride},
               expect=_pool_ref(kind, x, kernel, stride), label=label, **options)


def _pool_backward_case(kind, x, kernel, stride, dout, label, **options):
    return run(f"out, cache = {kind}_forward(x, kernel=kernel, stride=stride)\n"
               f"result = {kind}_backward(dout, cache)",
               {"x": x, "kernel": kernel, "stride": stride, "dout": dout},
               expect=_pool_ref(kind, x, kernel, stride, dout), label=label, **options)


def _out_shape(x, kernel, stride):
    KH, KW = _pair(kernel)
    SH, SW = (KH, KW) if stride is None else _pair(stride)
    return x.shape[0], x.shape[1], (x.shape[2] - KH) // SH + 1, (x.shape[3] - KW) // SW + 1


DECK_MAX = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], float)
DECK_AVG = np.array([[31, 15, 28, 184], [0, 100, 70, 38], [12, 12, 7, 2],
                     [12, 12, 45, 6]], float)
SIZE_HINT = "H' = (H - KH) // SH + 1 and W' = (W - KW) // SW + 1; stride=None means " \
            "stride = kernel"


def maxpool_forward_visible(rng):
    yield _pool_forward_case("maxpool", DECK_MAX[None, None], 2, None,
                             "the lecture's 4x4 example, 2x2 windows",
                             hint="keep the largest value of each 2x2 window")
    x = rng.normal(size=(2, 3, 5, 7))
    yield run("result = maxpool_forward(x, kernel=kernel, stride=stride)[0]",
              {"x": x, "kernel": 2, "stride": None},
              expect=np.zeros(_out_shape(x, 2, None)), shape_only=True,
              label="x (2, 3, 5, 7), kernel 2: the last row is left out",
              hint=SIZE_HINT + " (rounded down)")
    yield _pool_forward_case("maxpool", x, (2, 3), (1, 2),
                             "x (2, 3, 5, 7), kernel (2, 3), stride (1, 2)",
                             hint="KH and KW, SH and SW may differ: use as_pair")
    yield _pool_forward_case("maxpool", x, 3, 2, "x (2, 3, 5, 7), overlapping 3x3 "
                             "windows with stride 2", hint=SIZE_HINT)


def maxpool_backward_visible(rng):
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    yield _pool_backward_case("maxpool", DECK_MAX[None, None], 2, None, dout,
                              "the lecture's 4x4 example, dout [[1, 2], [3, 4]]",
                              hint="each window's gradient goes to its maximum only")
    ties = np.ones((1, 1, 2, 4))
    yield _pool_backward_case("maxpool", ties, 2, None, np.array([[[[1.0, 1.0]]]]),
                              "windows of equal values (ties)",
                              hint="on ties the first maximum in row-major order "
                                   "(np.argmax of the flattened window) takes it all")
    peak = np.array([[1, 2, 0, 1, 5], [0, 3, 1, 2, 1], [2, 1, 9, 0, 3],
                     [1, 0, 2, 1, 0], [3, 1, 0, 2, 1]], float)[None, None]
    yield _pool_backward_case("maxpool", peak, 3, 1,
                              np.arange(1.0, 10.0).reshape(1, 1, 3, 3),
                              "overlapping 3x3 windows, stride 1: the 9 wins all nine",
                              hint="a pixel that wins several windows gets the sum of "
                                   "their gradients: use += , not =")


def _pool_draw(rng, overlap=True):
    N, C = (int(v) for v in rng.integers(1, 4, size=2))
    H, W = (int(v) for v in rng.integers(2, 10, size=2))
    KH, KW = int(rng.integers(1, min(H, 4) + 1)), int(rng.integers(1, min(W, 4) + 1))
    kernel = KH if KH == KW and rng.random() < 0.5 else (KH, KW)
    if rng.random() < 0.3:
        stride = None
    else:
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        if not overlap:
            stride = (max(stride[0], KH), max(stride[1], KW))
    return rng.normal(size=(N, C, H, W)), kernel, stride


def _pool_hidden(kind, backward):
    def cases(rng):
        for _ in range(8):
            x, kernel, stride = _pool_draw(rng)
            label = f"x {x.shape}, kernel {kernel}, stride {stride}"
            if backward:
                dout = rng.normal(size=_out_shape(x, kernel, stride))
                yield _pool_backward_case(kind, x, kernel, stride, dout, label)
            else:
                yield _pool_forward_case(kind, x, kernel, stride, label)
    return cases


def avgpool_visible(rng):
    yield _pool_forward_case("avgpool", DECK_AVG[None, None], 2, None,
                             "the lecture's 4x4 example (36.5, not 36)",
                             hint="the mean of each 2x2 window")
    x = rng.normal(size=(1, 2, 6, 5))
    yield _pool_forward_case("avgpool", x, (3, 2), (1, 2),
                             "x (1, 2, 6, 5), kernel (3, 2), stride (1, 2)",
                             hint="step by the stride, not by the kernel")
    yield _pool_backward_case("avgpool", np.zeros((1, 1, 4, 4)), 2, None,
                              np.ones((1, 1, 2, 2)), "2x2 windows, dout = 1",
                              hint="each pixel gets dout / (KH * KW)")
    yield _pool_backward_case("avgpool", np.zeros((1, 1, 4, 4)), 3, 1,
                              np.ones((1, 1, 2, 2)), "overlapping 3x3 windows, "
                              "stride 1, dout = 1", hint="a pixel in several windows "
                              "gets the sum of their shares: use += over the windows")


def _avgpool_hidden(rng):
    for backward in (False, True):
        for _ in range(6):
            x, kernel, stride = _pool_draw(rng)
            label = f"x {x.shape}, kernel {kernel}, stride {stride}"
            if backward:
                dout = rng.normal(size=_out_shape(x, kernel, stride))
                yield _pool_backward_case("avgpool", x, kernel, stride, dout,
                                          "backward, " + label)
            else:
                yield _pool_forward_case("avgpool", x, kernel, stride, "forward, " + label)


# --- conv2d_backward -----------------------------------------------------------------

CONV_BACKWARD = """out, cache = conv2d_forward(x, w, b, stride=stride, pad=pad, dilation=dilation)
dx, dw, db = conv2d_backward(dout, cache)
result = {"dx": dx, "dw": dw, "db": db}
"""


def _conv_ref(x, w, b, dout, stride, pad, dilation):
    tx, tw, tb = (_t(a).requires_grad_() for a in (x, w, b))
    out = F.conv2d(tx, tw, tb, stride=stride, padding=pad, dilation=dilation)
    out.backward(_t(dout))
    return {"dx": tx.grad.numpy(), "dw": tw.grad.numpy(), "db": tb.grad.numpy()}


def _conv_out_shape(x, w, stride, pad, dilation):
    H = (x.shape[2] + 2 * pad - dilation * (w.shape[2] - 1) - 1) // stride + 1
    W = (x.shape[3] + 2 * pad - dilation * (w.shape[3] - 1) - 1) // stride + 1
    return x.shape[0], w.shape[0], H, W


def _conv_case(x, w, b, dout, stride=1, pad=0, dilation=1, label="", **options):
    params = {"stride": stride, "pad": pad, "dilation": dilation}
    N, F_, Ho, Wo = dout.shape
    hints = {(F_, Ho, Wo): "db sums dout over the batch and all output positions: "
             "(F,) only", (N, F_): "db sums over the output positions too"}
    return run(CONV_BACKWARD, {"x": x, "w": w, "b": b, "dout": dout, **params},
               expect=_conv_ref(x, w, b, dout, **params), label=label,
               shape_hints=list(hints.items()), **options)


ROTATED_HINT = "dx is the full convolution of dout with the kernel rotated by 180 " \
               "degrees: send dout back to the very pixels each tap read"


def conv2d_backward_visible(rng):
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    yield _conv_case(x, w, np.zeros(1), np.ones((1, 1, 2, 2)),
                     label="a 3x3 ramp 0..8, kernel [[1, 2], [3, 4]], dout = 1: "
                     "dx = [[1, 3, 2], [4, 10, 6], [3, 7, 4]], dw = [[8, 12], [20, 24]]",
                     hint=ROTATED_HINT)
    x = rng.normal(size=(2, 3, 6, 5))
    for params in ({"stride": 1, "pad": 0, "dilation": 1},
                   {"stride": 2, "pad": 1, "dilation": 1},
                   {"stride": 1, "pad": 2, "dilation": 2}):
        w, b = rng.normal(size=(4, 3, 3, 2)), rng.normal(size=4)
        dout = rng.normal(size=_conv_out_shape(x, w, **params))
        yield _conv_case(x, w, b, dout, **params,
                         label=f"x (2, 3, 6, 5), w (4, 3, 3, 2), {params}",
                         hint="dw[:, :, p, q] sums dout times the taps of (p, q); "
                              + ROTATED_HINT)


def _conv_hidden(draw):
    def cases(rng):
        made = 0
        while made < 5:
            N, C, F_ = (int(v) for v in rng.integers(1, 4, size=3))
            H, W = (int(v) for v in rng.integers(3, 10, size=2))
            HH, WW = (int(v) for v in rng.integers(1, 4, size=2))
            params = draw(rng)
            x, w = rng.normal(size=(N, C, H, W)), rng.normal(size=(F_, C, HH, WW))
            shape = _conv_out_shape(x, w, **params)
            if min(shape[2:]) < 1:
                continue
            made += 1
            b, dout = rng.normal(size=F_), rng.normal(size=shape)
            yield _conv_case(x, w, b, dout, **params,
                             label=f"x {x.shape}, w {w.shape}, {params}")
    return cases


# --- gradient checking ---------------------------------------------------------------

NUMERICAL = """x = x.copy()
def f(v):
    return {f}
result = numerical_gradient(f, x{h})
"""
RESTORED = """x = x.copy()
numerical_gradient(lambda v: float(np.sum(v ** 3)), x)
result = x
"""
ONE_SIDED_HINT = "use the central difference (f(x + h) - f(x - h)) / (2h), not a " \
                 "one-sided one"


def _numerical_case(f, x, grad, h=None, a=None, label="", **options):
    code = NUMERICAL.format(f=f, h="" if h is None else f", h={h}")
    inputs = {"x": x} if a is None else {"x": x, "a": a}
    return run(code, inputs, expect=grad, label=label, **options)


def gradcheck_visible(rng):
    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.5]])
    yield _numerical_case("float(np.sum(v ** 2))", x, 2 * x,
                          label="f(x) = sum(x**2) on a 2x3 x: the gradient is 2x",
                          rtol=1e-7, atol=1e-7, hint="grad[i] = (f(x + h e_i) - "
                          "f(x - h e_i)) / (2h): " + ONE_SIDED_HINT)
    x3 = np.linspace(-1, 1, 24).reshape(2, 3, 4)
    yield _numerical_case("float(np.sum(np.exp(v)))", x3, np.exp(x3), h=1e-3,
                          label="f(x) = sum(exp(x)) on a (2, 3, 4) x with h = 1e-3",
                          hint=ONE_SIDED_HINT)
    yield run(RESTORED, {"x": x}, expect=x, label="x after the call",
              hint="put x[i] back after nudging it; x must come out unchanged")
    yield call("rel_error", np.array([1.0, 2.0]), np.array([1.0, 2.2]),
               expect=0.2 / 4.2, label="rel_error([1, 2], [1, 2.2]) = 0.2 / 4.2",
               hint="the largest |a - b| / (|a| + |b|) over the entries")
    yield call("rel_error", np.zeros((2, 2)), np.zeros((2, 2)), expect=0.0,
               label="rel_error of two zero arrays", hint="the floor 1e-8 keeps 0/0 away")
    yield call("rel_error", np.array([1e-9, 0.0]), np.array([0.0, 0.0]), expect=0.1,
               label="rel_error([1e-9, 0], [0, 0]) = 1e-9 / 1e-8",
               hint="divide by max(|a| + |b|, 1e-8)")


def numerical_gradient_hidden(rng):
    for h in (None, 1e-3, 1e-3):
        shape = tuple(int(v) for v in rng.integers(1, 5, size=int(rng.integers(1, 5))))
        x, a = rng.normal(size=shape), rng.normal(size=shape)
        yield _numerical_case("float(np.sum(np.sin(v) * a))", x, np.cos(x) * a, h=h,
                              a=a, label=f"f(x) = sum(sin(x) * a), x {shape}, h = {h}",
                              rtol=1e-5, atol=1e-6)
    x = rng.normal(size=(3, 5))
    yield _numerical_case("float(np.sum(np.tanh(v) ** 2))", x,
                          2 * np.tanh(x) * (1 - np.tanh(x) ** 2), h=1e-3,
                          label="f(x) = sum(tanh(x)**2), x (3, 5), h = 1e-3",
                          rtol=1e-5, atol=1e-6)


def _rel_error(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def rel_error_hidden(rng):
    for _ in range(5):
        shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(1, 4))))
        a = rng.normal(size=shape) * 10.0 ** rng.integers(-9, 3)
        b = a + rng.normal(size=shape) * 10.0 ** rng.integers(-12, 0)
        yield call("rel_error", a, b, expect=_rel_error(a, b), rtol=1e-9, atol=1e-12,
                   label=f"arrays of shape {shape}")


# --- the tiny CNN -----------------------------------------------------------------

def _tiny_torch(params, X, y=None):
    """The reference network; scores, or the loss, in float64."""
    h = F.relu(F.conv2d(X, params["W1"], params["b1"], padding=1))
    scores = F.max_pool2d(h, 2).reshape(X.shape[0], -1) @ params["W2"] + params["b2"]
    return scores if y is None else F.cross_entropy(scores, torch.from_numpy(y))


def _tiny_params(rng, C, H, W, F_, K, scale=1.0):
    D = F_ * (H // 2) * (W // 2)
    return {"W1": rng.normal(size=(F_, C, 3, 3)) * scale, "b1": rng.normal(size=F_) * scale,
            "W2": rng.normal(size=(D, K)) * scale / np.sqrt(D), "b2": rng.normal(size=K)}


def _tiny_autograd(params, X, y):
    tp = {k: _t(v).requires_grad_() for k, v in params.items()}
    loss = _tiny_torch(tp, _t(X), y)
    loss.backward()
    return {"loss": float(loss.detach()), "grads": {k: v.grad.numpy() for k, v in tp.items()}}


def _tiny_numerical(params, X, y, h=1e-6):
    """Central differences of the reference loss: the gradient check."""
    from cnn_course.ops import numerical_gradient

    params = {k: v.copy() for k, v in params.items()}

    def loss(_):
        with torch.no_grad():
            return float(_tiny_torch({k: _t(v) for k, v in params.items()}, _t(X), y))

    grads = {k: numerical_gradient(loss, params[k], h=h) for k in params}
    return {"loss": loss(None), "grads": grads}


TINY_LOSS = "loss, grads = tiny_cnn_loss(params, X, y)\n" \
            "result = {'loss': loss, 'grads': grads}\n"


def tiny_cnn_visible(rng):
    params = _tiny_params(rng, 1, 4, 6, 2, 3)
    X, y = rng.normal(size=(2, 1, 4, 6)), np.array([0, 2])
    scores = _tiny_torch({k: _t(v) for k, v in params.items()}, _t(X)).numpy()
    yield run("result = tiny_cnn_loss(params, X)", {"params": params, "X": X},
              expect=scores, label="scores of 2 inputs (1, 4, 6), F = 2, K = 3",
              shape_hints=[((2, 2, 2, 3), "flatten and apply the affine layer")],
              hint="conv (pad 1) -> ReLU -> 2x2 max pool -> affine")
    zero = {k: np.zeros_like(v) for k, v in params.items()}
    yield run("result = tiny_cnn_loss(params, X, y)[0]", {"params": zero, "X": X, "y": y},
              expect=float(np.log(3)), label="all weights 0: the loss is log(K) = log 3",
              hint="the mean softmax cross-entropy over the batch")
    yield run(TINY_LOSS, {"params": params, "X": X, "y": y},
              expect=_tiny_numerical(params, X, y), rtol=1e-5, atol=1e-7,
              label="gradient check: grads against central differences of the loss",
              hint="backward through affine, max pool, ReLU and conv, in that order")


def tiny_cnn_gradients_hidden(rng):
    for _ in range(5):
        N, C, F_ = (int(v) for v in rng.integers(1, 4, size=3))
        H, W = (int(v) for v in rng.integers(2, 10, size=2))
        K = int(rng.integers(2, 6))
        params = _tiny_params(rng, C, H, W, F_, K)
        X, y = rng.normal(size=(N, C, H, W)), rng.integers(0, K, size=N)
        yield run(TINY_LOSS, {"params": params, "X": X, "y": y},
                  expect=_tiny_autograd(params, X, y),
                  label=f"X {X.shape}, F = {F_}, K = {K}")


_DIGITS = []


def _digits():
    """scikit-learn's 1,797 digits as uint8 (N, 1, 8, 8) in 0..16, and the labels."""
    if not _DIGITS:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        _DIGITS.append((bunch.images.astype(np.uint8)[:, None], bunch.target))
    return _DIGITS[0]


TRAIN = """params, losses = train_tiny_cnn(X_train / 16.0, y_train)
result = np.asarray(tiny_cnn_loss(params, X_test / 16.0)).argmax(axis=1)
"""


def _training(n_train, n_test, label):
    def cases(rng):
        X, y = _digits()
        order = rng.permutation(len(X))
        train, test = order[:n_train], order[n_train : n_train + n_test]
        yield run(TRAIN, {"X_train": X[train], "y_train": y[train], "X_test": X[test]},
                  metric=Metric("accuracy", y[test], MIN_ACCURACY),
                  cpu_seconds=TRAIN_CPU, label=label)
    return cases


SPEC = Assignment(
    name="02_backprop",
    title="pooling and backpropagation",
    lectures=("06_pooling", "07_backprop"),
    allow=("numpy", "matplotlib"),
    forbid=("torch", "scipy", "skimage", "sklearn", "cv2", "cnn_course",
            "numpy.convolve", "numpy.correlate"),
    rtol=1e-5,
    atol=1e-5,
    tolerance_note="float32 results are fine",
    limits=Limits(call_cpu=10, cell_cpu=10),
    seed=20261202,
    parts=[
        Part("maxpool", "`maxpool_forward`, `maxpool_backward`: max pooling with "
             "overlapping windows", ("maxpool_forward", "maxpool_backward"), [
            Test("maxpool_forward_visible", 1, "maxpool_forward: the lecture's example, "
                 "sizes rounded down, non-square and overlapping windows.",
                 maxpool_forward_visible),
            Test("maxpool_backward_visible", 1, "maxpool_backward: routing to the "
                 "maximum, ties, overlapping windows.", maxpool_backward_visible),
            Test("maxpool_forward_hidden", 1, "maxpool_forward matches torch on random "
                 "shapes, kernels and strides.", _pool_hidden("maxpool", False),
                 hidden=True),
            Test("maxpool_backward_hidden", 1, "maxpool_backward matches torch autograd "
                 "on random shapes, kernels and strides.", _pool_hidden("maxpool", True),
                 hidden=True),
        ]),
        Part("avgpool", "`avgpool_forward`, `avgpool_backward`: average pooling",
             ("avgpool_forward", "avgpool_backward"), [
            Test("avgpool_visible", 1, "avgpool: the lecture's example, strides and "
                 "overlapping windows, forward and backward.", avgpool_visible),
            Test("avgpool_hidden", 2, "avgpool forward and backward match torch on "
                 "random shapes, kernels and strides.", _avgpool_hidden, hidden=True),
        ]),
        Part("conv2d_backward", "`conv2d_backward`: dx, dw and db with stride, padding "
             "and dilation", ("conv2d_backward",), [
            Test("conv2d_backward_visible", 1, "conv2d_backward: the lecture's worked "
                 "example, and stride, padding and dilation against torch.",
                 conv2d_backward_visible),
            Test("conv2d_backward_basic_hidden", 1, "conv2d_backward matches torch "
                 "autograd (stride 1, no padding) on random shapes.",
                 _conv_hidden(lambda rng: {"stride": 1, "pad": 0, "dilation": 1}),
                 hidden=True),
            Test("conv2d_backward_stride_pad_hidden", 1, "conv2d_backward matches torch "
                 "autograd with stride and padding on random shapes.",
                 _conv_hidden(lambda rng: {"stride": int(rng.integers(1, 4)),
                                           "pad": int(rng.integers(0, 3)), "dilation": 1}),
                 hidden=True),
            Test("conv2d_backward_dilation_hidden", 1, "conv2d_backward matches torch "
                 "autograd with dilation, stride and padding on random shapes.",
                 _conv_hidden(lambda rng: {"stride": int(rng.integers(1, 3)),
                                           "pad": int(rng.integers(0, 3)),
                                           "dilation": int(rng.integers(2, 4))}),
                 hidden=True),
        ]),
        Part("gradcheck", "`numerical_gradient`, `rel_error`: gradient checking",
             ("numerical_gradient", "rel_error"), [
            Test("gradcheck_visible", 1, "numerical_gradient and rel_error on small "
                 "cases you can check by hand.", gradcheck_visible),
            Test("numerical_gradient_hidden", 1, "numerical_gradient matches analytic "
                 "gradients of random functions.", numerical_gradient_hidden,
                 hidden=True),
            Test("rel_error_hidden", 1, "rel_error on random arrays of every scale.",
                 rel_error_hidden, hidden=True),
        ]),
        Part("tiny_cnn", "`tiny_cnn_loss`: a tiny CNN, gradient-checked and trained on "
             "digits", ("tiny_cnn_loss",), [
            Test("tiny_cnn_visible", 1, "tiny_cnn_loss: scores, the loss at zero weights, "
                 "and a gradient check by central differences.", tiny_cnn_visible),
            Test("tiny_cnn_gradients_hidden", 2, "tiny_cnn_loss: loss and gradients "
                 "match torch autograd on random shapes.", tiny_cnn_gradients_hidden,
                 hidden=True),
            Test("tiny_cnn_train_visible", 1, "train_tiny_cnn with your layers: at least "
                 "90% of 300 test digits right after training on 800.",
                 _training(800, 300, "800 training digits, 300 test digits")),
            Test("tiny_cnn_train_hidden", 2, "train_tiny_cnn with your layers: at least "
                 "90% of digits the grader holds back (a new split in every session).",
                 _training(1200, 500, "1,200 training digits, 500 held-back digits"),
                 hidden=True, fresh=True),
        ]),
    ],
)


# run() takes shape_hints as a list of (shape, hint) pairs; call() also takes a dict.

# --- example submissions -----------------------------------------------------------

_AVGPOOL_STEPS_BY_KERNEL = '''def avgpool_forward(x, kernel=2, stride=None):
    """Average pooling that always steps by the kernel (ignores stride)."""
    KH, KW = as_pair(kernel)
    N, C, H, W = x.shape
    out = np.zeros((N, C, H // KH, W // KW))
    for i in range(H // KH):
        for j in range(W // KW):
            out[:, :, i, j] = x[:, :, i * KH : (i + 1) * KH, j * KW : (j + 1) * KW].mean(
                axis=(2, 3))
    return out, (x.shape, (KH, KW))
'''

_AVGPOOL_BACKWARD_BY_KERNEL = '''def avgpool_backward(dout, cache):
    """Spread each window's gradient over its block (no stride)."""
    x_shape, (KH, KW) = cache
    N, C, H_out, W_out = dout.shape
    dx = np.zeros(x_shape)
    for i in range(H_out):
        for j in range(W_out):
            dx[:, :, i * KH : (i + 1) * KH, j * KW : (j + 1) * KW] = (
                dout[:, :, i, j, None, None] / (KH * KW))
    return dx
'''

_CONV_BACKWARD_UNROTATED = '''def conv2d_backward(dout, cache):
    """dw and db right; dx correlates dout with the kernel as it is (not rotated)."""
    x, w, b, stride, pad, dilation = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    x_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    x_pad[:, :, pad : pad + H, pad : pad + W] = x
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros(w.shape)
    for p in range(HH):
        for q in range(WW):
            rows = slice(p * dilation, p * dilation + stride * (H_out - 1) + 1, stride)
            cols = slice(q * dilation, q * dilation + stride * (W_out - 1) + 1, stride)
            dw[:, :, p, q] = np.einsum("nfhw,nchw->fc", dout, x_pad[:, :, rows, cols])
            flipped = w[:, :, HH - 1 - p, WW - 1 - q]  # "the backward flips the kernel"
            dx_pad[:, :, rows, cols] += np.einsum("nfhw,fc->nchw", dout, flipped)
    return dx_pad[:, :, pad : pad + H, pad : pad + W], dw, dout.sum(axis=(0, 2, 3))
'''

_ONE_SIDED = '''def numerical_gradient(f, x, h=1e-5):
    """A one-sided (forward) difference."""
    grad = np.zeros(x.shape)
    fx = f(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        grad[i] = (f(x) - fx) / h
        x[i] = old
    return grad
'''

def _solution_with(answer: str, old: str, new: str) -> str:
    """The solution's answer cell with one line changed (a mistake or a shortcut)."""
    from pathlib import Path

    import nbformat

    from cnn_course.course.spec.generate import solution_answers

    notebook = nbformat.read(Path(__file__).with_name(f"{SPEC.name}.ipynb"), as_version=4)
    code = solution_answers(notebook)[answer]
    assert old in code, "the solution changed: update this example"
    return code.replace(old, new)


# dw by a library routine: a valid correlation of two equally long vectors is their
# dot product. Right numbers, forbidden routines.
_DW_LINE = 'dw[:, :, p, q] = np.einsum("nfhw,nchw->fc", dout, padded[:, :, r, c])'
_DW_BY = """for f in range(F):
                for k in range(C):
                    dw[f, k, p, q] = {routine}(dout[:, f].ravel(),
                                               padded[:, k, r, c].ravel(){flip},
                                               mode="valid")[0]"""
_CONV_BACKWARD_NP_CORRELATE = _solution_with(
    "conv2d_backward", _DW_LINE, _DW_BY.format(routine="np.correlate", flip=""))
_CONV_BACKWARD_NP_CONVOLVE = _solution_with(
    "conv2d_backward", _DW_LINE, _DW_BY.format(routine="np.convolve", flip="[::-1]"))

_ALL = {a: SOLUTION for p in SPEC.parts for a in p.answers}

SPEC.examples = [
    Example("full_solution", "every part right: full marks", 20),
    Example("blank", "the release as handed out: 0", 0, answers={}),
    Example("partly_correct", "pooling and gradient checking only: partial credit", 10,
            answers={a: SOLUTION for a in ("maxpool_forward", "maxpool_backward",
                                           "avgpool_forward", "avgpool_backward",
                                           "numerical_gradient", "rel_error")}),
    Example("avgpool_ignores_stride", "average pooling always steps by the kernel: "
            "part 2 earns nothing", 17,
            answers={**_ALL, "avgpool_forward": _AVGPOOL_STEPS_BY_KERNEL,
                     "avgpool_backward": _AVGPOOL_BACKWARD_BY_KERNEL},
            reason="not by the kernel"),
    Example("conv_backward_unrotated", "dx from the kernel as it is, not rotated: "
            "part 3 earns nothing (the CNN needs no dx of its input)", 16,
            answers={**_ALL, "conv2d_backward": _CONV_BACKWARD_UNROTATED},
            reason="rotated by 180"),
    Example("one_sided_difference", "numerical_gradient by a one-sided difference: "
            "its tests fail, rel_error's pass", 18,
            answers={**_ALL, "numerical_gradient": _ONE_SIDED}, reason="one-sided"),
    Example("uses_np_convolve", "dw by np.convolve: part 3 and the CNN that uses it "
            "earn nothing", 10,
            answers={**_ALL, "conv2d_backward": _CONV_BACKWARD_NP_CONVOLVE},
            reason="numpy.convolve"),
    Example("uses_np_correlate", "dw by np.correlate: part 3 and the CNN that uses it "
            "earn nothing", 10,
            answers={**_ALL, "conv2d_backward": _CONV_BACKWARD_NP_CORRELATE},
            reason="numpy.correlate"),
]
