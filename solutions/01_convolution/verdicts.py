"""Trusted checks of assignment 01_convolution (instructor side: never released).

One group of cases per test cell of ``01_convolution.ipynb``: the same checks, on the
grader's own inputs, with references computed here by torch. The grader runs the
student's functions on these inputs in a sandbox without torch, scipy, cnn_course or
``numpy.pad``, and a cell earns its points when
every one of its cases matches. Keep this file in step with the test cells.
"""

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data

from cnn_course.course.grading.verdicts import Case, Raises

W2 = np.array([[1, 0], [0, -1]])
SOBEL_X = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
SOBEL_Y = SOBEL_X.T.copy()


def _conv(x, w, b=None, **params):
    t = F.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                 None if b is None else torch.from_numpy(b), **params)
    return t.numpy()


def _correlate2d_cases(rng):
    A = np.array([[3, 1, 4], [1, 5, 9], [2, 6, 5]])
    B = np.array([[1, 2, -1, 0, 1], [-1, 1, 3, 4, 4], [2, -3, 4, 3, -4],
                  [-3, 2, 0, -1, 0], [5, 2, -4, 0, 1]])
    yield Case("correlate2d_visible", "correlate2d", (A, W2), expect=[[-2, -8], [-5, 0]])
    yield Case("correlate2d_visible", "correlate2d", (B, W2),
               expect=[[0, -1, -5, -4], [2, -3, 0, 8], [0, -3, 5, 3], [-5, 6, 0, -2]])
    yield Case("correlate2d_visible", "correlate2d", (np.ones((4, 6)), np.ones((3, 2))),
               expect=np.zeros((2, 5)), shape_only=True)
    for _ in range(12):
        H, W = (int(v) for v in rng.integers(1, 12, size=2))
        HH, WW = int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1))
        image, kernel = rng.normal(size=(H, W)), rng.normal(size=(HH, WW))
        yield Case("correlate2d_hidden", "correlate2d", (image, kernel),
                   expect=_conv(image[None, None], kernel[None, None])[0, 0])


def _pad2d_cases(rng):
    x = np.tile(np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 1, 4), (1, 1, 4, 1))
    rows = {"zeros": [0, 0, 1, 2, 3, 4, 0, 0], "reflect": [3, 2, 1, 2, 3, 4, 3, 2],
            "replicate": [1, 1, 1, 2, 3, 4, 4, 4]}
    for mode, row in rows.items():
        yield Case("pad2d_visible", "pad2d", (x, 2, mode), expect=np.zeros((1, 1, 8, 8)),
                   shape_only=True)
        yield Case("pad2d_visible", "pad2d", (x, 2, mode), expect=row, index=(0, 0, 2))
    yield Case("pad2d_visible", "pad2d", (np.ones((2, 3, 5, 6)), 1),
               expect=np.zeros((2, 3, 7, 8)), shape_only=True)
    yield Case("pad2d_visible", "pad2d", (x, 1, "circular"), expect=Raises("ValueError"))
    torch_modes = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}
    for mode, torch_mode in torch_modes.items():
        for _ in range(8):
            N, C = (int(v) for v in rng.integers(1, 4, size=2))
            H, W = (int(v) for v in rng.integers(2, 9, size=2))
            pad = int(rng.integers(0, min(H, W)))
            x = rng.normal(size=(N, C, H, W))
            ref = F.pad(torch.from_numpy(x), (pad,) * 4, mode=torch_mode).numpy()
            yield Case(f"pad2d_{mode}_hidden", "pad2d", (x, pad, mode), expect=ref,
                       )


def _output_size_cases(rng):
    known = {(7, 3, 1, 0): 5, (7, 3, 2, 0): 3, (32, 5, 1, 0): 28, (32, 5, 1, 2): 32,
             (5, 3, 2, 1): 3}
    for (M, K, S, P), size in known.items():
        yield Case("conv_output_size_visible", "conv_output_size", (M, K),
                   {"stride": S, "pad": P}, expect=size, exact_type="int")
    yield Case("conv_output_size_visible", "conv_output_size", (7, 3), expect=5,
               exact_type="int")
    yield Case("conv_output_size_visible", "conv_output_size", (7, 3), {"stride": 3},
               expect=Raises("ValueError"))
    for _ in range(40):
        M, K = int(rng.integers(1, 16)), int(rng.integers(1, 6))
        S, P, D = int(rng.integers(1, 4)), int(rng.integers(0, 3)), int(rng.integers(1, 3))
        numerator = M + 2 * P - D * (K - 1) - 1
        params = {"stride": S, "pad": P, "dilation": D}
        if numerator >= 0 and numerator % S == 0:
            yield Case("conv_output_size_hidden", "conv_output_size", (M, K), params,
                       expect=numerator // S + 1)
        else:
            yield Case("conv_output_size_hidden", "conv_output_size", (M, K), params,
                       expect=Raises("ValueError"))


def _conv2d_cases(rng):
    x, w, b = rng.normal(size=(2, 3, 7, 7)), rng.normal(size=(4, 3, 3, 3)), np.zeros(4)
    for params in ({}, {"pad": 1}, {"stride": 2}, {"dilation": 2}, {"stride": 2, "pad": 1}):
        shape = _conv(x, w, b, **{"padding" if k == "pad" else k: v
                                  for k, v in params.items()}).shape
        yield Case("conv2d_shapes_visible", "conv2d_forward", (x, w, b), params,
                   expect=np.zeros(shape), shape_only=True)
    x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    ones = np.ones((1, 1, 2, 2))
    yield Case("conv2d_values_visible", "conv2d_forward", (x, ones, np.array([0.0])),
               expect=[[[[10, 14, 18], [26, 30, 34], [42, 46, 50]]]])
    yield Case("conv2d_values_visible", "conv2d_forward", (x, ones, np.array([1.5])),
               {"stride": 2}, expect=[[[[11.5, 19.5], [43.5, 51.5]]]])
    x2 = np.stack([x[0, 0], -x[0, 0]])[None]
    yield Case("conv2d_values_visible", "conv2d_forward",
               (x2, np.ones((1, 2, 2, 2)), np.zeros(1)), expect=np.zeros((1, 1, 3, 3)))
    draws = {
        "basic": lambda: {"stride": 1, "pad": 0, "dilation": 1},
        "stride_pad": lambda: {"stride": int(rng.integers(1, 4)),
                               "pad": int(rng.integers(0, 3)), "dilation": 1},
        "dilation": lambda: {"stride": int(rng.integers(1, 3)),
                             "pad": int(rng.integers(0, 3)),
                             "dilation": int(rng.integers(2, 4))},
    }
    for slug, draw in draws.items():
        made = 0
        while made < 6:
            N, C, F_out = (int(v) for v in rng.integers(1, 4, size=3))
            H, W = (int(v) for v in rng.integers(3, 10, size=2))
            HH, WW = (int(v) for v in rng.integers(1, 4, size=2))
            p = draw()
            h = (H + 2 * p["pad"] - p["dilation"] * (HH - 1) - 1) / p["stride"] + 1
            w_ = (W + 2 * p["pad"] - p["dilation"] * (WW - 1) - 1) / p["stride"] + 1
            if h < 1 or w_ < 1 or h % 1 or w_ % 1:
                continue
            made += 1
            x = rng.normal(size=(N, C, H, W))
            w = rng.normal(size=(F_out, C, HH, WW))
            b = rng.normal(size=F_out)
            ref = _conv(x, w, b, stride=p["stride"], padding=p["pad"], dilation=p["dilation"])
            yield Case(f"conv2d_{slug}_hidden", "conv2d_forward", (x, w, b), p, expect=ref)


def _sobel_cases():
    step = np.zeros((6, 6))
    step[:, 3:] = 1.0
    yield Case("sobel_visible", "sobel_edges", (step,), expect=np.zeros((4, 4)), shape_only=True)
    yield Case("sobel_visible", "sobel_edges", (step,), expect=[0, 0, 0, 0],
               index=(slice(None), 0))
    yield Case("sobel_visible", "sobel_edges", (step,), expect=[4, 4, 4, 4],
               index=(slice(None), 1))
    camera = data.camera()[::4, ::4].astype(float) / 255
    yield Case("sobel_visible", "sobel_edges", (camera,), expect=np.zeros((126, 126)),
               shape_only=True)
    t = torch.from_numpy(camera)[None, None]
    gx = F.conv2d(t, torch.from_numpy(SOBEL_X)[None, None])
    gy = F.conv2d(t, torch.from_numpy(SOBEL_Y)[None, None])
    yield Case("sobel_hidden", "sobel_edges", (camera,),
               expect=torch.sqrt(gx**2 + gy**2)[0, 0].numpy())


def cases():
    rng = np.random.default_rng(20261122)
    return [*_correlate2d_cases(rng), *_pad2d_cases(rng), *_output_size_cases(rng),
            *_conv2d_cases(rng), *_sobel_cases()]
