"""cnn_course.ops.conv: padding, conv2d, conv1d and transposed conv2d against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from cnn_course import ops
from cnn_course.ops import conv as conv_module
from ops_helpers import FEW, ORACLE, assert_close, rng_for, tensor

torch.set_num_threads(1)

MODES = ("zeros", "reflect", "replicate")
TORCH_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}


# --------------------------------------------------------------------------- oracles


def torch_conv2d(x, w, b, dout, *, stride, pad, dilation, pad_mode):
    """torch's output and gradients; padding modes as nn.Conv2d does them (F.pad
    first, then an unpadded conv2d)."""
    xt, wt, bt = tensor(x), tensor(w), tensor(b)
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    if pad_mode == "zeros":
        out = F.conv2d(xt, wt, bt, stride=stride, padding=(ph, pw), dilation=dilation)
    else:
        xp = F.pad(xt, (pw, pw, ph, ph), mode=TORCH_PAD[pad_mode])
        out = F.conv2d(xp, wt, bt, stride=stride, dilation=dilation)
    out.backward(torch.from_numpy(dout))
    return out, xt.grad, wt.grad, bt.grad


def check_conv2d(x, w, b, seed, **params):
    """Naive and fast forward and backward, all against torch."""
    rng = rng_for(seed)
    out_shape = ops.conv2d_forward(x, w, b, **params)[0].shape
    dout = rng.standard_normal(out_shape)
    t_out, t_dx, t_dw, t_db = torch_conv2d(x, w, b, dout, **params)
    for forward, backward in ((ops.conv2d_forward_fast, ops.conv2d_backward_fast),
                              (ops.conv2d_forward_naive, ops.conv2d_backward_naive)):
        out, cache = forward(x, w, b, **params)
        assert_close(out, t_out, what=f"{forward.__name__} out")
        dx, dw, db = backward(dout, cache)
        assert_close(dx, t_dx, what=f"{backward.__name__} dx")
        assert_close(dw, t_dw, what=f"{backward.__name__} dw")
        assert_close(db, t_db, what=f"{backward.__name__} db")


def random_case(seed, x_shape, w_shape):
    rng = rng_for(seed)
    return (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
            rng.standard_normal(w_shape[0]))


@st.composite
def conv_cases(draw):
    """Random conv2d geometries whose output size is a whole number (the others are
    errors, tested separately)."""
    N, C, F_ = (draw(st.integers(1, 3)) for _ in range(3))
    HH, WW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    pad_mode = draw(st.sampled_from(MODES))
    H_out, W_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    # the input that gives exactly H_out outputs
    H = (H_out - 1) * stride[0] + dilation[0] * (HH - 1) + 1 - 2 * pad[0]
    W = (W_out - 1) * stride[1] + dilation[1] * (WW - 1) + 1 - 2 * pad[1]
    assume(H >= 1 and W >= 1)
    if pad_mode == "reflect":
        assume(pad[0] < H and pad[1] < W)
    # a square setting is sometimes spelled as an int: both spellings are allowed
    if stride[0] == stride[1] and draw(st.booleans()):
        stride = stride[0]
    if pad[0] == pad[1] and draw(st.booleans()):
        pad = pad[0]
    seed = draw(st.integers(0, 2**31))
    return dict(x_shape=(N, C, H, W), w_shape=(F_, C, HH, WW), stride=stride, pad=pad,
                dilation=dilation, pad_mode=pad_mode, seed=seed)


# --------------------------------------------------------------------------- pad2d


@ORACLE
@given(N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 7),
       W=st.integers(1, 7), pads=st.tuples(*[st.integers(0, 3)] * 4),
       mode=st.sampled_from(MODES), seed=st.integers(0, 2**31))
def test_pad2d_and_its_backward_match_torch_pad(N, C, H, W, pads, mode, seed):
    """pad2d equals F.pad for every mode, and pad2d_backward equals autograd's."""
    left, right, top, bottom = pads
    if mode == "reflect":
        assume(max(top, bottom) < H and max(left, right) < W)
    rng = rng_for(seed)
    x = rng.standard_normal((N, C, H, W))
    xt = tensor(x)
    ref = F.pad(xt, pads, mode=TORCH_PAD[mode])
    dout = rng.standard_normal(ref.shape)
    ref.backward(torch.from_numpy(dout))
    assert_close(ops.pad2d(x, pads, mode), ref, what="pad2d")
    assert_close(ops.pad2d_backward(dout, pads, mode), xt.grad, what="pad2d_backward")
    if top == bottom == left == right:  # the int spelling, as in the assignment
        assert_close(ops.pad2d(x, top, mode), ref, what="pad2d int")
    if top == bottom and left == right:  # the (ph, pw) spelling
        assert_close(ops.pad2d(x, (top, left), mode), ref, what="pad2d pair")


def test_pad2d_small_examples_by_hand():
    """The three modes on one row [1, 2, 3, 4] padded by 2, as in assignment 01."""
    x = np.tile(np.array([1.0, 2.0, 3.0, 4.0]), (1, 1, 4, 1))
    assert ops.pad2d(x, 2, "zeros")[0, 0, 2].tolist() == [0, 0, 1, 2, 3, 4, 0, 0]
    assert ops.pad2d(x, 2, "reflect")[0, 0, 2].tolist() == [3, 2, 1, 2, 3, 4, 3, 2]
    assert ops.pad2d(x, 2, "replicate")[0, 0, 2].tolist() == [1, 1, 1, 2, 3, 4, 4, 4]
    assert ops.pad2d(x, 0).tolist() == x.tolist()


# --------------------------------------------------------------------------- conv2d


@ORACLE
@given(case=conv_cases())
def test_conv2d_forward_and_backward_match_torch(case):
    """Random shapes, strides, pads, dilations and padding modes: naive and fast
    forward and backward equal torch's conv2d and autograd in float64."""
    x, w, b = random_case(case["seed"], case["x_shape"], case["w_shape"])
    check_conv2d(x, w, b, case["seed"], stride=case["stride"], pad=case["pad"],
                 dilation=case["dilation"], pad_mode=case["pad_mode"])


EDGE_CASES = {
    # name: (x shape, w shape, params)
    "1x1 kernel": ((2, 3, 5, 4), (4, 3, 1, 1), dict(stride=1, pad=0, dilation=1)),
    "1x1 kernel, stride 2, pad 1": ((2, 3, 5, 5), (2, 3, 1, 1), dict(stride=2, pad=1)),
    "kernel as large as the padded input": ((2, 2, 5, 6), (3, 2, 7, 8), dict(pad=1)),
    "kernel as large as the input": ((1, 2, 4, 3), (2, 2, 4, 3), dict()),
    "stride larger than the kernel": ((2, 2, 8, 9), (3, 2, 2, 2), dict(stride=(3, 7))),
    "stride 3 > kernel 1": ((1, 1, 7, 7), (1, 1, 1, 1), dict(stride=3)),
    "dilation 2 with stride 2": ((2, 3, 9, 11), (2, 3, 3, 3),
                                 dict(stride=2, dilation=2)),
    "dilation (3, 2) with stride (2, 3) and pad": ((1, 2, 10, 10), (2, 2, 2, 3),
                                                   dict(stride=(2, 3), dilation=(3, 2),
                                                        pad=(1, 2))),
    "C=1 and N=1": ((1, 1, 6, 5), (3, 1, 3, 2), dict(pad=1)),
    "odd sizes": ((3, 3, 7, 5), (5, 3, 3, 5), dict(stride=(2, 1), pad=(1, 2))),
    "F=1": ((2, 4, 5, 5), (1, 4, 3, 3), dict(stride=2, pad=1)),
}


@pytest.mark.parametrize("pad_mode", MODES)
@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_conv2d_edge_cases_match_torch(name, pad_mode):
    """The issue's edge cases, each with every padding mode (where it applies)."""
    x_shape, w_shape, params = EDGE_CASES[name]
    pad = params.get("pad", 0)
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    if pad_mode == "reflect" and (ph >= x_shape[2] or pw >= x_shape[3]):
        pytest.skip("reflect needs pad < size")
    x, w, b = random_case(7, x_shape, w_shape)
    check_conv2d(x, w, b, 7, pad_mode=pad_mode, **{"stride": 1, "pad": 0,
                                                   "dilation": 1, **params})


def test_conv2d_keeps_float32_and_matches_torch_in_float32():
    """float32 in, float32 out (the benchmark's dtype), close to torch in float32."""
    x, w, b = (a.astype(np.float32) for a in random_case(3, (4, 3, 9, 9), (5, 3, 3, 3)))
    out, cache = ops.conv2d_forward(x, w, b, stride=2, pad=1)
    dx, dw, db = ops.conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dw.dtype == db.dtype == np.float32
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                   stride=2, padding=1)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pad_mode", MODES)
def test_conv2d_blocks_do_not_change_the_result(monkeypatch, pad_mode):
    """The fast path cuts the batch into cache-sized blocks and reuses its buffers;
    one image per block, two per block (a short last block) and the whole batch in
    one block give the same numbers, forward and backward."""
    x, w, b = random_case(5, (5, 3, 9, 8), (4, 3, 3, 2))
    dout = rng_for(5).standard_normal((5, 4, 5, 5))
    results = []
    monkeypatch.setattr(conv_module, "_MIN_COLUMNS", 1)
    # an image's lowered matrix: padded rows * WW * C rows, W' columns
    per_image = (9 + 2) * 2 * 3 * 5
    for elements in (1, 2 * per_image, 1 << 30):
        monkeypatch.setattr(conv_module, "_BLOCK_ELEMENTS", elements)
        out, cache = ops.conv2d_forward(x, w, b, stride=(2, 2), pad=(1, 1),
                                        pad_mode=pad_mode)
        results.append((out, *ops.conv2d_backward(dout, cache)))
    for blocked in results[:2]:
        for one, other in zip(blocked, results[2]):
            assert_close(one, other)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("params", [
    dict(stride=1, pad=0, dilation=1, pad_mode="zeros"),
    dict(stride=(2, 1), pad=0, dilation=(2, 3), pad_mode="zeros"),
    dict(stride=2, pad=(2, 1), dilation=(3, 1), pad_mode="zeros"),
    dict(stride=1, pad=1, dilation=2, pad_mode="reflect"),
])
def test_scratch_left_by_an_earlier_call_does_not_leak(monkeypatch, params, dtype):
    """The fast path keeps its lowered matrix and output rows in per-thread scratch
    buffers between calls, and zeroes the padding only when another user had the
    buffer. Filled with NaN by another user between calls, and cut into blocks with
    a short last one, they change no number, forward or backward."""
    monkeypatch.setattr(conv_module, "_MIN_COLUMNS", 1)
    monkeypatch.setattr(conv_module, "_BLOCK_ELEMENTS", 1)  # one image per block...
    x, w, b = random_case(9, (3, 2, 11, 10), (3, 2, 3, 2))
    x, w, b = (a.astype(dtype) for a in (x, w, b))
    expected, cache = ops.conv2d_forward_naive(x, w, b, **params)
    dout = rng_for(9).standard_normal(expected.shape).astype(dtype)
    want = ops.conv2d_backward_naive(dout, cache)
    geo = conv_module._conv_geometry(x, w, params["stride"], params["pad"],
                                     params["dilation"], params["pad_mode"])
    per_image = (geo.dilation[0] * conv_module._lowered_rows(geo)[0] * geo.WW * geo.C
                 * geo.W_out)
    for elements in (1, 2 * per_image):  # ... then two and a short last one
        monkeypatch.setattr(conv_module, "_BLOCK_ELEMENTS", elements)
        ops.conv2d_forward_fast(x, w, b, **params)
        for name in ("lowered", "rows"):  # another user of the buffers
            size = getattr(conv_module._SCRATCH, name).size
            conv_module._scratch(name, size, np.dtype(dtype))[0].fill(np.nan)
        out, cache = ops.conv2d_forward_fast(x, w, b, **params)
        assert_close(out, expected, rtol=1e-4 if dtype == np.float32 else 1e-7)
        for name in ("lowered", "rows", "by_rows"):
            size = getattr(conv_module._SCRATCH, name).size
            conv_module._scratch(name, size, np.dtype(dtype))[0].fill(np.nan)
        for got, ref in zip(ops.conv2d_backward_fast(dout, cache), want):
            assert_close(got, ref, rtol=1e-4 if dtype == np.float32 else 1e-7)


def test_public_names_are_the_fast_versions():
    """conv2d_forward is the fast one, as the contract says."""
    assert ops.conv2d_forward is ops.conv2d_forward_fast
    assert ops.conv2d_backward is ops.conv2d_backward_fast
    assert ops.conv1d_forward is ops.conv1d_forward_fast
    assert ops.conv_transpose2d_forward is ops.conv_transpose2d_forward_fast


@FEW
@given(case=conv_cases())
def test_conv2d_backward_passes_gradcheck(case):
    """A second opinion: central differences agree with conv2d_backward."""
    x, w, b = random_case(case["seed"], case["x_shape"], case["w_shape"])
    params = {k: case[k] for k in ("stride", "pad", "dilation", "pad_mode")}
    out, cache = ops.conv2d_forward(x, w, b, **params)
    dout = rng_for(case["seed"] + 1).standard_normal(out.shape)
    dx, dw, db = ops.conv2d_backward(dout, cache)
    error = ops.gradcheck(lambda x, w, b: ops.conv2d_forward(x, w, b, **params)[0],
                          [x, w, b], [dx, dw, db], dout)
    assert error < 1e-7


# --------------------------------------------------------------------------- conv1d


@ORACLE
@given(N=st.integers(1, 3), C=st.integers(1, 3), F_=st.integers(1, 3),
       K=st.integers(1, 4), stride=st.integers(1, 3), pad=st.integers(0, 2),
       dilation=st.integers(1, 3), L_out=st.integers(1, 5),
       pad_mode=st.sampled_from(MODES), seed=st.integers(0, 2**31))
def test_conv1d_matches_torch(N, C, F_, K, stride, pad, dilation, L_out, pad_mode,
                              seed):
    """conv1d (naive and fast) equals F.conv1d with padding modes, with gradients."""
    L = (L_out - 1) * stride + dilation * (K - 1) + 1 - 2 * pad
    assume(L >= 1 and (pad_mode != "reflect" or pad < L))
    x, w, b = random_case(seed, (N, C, L), (F_, C, K))
    xt, wt, bt = tensor(x), tensor(w), tensor(b)
    xp = xt if pad_mode == "zeros" else F.pad(xt, (pad, pad), mode=TORCH_PAD[pad_mode])
    ref = F.conv1d(xp, wt, bt, stride=stride, dilation=dilation,
                   padding=pad if pad_mode == "zeros" else 0)
    dout = rng_for(seed + 1).standard_normal(ref.shape)
    ref.backward(torch.from_numpy(dout))
    params = dict(stride=stride, pad=pad, dilation=dilation, pad_mode=pad_mode)
    for forward, backward in ((ops.conv1d_forward_fast, ops.conv1d_backward_fast),
                              (ops.conv1d_forward_naive, ops.conv1d_backward_naive)):
        out, cache = forward(x, w, b, **params)
        assert_close(out, ref, what="conv1d out")
        for mine, theirs in zip(backward(dout, cache), (xt.grad, wt.grad, bt.grad)):
            assert_close(mine, theirs, what="conv1d grad")


def test_conv1d_backward_passes_gradcheck():
    """Central differences agree with conv1d_backward (stride, dilation, reflect)."""
    x, w, b = random_case(11, (2, 2, 9), (3, 2, 3))
    params = dict(stride=2, pad=1, dilation=2, pad_mode="reflect")
    out, cache = ops.conv1d_forward(x, w, b, **params)
    dout = rng_for(12).standard_normal(out.shape)
    grads = ops.conv1d_backward(dout, cache)
    assert ops.gradcheck(lambda x, w, b: ops.conv1d_forward(x, w, b, **params)[0],
                         [x, w, b], list(grads), dout) < 1e-7


# --------------------------------------------------------------------------- transposed


@ORACLE
@given(N=st.integers(1, 3), C=st.integers(1, 3), F_=st.integers(1, 3),
       H=st.integers(1, 4), W=st.integers(1, 4), HH=st.integers(1, 4),
       WW=st.integers(1, 4), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       pad=st.tuples(st.integers(0, 2), st.integers(0, 2)), seed=st.integers(0, 2**31))
def test_conv_transpose2d_matches_torch(N, C, F_, H, W, HH, WW, stride, pad, seed):
    """Transposed conv (naive and fast) equals F.conv_transpose2d, with gradients."""
    assume((H - 1) * stride[0] - 2 * pad[0] + HH >= 1)
    assume((W - 1) * stride[1] - 2 * pad[1] + WW >= 1)
    rng = rng_for(seed)
    x, w, b = (rng.standard_normal((N, C, H, W)), rng.standard_normal((C, F_, HH, WW)),
               rng.standard_normal(F_))
    xt, wt, bt = tensor(x), tensor(w), tensor(b)
    ref = F.conv_transpose2d(xt, wt, bt, stride=stride, padding=pad)
    dout = rng.standard_normal(ref.shape)
    ref.backward(torch.from_numpy(dout))
    for forward, backward in (
        (ops.conv_transpose2d_forward_fast, ops.conv_transpose2d_backward_fast),
        (ops.conv_transpose2d_forward_naive, ops.conv_transpose2d_backward_naive),
    ):
        out, cache = forward(x, w, b, stride=stride, pad=pad)
        assert_close(out, ref, what=f"{forward.__name__}")
        for mine, theirs in zip(backward(dout, cache), (xt.grad, wt.grad, bt.grad)):
            assert_close(mine, theirs, what=f"{backward.__name__}")


def test_conv_transpose2d_backward_passes_gradcheck():
    """Central differences agree with conv_transpose2d_backward."""
    rng = rng_for(21)
    x, w, b = (rng.standard_normal((2, 2, 3, 2)), rng.standard_normal((2, 3, 3, 2)),
               rng.standard_normal(3))
    params = dict(stride=(2, 3), pad=(1, 0))
    out, cache = ops.conv_transpose2d_forward(x, w, b, **params)
    dout = rng.standard_normal(out.shape)
    grads = ops.conv_transpose2d_backward(dout, cache)
    error = ops.gradcheck(
        lambda x, w, b: ops.conv_transpose2d_forward(x, w, b, **params)[0],
        [x, w, b], list(grads), dout)
    assert error < 1e-7


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv2d(x), y> = <x, conv_transpose2d(y)> for the same w: the reason for the
    name, and what lets U-Net's up-convolutions learn."""
    rng = rng_for(31)
    x, w = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3))
    y = rng.standard_normal((2, 4, 4, 4))
    conv = ops.conv2d_forward(x, w, np.zeros(4), stride=2, pad=1)[0]
    up = ops.conv_transpose2d_forward(y, w, np.zeros(3), stride=2, pad=1)[0]
    assert np.isclose(np.sum(conv * y), np.sum(x * up), rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_pad2d_backward_passes_gradcheck(mode):
    """Central differences agree with pad2d_backward for every mode."""
    x = rng_for(41).standard_normal((2, 2, 4, 5))
    pads = (2, 1, 3, 0)  # left, right, top, bottom
    dout = rng_for(42).standard_normal(ops.pad2d(x, pads, mode).shape)
    dx = ops.pad2d_backward(dout, pads, mode)
    assert ops.gradcheck(lambda x: ops.pad2d(x, pads, mode), [x], [dx], dout) < 1e-8
