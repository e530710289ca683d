"""Assignment 01_convolution: its checks, points and rules (instructor side: never released).

References come from torch in float64; the hidden cases draw random shapes, odd sizes,
N = 1 and C = 1 included, and never reuse an input that students see.
"""

import numpy as np
import torch
import torch.nn.functional as F

from cnn_course.course.spec import SOLUTION, Assignment, Example, Limits, Part, Test, call

W2 = np.array([[1, 0], [0, -1]])
SOBEL_X = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
SOBEL_Y = SOBEL_X.T.copy()
TORCH_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}


def _conv(x, w, b=None, **params):
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                   None if b is None else torch.from_numpy(b), **params)
    return out.numpy()


def _sobel(image):
    t = torch.from_numpy(image)[None, None]
    gx = F.conv2d(t, torch.from_numpy(SOBEL_X)[None, None])
    gy = F.conv2d(t, torch.from_numpy(SOBEL_Y)[None, None])
    return torch.sqrt(gx**2 + gy**2)[0, 0].numpy()


# --- part 1: correlate2d ----------------------------------------------------------

def correlate2d_visible(rng):
    A = np.array([[3, 1, 4], [1, 5, 9], [2, 6, 5]])
    B = np.array([[1, 2, -1, 0, 1], [-1, 1, 3, 4, 4], [2, -3, 4, 3, -4],
                  [-3, 2, 0, -1, 0], [5, 2, -4, 0, 1]])
    yield call("correlate2d", A, W2, expect=[[-2, -8], [-5, 0]],
               label="the lecture's 3x3 example",
               hint="out[i, j] = sum(image[i:i+2, j:j+2] * kernel); do not flip the kernel")
    yield call("correlate2d", B, W2,
               expect=[[0, -1, -5, -4], [2, -3, 0, 8], [0, -3, 5, 3], [-5, 6, 0, -2]],
               label="the lecture's 5x5 example",
               hint="check the last row and column: does your loop reach them?")
    yield call("correlate2d", np.ones((4, 6)), np.ones((3, 2)), expect=np.zeros((2, 5)),
               shape_only=True, label="a 4x6 image, a 3x2 kernel",
               hint="the output is (H - HH + 1, W - WW + 1): rows and columns may differ")


def correlate2d_hidden(rng):
    for _ in range(12):
        H, W = (int(v) for v in rng.integers(1, 12, size=2))
        HH, WW = int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1))
        image, kernel = rng.normal(size=(H, W)), rng.normal(size=(HH, WW))
        yield call("correlate2d", image, kernel,
                   expect=_conv(image[None, None], kernel[None, None])[0, 0],
                   label=f"a random {H}x{W} image, a {HH}x{WW} kernel")


# --- part 2: pad2d ----------------------------------------------------------------

def pad2d_visible(rng):
    x = np.tile(np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 1, 4), (1, 1, 4, 1))
    rows = {"zeros": ([0, 0, 1, 2, 3, 4, 0, 0], "the border is 0, the image in the middle"),
            "reflect": ([3, 2, 1, 2, 3, 4, 3, 2], "reflect mirrors without repeating the "
                        "edge pixel"),
            "replicate": ([1, 1, 1, 2, 3, 4, 4, 4], "replicate repeats the edge pixel")}
    for mode, (row, hint) in rows.items():
        yield call("pad2d", x, 2, mode, expect=np.zeros((1, 1, 8, 8)), shape_only=True,
                   label=f"mode={mode!r}", hint="pad both sides of H and W by `pad`")
        yield call("pad2d", x, 2, mode, expect=row, index=(0, 0, 2),
                   label=f"mode={mode!r}, row 2 of [1, 2, 3, 4] rows", hint=hint)
    yield call("pad2d", np.ones((2, 3, 5, 6)), 1, expect=np.zeros((2, 3, 7, 8)),
               shape_only=True, label="N=2, C=3", hint="N and C stay; only H and W grow")
    yield call("pad2d", x, 1, "circular", raises="ValueError", label="mode='circular'",
               hint="an unknown mode should raise ValueError")


def _pad_hidden(mode):
    def cases(rng):
        for _ in range(8):
            N, C = (int(v) for v in rng.integers(1, 4, size=2))
            H, W = (int(v) for v in rng.integers(2, 9, size=2))
            pad = int(rng.integers(0, min(H, W)))  # torch's reflect needs pad < H, W
            x = rng.normal(size=(N, C, H, W))
            ref = F.pad(torch.from_numpy(x), (pad,) * 4, mode=TORCH_PAD[mode]).numpy()
            yield call("pad2d", x, pad, mode, expect=ref,
                       label=f"x {x.shape}, pad={pad}, mode={mode!r}")
    return cases


# --- part 3: conv_output_size -----------------------------------------------------

def output_size_visible(rng):
    known = {(7, 3, 1, 0): 5, (7, 3, 2, 0): 3, (32, 5, 1, 0): 28, (32, 5, 1, 2): 32,
             (5, 3, 2, 1): 3}
    for (M, K, S, P), size in known.items():
        yield call("conv_output_size", M, K, kwargs={"stride": S, "pad": P}, expect=size,
                   exact_type="int", label=f"M={M}, K={K}, stride={S}, pad={P}",
                   hint="(M - K + 2P)/S + 1, returned as an int")
    yield call("conv_output_size", 7, 3, kwargs={"stride": 3}, raises="ValueError",
               label="M=7, K=3, stride=3", hint="(7 - 3)/3 + 1 = 2.33 is not an integer")


def output_size_hidden(rng):
    for _ in range(40):
        M, K = int(rng.integers(1, 16)), int(rng.integers(1, 6))
        S, P, D = int(rng.integers(1, 4)), int(rng.integers(0, 3)), int(rng.integers(1, 3))
        numerator = M + 2 * P - D * (K - 1) - 1
        params = {"stride": S, "pad": P, "dilation": D}
        label = f"M={M} K={K} S={S} P={P} D={D}"
        if numerator >= 0 and numerator % S == 0:
            yield call("conv_output_size", M, K, kwargs=params, expect=numerator // S + 1,
                       exact_type="int", label=label)
        else:
            yield call("conv_output_size", M, K, kwargs=params, raises="ValueError",
                       label=label + " (does not fit)")


# --- part 4: conv2d_forward -------------------------------------------------------

def _shape_hints(x, w, params):
    """Wrong shapes that point at a forgotten parameter."""
    hints = {}
    for name, neutral, question in (("pad", 0, "did you apply the padding?"),
                                    ("stride", 1, "did you apply the stride?"),
                                    ("dilation", 1, "did you apply the dilation?")):
        if params.get(name, neutral) != neutral:
            changed = {**params, name: neutral}
            try:
                hints[_conv(x, w, **_torch_params(changed)).shape] = question
            except RuntimeError:
                pass
    return hints


def _torch_params(params):
    return {"padding" if k == "pad" else k: v for k, v in params.items()}


def conv2d_shapes_visible(rng):
    x, w, b = rng.normal(size=(2, 3, 7, 7)), rng.normal(size=(4, 3, 3, 3)), np.zeros(4)
    for params in ({}, {"pad": 1}, {"stride": 2}, {"dilation": 2}, {"stride": 2, "pad": 1}):
        shape = _conv(x, w, b, **_torch_params(params)).shape
        yield call("conv2d_forward", x, w, b, kwargs=params, expect=np.zeros(shape),
                   shape_only=True, label=f"x (2, 3, 7, 7), w (4, 3, 3, 3), {params}",
                   shape_hints=_shape_hints(x, w, params),
                   hint="the output is (N, F, H', W') with "
                        "H' = (H + 2*pad - dilation*(HH - 1) - 1) / stride + 1")


def conv2d_values_visible(rng):
    x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    ones = np.ones((1, 1, 2, 2))
    yield call("conv2d_forward", x, ones, np.array([0.0]),
               expect=[[[[10, 14, 18], [26, 30, 34], [42, 46, 50]]]],
               label="a 4x4 ramp, a 2x2 box", hint="each output is the sum of a 2x2 window")
    yield call("conv2d_forward", x, ones, np.array([1.5]), kwargs={"stride": 2},
               expect=[[[[11.5, 19.5], [43.5, 51.5]]]], label="stride 2, bias 1.5",
               hint="stride 2 skips every other window; the bias is added once")
    x2 = np.stack([x[0, 0], -x[0, 0]])[None]
    yield call("conv2d_forward", x2, np.ones((1, 2, 2, 2)), np.zeros(1),
               expect=np.zeros((1, 1, 3, 3)), label="two channels that cancel",
               hint="sum over input channels")


def _conv_hidden(draw):
    def cases(rng):
        made = 0
        while made < 6:
            N, C, F_out = (int(v) for v in rng.integers(1, 4, size=3))
            H, W = (int(v) for v in rng.integers(3, 10, size=2))
            HH, WW = (int(v) for v in rng.integers(1, 4, size=2))
            p = draw(rng)
            h = (H + 2 * p["pad"] - p["dilation"] * (HH - 1) - 1) / p["stride"] + 1
            w_ = (W + 2 * p["pad"] - p["dilation"] * (WW - 1) - 1) / p["stride"] + 1
            if h < 1 or w_ < 1 or h % 1 or w_ % 1:
                continue
            made += 1
            x, w = rng.normal(size=(N, C, H, W)), rng.normal(size=(F_out, C, HH, WW))
            b = rng.normal(size=F_out)
            yield call("conv2d_forward", x, w, b, kwargs=p,
                       expect=_conv(x, w, b, **_torch_params(p)),
                       label=f"x {x.shape}, w {w.shape}, {p}")
    return cases


# --- part 5: sobel_edges ----------------------------------------------------------

def sobel_visible(rng):
    step = np.zeros((6, 6))
    step[:, 3:] = 1.0
    yield call("sobel_edges", step, expect=np.zeros((4, 4)), shape_only=True,
               label="a 6x6 step edge", hint="a valid 3x3 correlation loses a pixel per side")
    yield call("sobel_edges", step, expect=[0, 0, 0, 0], index=(slice(None), 0),
               label="far from the step", hint="far from the step there is no edge")
    yield call("sobel_edges", step, expect=[4, 4, 4, 4], index=(slice(None), 1),
               label="next to the step", hint="|Lx| sums to 4 across a unit step")


def sobel_hidden(rng):
    """Random smooth images (never the photo students see)."""
    for size in (9, 17, 33):
        noise = rng.random((size + 4, size + 4))
        smooth = _conv(noise[None, None], np.full((1, 1, 5, 5), 1 / 25))[0, 0]
        yield call("sobel_edges", smooth, expect=_sobel(smooth),
                   label=f"a random smooth {size}x{size} image",
                   hint="edges = sqrt(gx**2 + gy**2) with gx, gy from correlate2d")


SPEC = Assignment(
    name="01_convolution",
    title="convolution by hand",
    lectures=("03_convolution", "04_conv_layer"),
    allow=("numpy", "matplotlib"),
    forbid=("torch", "scipy", "skimage", "sklearn", "cv2", "cnn_course", "numpy.pad",
            "numpy.correlate", "numpy.convolve"),
    rtol=1e-5,
    atol=1e-5,
    tolerance_note="float32 results are fine",
    limits=Limits(call_cpu=10, cell_cpu=10),
    seed=20261122,
    parts=[
        Part("correlate2d", "`correlate2d`: 2-D cross-correlation", ("correlate2d",), [
            Test("correlate2d_visible", 1, "correlate2d reproduces the lecture's worked "
                 "examples.", correlate2d_visible),
            Test("correlate2d_hidden", 2, "correlate2d matches torch on random shapes.",
                 correlate2d_hidden, hidden=True),
        ]),
        Part("pad2d", "`pad2d`: zero, reflect and replicate padding", ("pad2d",), [
            Test("pad2d_visible", 1, "pad2d: shapes and a small example for each mode.",
                 pad2d_visible),
            *[Test(f"pad2d_{mode}_hidden", 1, f"pad2d mode={mode!r} matches torch on "
                   "random shapes.", _pad_hidden(mode), hidden=True)
              for mode in ("zeros", "reflect", "replicate")],
        ]),
        Part("conv_output_size", "`conv_output_size`: the output-size formula",
             ("conv_output_size",), [
            Test("conv_output_size_visible", 1, "conv_output_size: the lecture's examples, "
                 "and an error when the kernel does not fit.", output_size_visible),
            Test("conv_output_size_hidden", 1, "conv_output_size agrees with torch's "
                 "conv2d, dilation and misfits included.", output_size_hidden, hidden=True),
        ]),
        Part("conv2d_forward", "`conv2d_forward`: a convolution layer with bias, stride, "
             "padding and dilation", ("conv2d_forward",), [
            Test("conv2d_shapes_visible", 1, "conv2d_forward: output shapes, with a hint "
                 "about the parameter that went missing.", conv2d_shapes_visible),
            Test("conv2d_values_visible", 1, "conv2d_forward: values on small cases you can "
                 "check by hand.", conv2d_values_visible),
            Test("conv2d_basic_hidden", 1, "conv2d_forward matches torch (no padding, "
                 "stride 1) on random shapes.",
                 _conv_hidden(lambda rng: {"stride": 1, "pad": 0, "dilation": 1}),
                 hidden=True),
            Test("conv2d_stride_pad_hidden", 1, "conv2d_forward matches torch (padding and "
                 "stride) on random shapes.",
                 _conv_hidden(lambda rng: {"stride": int(rng.integers(1, 4)),
                                           "pad": int(rng.integers(0, 3)), "dilation": 1}),
                 hidden=True),
            Test("conv2d_dilation_hidden", 1, "conv2d_forward matches torch (dilation with "
                 "stride and padding) on random shapes.",
                 _conv_hidden(lambda rng: {"stride": int(rng.integers(1, 3)),
                                           "pad": int(rng.integers(0, 3)),
                                           "dilation": int(rng.integers(2, 4))}),
                 hidden=True),
        ]),
        Part("sobel_edges", "`sobel_edges`: edge detection on a real photo",
             ("sobel_edges",), [
            Test("sobel_visible", 1, "sobel_edges: shape and a vertical step edge.",
                 sobel_visible),
            Test("sobel_hidden", 1, "sobel_edges matches torch on random smooth images.",
                 sobel_hidden, hidden=True),
        ]),
    ],
)

_PAD_ZEROS_ONLY = '''def pad2d(x, pad, mode="zeros"):
    """Pad the last two axes of x: (N, C, H, W) -> (N, C, H + 2*pad, W + 2*pad)."""
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    out[:, :, pad : pad + H, pad : pad + W] = x
    if mode != "zeros":
        raise NotImplementedError("only zero padding so far")
    return out
'''

_PAD_WITH_NUMPY = '''def pad2d(x, pad, mode="zeros"):
    """Pad the last two axes of x with np.pad (not allowed here)."""
    modes = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}
    if mode not in modes:
        raise ValueError(f"unknown mode {mode!r}")
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode=modes[mode])
'''

_CORRELATE_WITH_SCIPY = '''from scipy.signal import correlate2d as _scipy_correlate2d


def correlate2d(image, kernel):
    """Valid 2-D cross-correlation, by scipy (not allowed here)."""
    return _scipy_correlate2d(image, kernel, mode="valid")
'''

_CORRELATE_WITH_NP_CONVOLVE = '''def correlate2d(image, kernel):
    """Valid 2-D cross-correlation as a sum of 1-D convolutions (not allowed here)."""
    image, kernel = np.asarray(image, float), np.asarray(kernel, float)
    HH = kernel.shape[0]
    return np.array([sum(np.convolve(image[i + p], kernel[p][::-1], mode="valid")
                         for p in range(HH))
                     for i in range(image.shape[0] - HH + 1)])
'''

_CORRELATE_WITH_NP_CORRELATE = '''def correlate2d(image, kernel):
    """Valid 2-D cross-correlation, row by row with np.correlate (not allowed here)."""
    image, kernel = np.asarray(image, float), np.asarray(kernel, float)
    HH = kernel.shape[0]
    rows = []
    for i in range(image.shape[0] - HH + 1):
        rows.append(sum(np.correlate(image[i + p], kernel[p], mode="valid")
                        for p in range(HH)))
    return np.array(rows)
'''

SPEC.examples = [
    Example("full_solution", "every part right: full marks", 16),
    Example("blank", "the release as handed out: 0", 0, answers={}),
    Example("partly_correct", "parts 1, 3 and 5, zero padding only: partial credit", 8,
            answers={"correlate2d": SOLUTION, "conv_output_size": SOLUTION,
                     "sobel_edges": SOLUTION, "pad2d": _PAD_ZEROS_ONLY}),
    Example("raises_at_import", "an import that fails in the pad2d cell: pad2d and the "
            "conv layer are lost", 7,
            answers={"correlate2d": SOLUTION, "conv_output_size": SOLUTION,
                     "conv2d_forward": SOLUTION, "sobel_edges": SOLUTION,
                     "pad2d": "import cv2  # not installed on the grader\n\n<pad2d>"},
            reason="ModuleNotFoundError"),
    Example("infinite_loop", "`while True` before correlate2d: the cell is stopped after "
            "its CPU limit, correlate2d and Sobel are lost", 11,
            answers={"pad2d": SOLUTION, "conv_output_size": SOLUTION,
                     "conv2d_forward": SOLUTION, "sobel_edges": SOLUTION,
                     "correlate2d": "while True:\n    pass\n\n<correlate2d>"},
            reason="timeout"),
    Example("edited_test_cell", "conv layer and Sobel blank, their test cells replaced by "
            "`pass`: the tests are restored", 9,
            answers={"correlate2d": SOLUTION, "pad2d": SOLUTION,
                     "conv_output_size": SOLUTION},
            tests={t.id: "pass  # nothing to test here" for t in SPEC.tests
                   if t.id.startswith(("conv2d_", "sobel_"))}),
    Example("uses_np_pad", "pad2d by np.pad: the padding part and the conv layer that "
            "uses it earn nothing", 7,
            answers={"correlate2d": SOLUTION, "conv_output_size": SOLUTION,
                     "conv2d_forward": SOLUTION, "sobel_edges": SOLUTION,
                     "pad2d": _PAD_WITH_NUMPY},
            reason="numpy.pad"),
    Example("uses_scipy", "correlate2d by scipy: part 1 and Sobel earn nothing", 11,
            answers={"pad2d": SOLUTION, "conv_output_size": SOLUTION,
                     "conv2d_forward": SOLUTION, "sobel_edges": SOLUTION,
                     "correlate2d": _CORRELATE_WITH_SCIPY},
            reason="scipy"),
    Example("uses_np_correlate", "correlate2d from np.correlate: part 1 and Sobel earn "
            "nothing", 11,
            answers={"pad2d": SOLUTION, "conv_output_size": SOLUTION,
                     "conv2d_forward": SOLUTION, "sobel_edges": SOLUTION,
                     "correlate2d": _CORRELATE_WITH_NP_CORRELATE},
            reason="numpy.correlate"),
    Example("uses_np_convolve", "correlate2d from np.convolve: part 1 and Sobel earn "
            "nothing", 11,
            answers={"pad2d": SOLUTION, "conv_output_size": SOLUTION,
                     "conv2d_forward": SOLUTION, "sobel_edges": SOLUTION,
                     "correlate2d": _CORRELATE_WITH_NP_CONVOLVE},
            reason="numpy.convolve"),
]
