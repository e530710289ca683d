"""Assignment 03_regularisation: its checks, points and rules (instructor side: never released).

References: torch in float64 for batch normalisation (forward, running averages and
autograd); for the augmentations, the grader's own numpy reference making the same
generator calls in the order the notebook states; dropout is checked statistically
(keep rate on large inputs with fixed seeds) and for consistency between forward and
backward. The experiment runs on a split of scikit-learn's digits that the grader
draws anew in every grading session, once with the true validation labels and once
with shuffled ones.
"""


import numpy as np
import torch
import torch.nn.functional as F

from cnn_course.course.spec import SOLUTION, Assignment, Example, Limits, Part, Test, run

EXPERIMENT_CPU = 60  # CPU seconds for one call of experiment() (stated in the notebook)
ACCURACY_RANGE = (0.90, 1.00)  # both accuracies, true validation labels
SHUFFLED_RANGE = (0.00, 0.30)  # both accuracies, shuffled validation labels


def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


# --- dropout ---------------------------------------------------------------------------

# Large inputs are made inside the check from a shape and a seed: they need not travel.
MAKE = """x = np.random.default_rng(data_seed).normal(size=shape) + 5.0
dout = np.random.default_rng(data_seed + 1).normal(size=shape)
"""
KEEP_RATE = MAKE + """out, cache = dropout_forward(x, p, "train", np.random.default_rng(seed))
result = float(np.mean(out != 0))
"""
SCALE = MAKE + """out, cache = dropout_forward(x, p, "train", np.random.default_rng(seed))
kept = out != 0
result = float(np.max(np.abs(out[kept] / x[kept] - 1 / (1 - p)))) if kept.any() else 0.0
"""
BACKWARD = MAKE + """out, cache = dropout_forward(x, p, "train", np.random.default_rng(seed))
dx = dropout_backward(dout, cache)
result = float(np.max(np.abs(dx - dout * out / x)))
"""
SAME_SEED = MAKE + """first, _ = dropout_forward(x, p, "train", np.random.default_rng(seed))
second, _ = dropout_forward(x, p, "train", np.random.default_rng(seed))
result = float(np.max(np.abs(first - second)))
"""
EVAL = """out, cache = dropout_forward(x, p, "eval", np.random.default_rng(seed))
result = {"out": out, "dx": dropout_backward(dout, cache)}
"""
KEEP_HINT = "a unit is kept with probability 1 - p: p is the probability to drop"


def _dropout_inputs(shape, p, seed, data_seed):
    return {"shape": tuple(shape), "p": p, "seed": seed, "data_seed": data_seed}


def _keep_case(shape, p, seed, data_seed, label):
    sigma = np.sqrt(p * (1 - p) / np.prod(shape))
    return run(KEEP_RATE, _dropout_inputs(shape, p, seed, data_seed), expect=1 - p,
               rtol=0, atol=5 * sigma, label=label, hint=KEEP_HINT)


def dropout_visible(rng):
    big = (400, 500)
    yield _keep_case(big, 0.3, 0, 1, "p = 0.3 on 200,000 units: about 70% kept")
    yield run(SCALE, _dropout_inputs(big, 0.3, 0, 1), expect=0.0, atol=1e-9,
              label="p = 0.3: every kept unit is x / 0.7",
              hint="inverted dropout divides the kept units by 1 - p")
    x, dout = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    yield run(EVAL, {"x": x, "dout": dout, "p": 0.3, "seed": 0},
              expect={"out": x, "dx": dout}, label="eval mode, forward and backward",
              hint="in eval mode dropout is the identity, both ways")
    yield run(BACKWARD, _dropout_inputs((3, 4), 0.3, 1, 2), expect=0.0, atol=1e-9,
              label="backward: dx = dout * mask / (1 - p)",
              hint="use the forward pass's mask (keep it in the cache), scaled the same way")
    yield run(SAME_SEED, _dropout_inputs((50, 500), 0.3, 5, 3), expect=0.0, atol=0,
              label="two generators with the same seed give the same mask",
              hint="draw the mask from rng, never from np.random")


def dropout_hidden(rng):
    for p in rng.permutation([0.1, 0.2, 0.3, 0.7, 0.8])[:3]:
        p = float(p)
        shape = tuple(int(v) for v in rng.integers(8, 40, size=4))
        seed, data_seed = (int(v) for v in rng.integers(10, 10**6, size=2))
        yield _keep_case(shape, p, seed, data_seed, f"p = {p} on x {shape}")
        yield run(SCALE, _dropout_inputs(shape, p, seed, data_seed), expect=0.0, atol=1e-9,
                  label=f"p = {p}: kept units scaled by 1 / (1 - p)")
        yield run(BACKWARD, _dropout_inputs(shape, p, seed + 1, data_seed), expect=0.0,
                  atol=1e-9, label=f"p = {p}: backward with the forward's mask")
    x, dout = rng.normal(size=(2, 3, 5)), rng.normal(size=(2, 3, 5))
    yield run(EVAL, {"x": x, "dout": dout, "p": 0.6, "seed": 3},
              expect={"out": x, "dx": dout}, label="eval mode on a (2, 3, 5) x")


# --- batch normalisation -------------------------------------------------------------

BN_TRAIN = """rm, rv = running_mean.copy(), running_var.copy()
out, cache = batchnorm_forward(x, gamma, beta, rm, rv, mode=mode, momentum=momentum)
result = {"out": out, "running_mean": rm, "running_var": rv}
"""
BN_STEPS = """rm, rv = running_mean.copy(), running_var.copy()
for batch in batches:
    out, cache = batchnorm_forward(batch, gamma, beta, rm, rv, mode="train",
                                   momentum=momentum)
ev, cache = batchnorm_forward(x_eval, gamma, beta, rm, rv, mode="eval",
                              momentum=momentum)
result = {"train": out, "running_mean": rm, "running_var": rv, "eval": ev}
"""
BN_BACKWARD = """rm, rv = running_mean.copy(), running_var.copy()
out, cache = batchnorm_forward(x, gamma, beta, rm, rv, mode=mode)
dx, dgamma, dbeta = batchnorm_backward(dout, cache)
result = {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}
"""
BN_GRADCHECK = """def numeric(v, h=1e-6):
    grad = np.zeros(v.shape)
    for i in np.ndindex(v.shape):
        old = v[i]
        v[i] = old + h
        plus = np.sum(batchnorm_forward(x, gamma, beta, rm.copy(), rv.copy(), mode=mode)[0]
                      * dout)
        v[i] = old - h
        minus = np.sum(batchnorm_forward(x, gamma, beta, rm.copy(), rv.copy(),
                                         mode=mode)[0] * dout)
        v[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad
rm, rv = running_mean.copy(), running_var.copy()
out, cache = batchnorm_forward(x, gamma, beta, rm.copy(), rv.copy(), mode=mode)
analytic = dict(zip(("dx", "dgamma", "dbeta"), batchnorm_backward(dout, cache)))
result = {}
for name, v in (("dx", x), ("dgamma", gamma), ("dbeta", beta)):
    n = numeric(v)
    result[name] = float(np.max(np.abs(analytic[name] - n)) / max(np.max(np.abs(n)), 1e-8))
"""


def _bn_ref(x, gamma, beta, running_mean, running_var, mode, momentum=0.1, dout=None):
    """torch's output, updated running averages and (with dout) gradients, float64."""
    rm, rv = _t(running_mean).clone(), _t(running_var).clone()
    tx, tg, tb = (_t(a).requires_grad_(dout is not None) for a in (x, gamma, beta))
    out = F.batch_norm(tx, rm, rv, tg, tb, training=mode == "train", momentum=momentum,
                       eps=1e-5)
    if dout is None:
        return {"out": out.detach().numpy(), "running_mean": rm.numpy(),
                "running_var": rv.numpy()}
    out.backward(_t(dout))
    return {"dx": tx.grad.numpy(), "dgamma": tg.grad.numpy(), "dbeta": tb.grad.numpy()}


def _bn_inputs(x, gamma, beta, rm, rv, **more):
    return {"x": x, "gamma": gamma, "beta": beta, "running_mean": rm, "running_var": rv,
            **more}


RUNNING_HINT = "running_var averages the unbiased batch variance (divide by m - 1), " \
               "running_mean the batch mean, both updated in place with the new " \
               "batch weighted by momentum"


def batchnorm_forward_visible(rng):
    x = np.array([[1.0, 2.0, -1.0], [3.0, 0.0, -1.0], [5.0, 4.0, 2.0], [7.0, 2.0, 4.0]])
    zeros, ones = np.zeros(3), np.ones(3)
    ref = _bn_ref(x, ones, zeros, zeros, ones, "train")
    yield run(BN_TRAIN + 'result = result["out"]\n',
              _bn_inputs(x, ones, zeros, zeros, ones, mode="train", momentum=0.1),
              expect=ref["out"], label="1-D train, x (4, 3), gamma 1, beta 0",
              hint="standardise each feature (column) with its batch mean and biased "
                   "variance (np.var)")
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, -1.0])
    ref = _bn_ref(x, gamma, beta, zeros, ones, "train")
    yield run(BN_TRAIN, _bn_inputs(x, gamma, beta, zeros, ones, mode="train",
                                   momentum=0.1),
              expect=ref, label="1-D train with gamma [1, 2, 3], beta [0, 1, -1]: the "
              "output and the running averages after one step (momentum 0.1)",
              hint=RUNNING_HINT)
    x4 = rng.normal(size=(2, 3, 4, 5)) * 2 + 1
    g, b = rng.normal(size=3), rng.normal(size=3)
    rm, rv = rng.normal(size=3), rng.random(3) + 0.5
    yield run(BN_TRAIN, _bn_inputs(x4, g, b, rm, rv, mode="train", momentum=0.3),
              expect=_bn_ref(x4, g, b, rm, rv, "train", 0.3),
              label="spatial train, x (2, 3, 4, 5), momentum 0.3",
              hint="one mean and variance per channel, over the axes (N, H, W)")
    yield run(BN_TRAIN, _bn_inputs(x4, g, b, rm, rv, mode="eval", momentum=0.3),
              expect=_bn_ref(x4, g, b, rm, rv, "eval", 0.3),
              label="spatial eval: the running averages, left unchanged",
              hint="in eval mode normalise with running_mean and running_var, and do "
                   "not update them")


def batchnorm_backward_visible(rng):
    x, dout = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    g, b, rm, rv = rng.normal(size=4), rng.normal(size=4), np.zeros(4), np.ones(4)
    for mode in ("train", "eval"):
        yield run(BN_BACKWARD, _bn_inputs(x, g, b, rm, rv, dout=dout, mode=mode),
                  expect=_bn_ref(x, g, b, rm, rv, mode, dout=dout),
                  label=f"1-D {mode}, x (5, 4)",
                  hint="dx = gamma / sqrt(var + eps) * (dout - mean(dout) - x_hat * "
                       "mean(dout * x_hat)) in train mode; dbeta = sum(dout), dgamma = "
                       "sum(dout * x_hat)")
    x4, d4 = rng.normal(size=(2, 3, 3, 4)), rng.normal(size=(2, 3, 3, 4))
    g, b = rng.normal(size=3), rng.normal(size=3)
    yield run(BN_BACKWARD, _bn_inputs(x4, g, b, np.zeros(3), np.ones(3), dout=d4,
                                      mode="train"),
              expect=_bn_ref(x4, g, b, np.zeros(3), np.ones(3), "train", dout=d4),
              label="spatial train, x (2, 3, 3, 4)",
              hint="sum and average over (N, H, W), per channel")


def _bn_draw(rng, spatial):
    N = int(rng.integers(2, 7))
    C = int(rng.integers(1, 5))
    shape = (N, C, *(int(v) for v in rng.integers(1, 6, size=2))) if spatial else (N, C)
    x = rng.normal(size=shape) * rng.uniform(0.5, 3) + rng.normal()
    return (x, rng.normal(size=C), rng.normal(size=C), rng.normal(size=C),
            rng.random(C) + 0.5)


def batchnorm_forward_hidden(rng):
    for spatial in (False, True, False, True):
        x, g, b, rm, rv = _bn_draw(rng, spatial)
        momentum = float(rng.uniform(0.05, 0.5))
        batches = [x] + [rng.normal(size=x.shape) * 2 + 1 for _ in range(2)]
        x_eval = rng.normal(size=x.shape)
        trm, trv = _t(rm).clone(), _t(rv).clone()
        for batch in batches:
            out = F.batch_norm(_t(batch), trm, trv, _t(g), _t(b), training=True,
                               momentum=momentum, eps=1e-5)
        ev = F.batch_norm(_t(x_eval), trm, trv, _t(g), _t(b), training=False, eps=1e-5)
        yield run(BN_STEPS, {"batches": batches, "x_eval": x_eval, "gamma": g, "beta": b,
                             "running_mean": rm, "running_var": rv, "momentum": momentum},
                  expect={"train": out.numpy(), "running_mean": trm.numpy(),
                          "running_var": trv.numpy(), "eval": ev.numpy()},
                  label=f"three training steps on x {x.shape}, momentum {momentum:.3f}, "
                        "then eval")


def batchnorm_backward_hidden(rng):
    for spatial, mode in ((False, "train"), (True, "train"), (False, "eval"),
                          (True, "eval"), (True, "train")):
        x, g, b, rm, rv = _bn_draw(rng, spatial)
        dout = rng.normal(size=x.shape)
        yield run(BN_BACKWARD, _bn_inputs(x, g, b, rm, rv, dout=dout, mode=mode),
                  expect=_bn_ref(x, g, b, rm, rv, mode, dout=dout),
                  label=f"{mode}, x {x.shape}")


def batchnorm_gradcheck_hidden(rng):
    for spatial, mode in ((False, "train"), (True, "train"), (True, "eval")):
        x, g, b, rm, rv = _bn_draw(rng, spatial)
        dout = rng.normal(size=x.shape)
        yield run(BN_GRADCHECK, _bn_inputs(x, g, b, rm, rv, dout=dout, mode=mode),
                  expect={"dx": 0.0, "dgamma": 0.0, "dbeta": 0.0}, rtol=0, atol=1e-6,
                  label=f"{mode}, x {x.shape}: largest error of your gradients against "
                        "central differences of your forward pass, relative to the "
                        "largest gradient")


# --- augmentation: the grader's references, with the draws the notebook states ----

def ref_random_crop(x, pad, rng):
    N, C, H, W = x.shape
    top = rng.integers(0, 2 * pad + 1, size=N)
    left = rng.integers(0, 2 * pad + 1, size=N)
    padded = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    padded[:, :, pad : pad + H, pad : pad + W] = x
    return np.stack([padded[n, :, top[n] : top[n] + H, left[n] : left[n] + W]
                     for n in range(N)])


def ref_horizontal_flip(x, rng, p=0.5):
    flip = rng.random(x.shape[0]) < p
    return np.where(flip[:, None, None, None], x[..., ::-1], x)


def ref_brightness_contrast(x, rng, brightness=0.2, contrast=0.2):
    N = x.shape[0]
    b = rng.uniform(-brightness, brightness, size=N)[:, None, None, None]
    c = rng.uniform(1 - contrast, 1 + contrast, size=N)[:, None, None, None]
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip((x - m) * c + m + b, 0.0, 1.0)


CROP = "result = random_crop(x, pad, np.random.default_rng(seed))"
CONTAINS = """out = random_crop(x, pad, np.random.default_rng(seed))
N, C, H, W = x.shape
padded = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
padded[:, :, pad : pad + H, pad : pad + W] = x
found = [any(np.array_equal(out[n], padded[n, :, i : i + H, j : j + W])
             for i in range(2 * pad + 1) for j in range(2 * pad + 1)) for n in range(N)]
result = float(np.mean(found))
"""
FLIP = "result = horizontal_flip(x, np.random.default_rng(seed), p=p)"
FLIP_TWICE = """once = horizontal_flip(x, np.random.default_rng(seed), p=1.0)
result = horizontal_flip(once, np.random.default_rng(seed), p=1.0)
"""
JITTER = "result = brightness_contrast(x, np.random.default_rng(seed), brightness, contrast)"
JITTER_MEANS = """out = brightness_contrast(x, np.random.default_rng(seed), 0.0, contrast)
result = out.mean(axis=(1, 2, 3))
"""
JITTER_RANGE = """out = brightness_contrast(x, np.random.default_rng(seed), 0.5, 0.5)
result = [float(out.min() >= 0), float(out.max() <= 1)]
"""
DRAWS_HINT = "draw exactly as the notebook says, in its order, whole batch at once"


def _crop_case(x, pad, seed, label, **options):
    return run(CROP, {"x": x, "pad": pad, "seed": seed},
               expect=ref_random_crop(x, pad, np.random.default_rng(seed)), label=label,
               **options)


def random_crop_visible(rng):
    x = rng.random((3, 2, 5, 6))
    yield run(CROP, {"x": x, "pad": 2, "seed": 0}, expect=x, shape_only=True,
              label="x (3, 2, 5, 6), pad 2: the shape stays",
              hint="crop an H x W window out of the padded image")
    yield _crop_case(x, 0, 0, "pad 0: nothing to crop, the images stay",
                     hint="with pad 0 the only window is the image itself")
    yield run(CONTAINS, {"x": x + 0.5, "pad": 2, "seed": 1}, expect=1.0,
              label="every crop is a window of the zero-padded image",
              hint="pad with zeros on every side, then cut a window of the original size")
    yield _crop_case(x, 2, 0, "pad 2, seed 0: the exact output",
                     hint=DRAWS_HINT + ": top, then left, each rng.integers(0, 2 * pad "
                     "+ 1, size=N)")


def random_crop_hidden(rng):
    for _ in range(5):
        N, C = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        H, W = (int(v) for v in rng.integers(2, 10, size=2))
        pad, seed = int(rng.integers(1, 4)), int(rng.integers(1000))
        x = rng.random((N, C, H, W))
        yield _crop_case(x, pad, seed, f"x {x.shape}, pad {pad}, seed {seed}")
    x = rng.random((4, 1, 6, 7)) + 0.5
    yield run(CONTAINS, {"x": x, "pad": 3, "seed": 7}, expect=1.0,
              label="x (4, 1, 6, 7), pad 3: each crop is a window of the padded image")


def horizontal_flip_visible(rng):
    x = rng.random((3, 2, 4, 5))
    yield run(FLIP, {"x": x, "p": 1.0, "seed": 0}, expect=x[..., ::-1],
              label="p = 1: every image mirrored",
              hint="mirror left to right: reverse the last axis (W)")
    yield run(FLIP_TWICE, {"x": x, "seed": 0}, expect=x,
              label="p = 1, twice: a flip is its own inverse",
              hint="mirror left to right: reverse the last axis (W)")
    yield run(FLIP, {"x": x, "p": 0.0, "seed": 0}, expect=x, label="p = 0: no change",
              hint="flip only where rng.random(N) < p")
    x8 = rng.random((8, 1, 3, 3))
    yield run(FLIP, {"x": x8, "p": 0.5, "seed": 3},
              expect=ref_horizontal_flip(x8, np.random.default_rng(3)),
              label="p = 0.5, seed 3: the exact output",
              hint=DRAWS_HINT + ": flip = rng.random(N) < p")


def horizontal_flip_hidden(rng):
    for _ in range(5):
        shape = (int(rng.integers(1, 9)), int(rng.integers(1, 4)),
                 *(int(v) for v in rng.integers(1, 8, size=2)))
        x, p, seed = rng.random(shape), float(rng.uniform(0.2, 0.8)), int(rng.integers(1000))
        yield run(FLIP, {"x": x, "p": p, "seed": seed},
                  expect=ref_horizontal_flip(x, np.random.default_rng(seed), p),
                  label=f"x {shape}, p {p:.2f}, seed {seed}")


def brightness_contrast_visible(rng):
    x = rng.random((3, 2, 4, 4))
    yield run(JITTER, {"x": x, "seed": 0, "brightness": 0.0, "contrast": 0.0}, expect=x,
              label="brightness 0, contrast 0: no change",
              hint="b = 0 and c = 1 leave every image as it is")
    mid = 0.4 + 0.2 * rng.random((3, 2, 4, 4))  # far from 0 and 1: no clipping
    yield run(JITTER_MEANS, {"x": mid, "seed": 1, "contrast": 0.3},
              expect=mid.mean(axis=(1, 2, 3)), label="contrast only: each image keeps "
              "its mean", hint="scale the deviations from the image's own mean, over "
              "its channels and pixels")
    yield run(JITTER_RANGE, {"x": x, "seed": 2}, expect=[1.0, 1.0],
              label="brightness 0.5, contrast 0.5: values stay in [0, 1]",
              hint="clip to [0, 1] at the end")
    yield run(JITTER, {"x": x, "seed": 0, "brightness": 0.2, "contrast": 0.2},
              expect=ref_brightness_contrast(x, np.random.default_rng(0)),
              label="brightness 0.2, contrast 0.2, seed 0: the exact output",
              hint=DRAWS_HINT + ": b = rng.uniform(-brightness, brightness, size=N), "
              "then c = rng.uniform(1 - contrast, 1 + contrast, size=N)")


def brightness_contrast_hidden(rng):
    for _ in range(5):
        shape = (int(rng.integers(1, 6)), int(rng.choice([1, 3])),
                 *(int(v) for v in rng.integers(1, 8, size=2)))
        x = rng.random(shape)
        brightness, contrast = (float(v) for v in rng.uniform(0.05, 0.6, size=2))
        seed = int(rng.integers(1000))
        yield run(JITTER, {"x": x, "seed": seed, "brightness": brightness,
                           "contrast": contrast},
                  expect=ref_brightness_contrast(x, np.random.default_rng(seed),
                                                 brightness, contrast),
                  label=f"x {shape}, brightness {brightness:.2f}, contrast "
                        f"{contrast:.2f}, seed {seed}")


# --- L2 ---------------------------------------------------------------------------------

L2 = """loss, grads = l2_regularise(loss, grads, params, reg)
result = {"loss": loss, "grads": grads}
"""


def _l2_ref(loss, grads, params, reg):
    weights = [k for k in params if k.startswith("W")]
    return {"loss": loss + 0.5 * reg * sum(float(np.sum(params[k] ** 2)) for k in weights),
            "grads": {k: g + reg * params[k] if k.startswith("W") else g
                      for k, g in grads.items()}}


def l2_visible(rng):
    params = {"W1": np.array([[1.0, 2.0], [3.0, 4.0]]), "b1": np.array([1.0, -1.0]),
              "gamma": np.array([2.0, 2.0])}
    grads = {k: np.ones_like(v) for k, v in params.items()}
    yield run(L2, {"loss": 1.0, "grads": grads, "params": params, "reg": 0.1},
              expect=_l2_ref(1.0, grads, params, 0.1),
              label="loss 1, W1 [[1, 2], [3, 4]], reg 0.1: loss 1 + 0.05 * 30 = 2.5",
              hint="only the weights (keys that start with \"W\") are regularised: "
                   "loss + reg/2 * sum(W**2), grad + reg * W")


def l2_hidden(rng):
    for _ in range(4):
        D, H, K = (int(v) for v in rng.integers(1, 7, size=3))
        params = {"W1": rng.normal(size=(D, H)), "b1": rng.normal(size=H),
                  "gamma": rng.normal(size=H), "beta": rng.normal(size=H),
                  "W2": rng.normal(size=(H, K)), "b2": rng.normal(size=K)}
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        loss, reg = float(rng.random() * 3), float(rng.uniform(1e-4, 1.0))
        yield run(L2, {"loss": loss, "grads": grads, "params": params, "reg": reg},
                  expect=_l2_ref(loss, grads, params, reg),
                  label=f"two layers, D = {D}, hidden {H}, K = {K}, reg {reg:.4f}")


# --- the experiment --------------------------------------------------------------------

_DIGITS = []


def _digits():
    """scikit-learn's 1,797 digits as uint8 (N, 1, 8, 8) in 0..16, and the labels."""
    if not _DIGITS:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        _DIGITS.append((bunch.images.astype(np.uint8)[:, None], bunch.target))
    return _DIGITS[0]


EXPERIMENT = """result = experiment(X_train / 16.0, y_train, X_val / 16.0, y_val)
result = {k: float(v) for k, v in dict(result).items()}
"""


def _range(bounds):
    low, high = bounds
    middle = (low + high) / 2
    return {"expect": {"plain": middle, "regularised": middle}, "rtol": 0,
            "atol": (high - low) / 2 + 1e-12}


def _experiment(n_train, n_val, shuffled):
    def cases(rng):
        X, y = _digits()
        order = rng.permutation(len(X))
        train, val = order[:n_train], order[n_train : n_train + n_val]
        inputs = {"X_train": X[train], "y_train": y[train], "X_val": X[val],
                  "y_val": y[val]}
        yield run(EXPERIMENT, inputs, **_range(ACCURACY_RANGE), cpu_seconds=EXPERIMENT_CPU,
                  label=f"{n_train:,} training digits, {n_val} validation digits: both "
                        "accuracies between 0.90 and 1.00",
                  hint="train both networks with train() and compare net.predict(X_val) "
                       "with y_val")
        if shuffled:
            shuffled_inputs = {**inputs, "y_val": rng.permutation(y[val])}
            yield run(EXPERIMENT, shuffled_inputs, **_range(SHUFFLED_RANGE),
                      cpu_seconds=EXPERIMENT_CPU,
                      label="the same digits with shuffled validation labels: both "
                            "accuracies between 0.00 and 0.30",
                      hint="measure the accuracy against the y_val you are given")
    return cases


SPEC = Assignment(
    name="03_regularisation",
    title="regularisation: dropout, batch norm, augmentation, weight decay",
    lectures=("09_overfitting",),
    allow=("numpy", "matplotlib"),
    forbid=("torch", "scipy", "skimage", "sklearn", "cv2", "cnn_course"),
    rtol=1e-5,
    atol=1e-5,
    tolerance_note="float32 results are fine",
    limits=Limits(call_cpu=10, cell_cpu=10),
    seed=20261203,
    parts=[
        Part("dropout", "`dropout_forward`, `dropout_backward`: inverted dropout",
             ("dropout_forward", "dropout_backward"), [
            Test("dropout_visible", 1, "dropout: keep rate, scaling, eval mode, backward "
                 "and the generator.", dropout_visible),
            Test("dropout_hidden", 2, "dropout: keep rate and scaling on large random "
                 "inputs with fixed seeds, backward, eval mode.", dropout_hidden,
                 hidden=True),
        ]),
        Part("batchnorm", "`batchnorm_forward`, `batchnorm_backward`: batch "
             "normalisation, 1-D and spatial", ("batchnorm_forward", "batchnorm_backward"), [
            Test("batchnorm_forward_visible", 1, "batchnorm_forward: 1-D and spatial, "
                 "train and eval, running averages, against torch.",
                 batchnorm_forward_visible),
            Test("batchnorm_backward_visible", 1, "batchnorm_backward against torch "
                 "autograd, train and eval.", batchnorm_backward_visible),
            Test("batchnorm_forward_hidden", 2, "batchnorm_forward: several training "
                 "steps then eval, against torch's outputs and running averages.",
                 batchnorm_forward_hidden, hidden=True),
            Test("batchnorm_backward_hidden", 1, "batchnorm_backward against torch "
                 "autograd on random shapes.", batchnorm_backward_hidden, hidden=True),
            Test("batchnorm_gradcheck_hidden", 1, "batchnorm_backward against central "
                 "differences of your own forward pass.", batchnorm_gradcheck_hidden,
                 hidden=True),
        ]),
        Part("augmentation", "`random_crop`, `horizontal_flip`, `brightness_contrast`: "
             "seeded data augmentation", ("random_crop", "horizontal_flip",
                                          "brightness_contrast"), [
            Test("random_crop_visible", 1, "random_crop: shape, pad 0, a window of the "
                 "padded image, the exact output for a seed.", random_crop_visible),
            Test("random_crop_hidden", 1, "random_crop: exact outputs for random shapes, "
                 "pads and seeds.", random_crop_hidden, hidden=True),
            Test("horizontal_flip_visible", 1, "horizontal_flip: p = 1 mirrors, twice is "
                 "the identity, p = 0, the exact output for a seed.",
                 horizontal_flip_visible),
            Test("horizontal_flip_hidden", 1, "horizontal_flip: exact outputs for random "
                 "shapes, p and seeds.", horizontal_flip_hidden, hidden=True),
            Test("brightness_contrast_visible", 1, "brightness_contrast: no change at 0, "
                 "means kept by contrast, values in [0, 1], the exact output for a seed.",
                 brightness_contrast_visible),
            Test("brightness_contrast_hidden", 1, "brightness_contrast: exact outputs for "
                 "random shapes, strengths and seeds.", brightness_contrast_hidden,
                 hidden=True),
        ]),
        Part("l2", "`l2_regularise`: L2 weight decay on a loss and its gradients",
             ("l2_regularise",), [
            Test("l2_visible", 1, "l2_regularise on a small example.", l2_visible),
            Test("l2_hidden", 1, "l2_regularise on random two-layer parameters with "
                 "batch norm.", l2_hidden, hidden=True),
        ]),
        Part("experiment", "`TwoLayerNet`, `experiment`: dropout and batch norm in a "
             "network, trained on digits", ("two_layer_net", "experiment"), [
            Test("experiment_visible", 1, "experiment on 800 training digits: both "
                 "validation accuracies in the stated range.",
                 _experiment(800, 300, shuffled=False)),
            Test("experiment_hidden", 2, "experiment on a split the grader draws in every "
                 "session, with true and with shuffled validation labels.",
                 _experiment(1000, 400, shuffled=True), hidden=True, fresh=True),
        ]),
    ],
)


# --- example submissions -----------------------------------------------------------

_DROPOUT_KEEP_P = '''def dropout_forward(x, p, mode, rng):
    """Dropout with p read as the probability to keep (the other convention)."""
    if mode == "eval":
        return x.copy(), None
    mask = (rng.random(x.shape) < p) / p
    return x * mask, mask
'''

_L2_ALL_PARAMETERS = '''def l2_regularise(loss, grads, params, reg):
    """Weight decay on every parameter, biases and batch norm's included."""
    loss = loss + 0.5 * reg * sum(float(np.sum(v ** 2)) for v in params.values())
    return loss, {k: g + reg * params[k] for k, g in grads.items()}
'''

_VERTICAL_FLIP = '''def horizontal_flip(x, rng, p=0.5):
    """Flips the rows (upside down) instead of the columns."""
    flip = rng.random(x.shape[0]) < p
    out = np.array(x, dtype=float)
    out[flip] = out[flip][:, :, ::-1, :]
    return out
'''

_BATCHNORM_TORCH = '''import torch
import torch.nn.functional as F_torch


def batchnorm_forward(x, gamma, beta, running_mean, running_var, mode="train",
                      momentum=0.1, eps=1e-5):
    """torch's batch norm (not allowed here); the cache keeps what backward needs."""
    rm, rv = torch.from_numpy(running_mean), torch.from_numpy(running_var)
    out = F_torch.batch_norm(torch.from_numpy(x), rm, rv, torch.from_numpy(gamma),
                             torch.from_numpy(beta), training=mode == "train",
                             momentum=momentum, eps=eps)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    var = x.var(axis=axes) if mode == "train" else running_var
    mean = x.mean(axis=axes) if mode == "train" else running_mean
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
    return out.numpy(), (x_hat, gamma, inv_std, axes, shape, mode)
'''

_ALL = {a: SOLUTION for p in SPEC.parts for a in p.answers}


def _solution_with(answer: str, old: str, new: str) -> str:
    """The solution's answer cell with one line changed (a mistake or a shortcut)."""
    from pathlib import Path

    import nbformat

    from cnn_course.course.spec.generate import solution_answers

    notebook = nbformat.read(Path(__file__).with_name(f"{SPEC.name}.ipynb"), as_version=4)
    code = solution_answers(notebook)[answer]
    assert old in code, "the solution changed: update this example"
    return code.replace(old, new)


# the running variance from the biased batch variance
_BATCHNORM_BIASED = _solution_with("batchnorm_forward", "momentum * var * m / (m - 1)",
                                   "momentum * var")

SPEC.examples = [
    Example("full_solution", "every part right: full marks", 20),
    Example("blank", "the release as handed out: 0", 0, answers={}),
    Example("partly_correct", "dropout, augmentation and L2 only: partial credit", 11,
            answers={a: SOLUTION for a in ("dropout_forward", "dropout_backward",
                                           "random_crop", "horizontal_flip",
                                           "brightness_contrast", "l2_regularise")}),
    Example("dropout_keeps_p", "dropout keeps units with probability p instead of "
            "1 - p: part 1 earns nothing (the experiment's p = 0.5 does not mind)", 17,
            answers={**_ALL, "dropout_forward": _DROPOUT_KEEP_P},
            reason="kept with probability 1 - p"),
    Example("l2_decays_everything", "weight decay on biases and batch norm's gamma and "
            "beta too: part 4 earns nothing", 18,
            answers={**_ALL, "l2_regularise": _L2_ALL_PARAMETERS},
            reason="only the weights"),
    Example("vertical_flip", "the flip mirrors top to bottom: the flip's tests fail", 18,
            answers={**_ALL, "horizontal_flip": _VERTICAL_FLIP},
            reason="reverse the last axis"),
    Example("biased_running_var", "running variance from the biased batch variance: "
            "the running-average checks fail, the gradients pass", 17,
            answers={**_ALL, "batchnorm_forward": _BATCHNORM_BIASED},
            reason="unbiased"),
    Example("uses_torch", "batch norm by torch: part 2 and the experiment that uses it "
            "earn nothing", 11,
            answers={**_ALL, "batchnorm_forward": _BATCHNORM_TORCH},
            reason="torch"),
]
