"""Assignment 01_convolution: honest answers in every style earn full marks, graded.

Students write loops, ``sliding_window_view`` with ``einsum``, im2col, ``as_strided``;
their answer cells import libraries (``from skimage import data``), validate inputs
with the course's own test helpers, print, display, use IPython magics, define helpers
and time their functions;
some return float32 where the text allows it. Each such submission must earn 16 of
16 with status ``graded`` through the whole pipeline: the notebook's own tests and the
grader's trusted check agree.
"""

import nbformat
import pytest

from cnn_course.course.grading.grade import grade
from cnn_course.course.spec.generate import solution_answers

A, NB = "01_convolution", "01_convolution.ipynb"

LOOPS = '''
def correlate2d(image, kernel):
    """Four loops, no numpy tricks."""
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    H, W = image.shape
    HH, WW = kernel.shape
    out = np.zeros((H - HH + 1, W - WW + 1))
    for i in range(H - HH + 1):
        for j in range(W - WW + 1):
            total = 0.0
            for p in range(HH):
                for q in range(WW):
                    total += image[i + p, j + q] * kernel[p, q]
            out[i, j] = total
    return out
'''
EINSUM = '''
from numpy.lib.stride_tricks import sliding_window_view

def correlate2d(image, kernel):
    windows = sliding_window_view(np.asarray(image, float), np.shape(kernel))  # (H', W', HH, WW)
    return np.einsum("ijpq,pq->ij", windows, np.asarray(kernel, float))

def conv2d_forward(x, w, b, stride=1, pad=0, dilation=1):
    xp = pad2d(x, pad)
    F_, C, HH, WW = w.shape
    span = (dilation * (HH - 1) + 1, dilation * (WW - 1) + 1)
    win = sliding_window_view(xp, span, axis=(2, 3))[:, :, ::stride, ::stride, ::dilation, ::dilation]
    return np.einsum("nchwpq,fcpq->nfhw", win, w) + b[None, :, None, None]
'''
IM2COL = '''
def conv2d_forward(x, w, b, stride=1, pad=0, dilation=1):
    """im2col: every window becomes a column, and the layer one matrix product."""
    N, C, H, W = x.shape
    F_, _, HH, WW = w.shape
    Ho = conv_output_size(H, HH, stride, pad, dilation)
    Wo = conv_output_size(W, WW, stride, pad, dilation)
    xp = pad2d(x, pad)
    cols = np.empty((N, C, HH, WW, Ho, Wo))
    for p in range(HH):
        for q in range(WW):
            r, c = p * dilation, q * dilation
            cols[:, :, p, q] = xp[:, :, r:r + stride * Ho:stride, c:c + stride * Wo:stride]
    out = w.reshape(F_, -1) @ cols.reshape(N, C * HH * WW, Ho * Wo)
    return out.reshape(N, F_, Ho, Wo) + b[None, :, None, None]
'''
AS_STRIDED = '''
from numpy.lib.stride_tricks import as_strided

def correlate2d(image, kernel):
    image = np.ascontiguousarray(image, dtype=float)
    kernel = np.asarray(kernel, dtype=float)
    H, W = image.shape
    HH, WW = kernel.shape
    s0, s1 = image.strides
    view = as_strided(image, shape=(H - HH + 1, W - WW + 1, HH, WW), strides=(s0, s1, s0, s1))
    return np.tensordot(view, kernel, axes=([2, 3], [0, 1]))
'''
WITH_IMPORTS = '''
from skimage import data  # the notebook shows the photo with it
import matplotlib.pyplot as plt
from cnn_course.course.testing import expect_shape

def _check_2d(a, name):
    expect_shape(a, np.shape(a), what=name)  # validate with the course's own helper
    if np.ndim(a) != 2:
        raise ValueError(f"{name} must be 2-D")

def correlate2d(image, kernel):
    image, kernel = np.asarray(image, float), np.asarray(kernel, float)
    _check_2d(image, "image"), _check_2d(kernel, "kernel")
    H, W = image.shape
    HH, WW = kernel.shape
    print("correlating", image.shape, "with", kernel.shape)
    out = np.zeros((H - HH + 1, W - WW + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (image[i:i + HH, j:j + WW] * kernel).sum()
    return out
'''
FLOAT32 = '''
def pad2d(x, pad, mode="zeros"):
    """Index arrays, and float32 out (the text allows it)."""
    x = np.asarray(x, dtype=np.float32)
    if mode not in ("zeros", "reflect", "replicate"):
        raise ValueError(f"unknown mode {mode!r}")
    N, C, H, W = x.shape
    if mode == "zeros":
        out = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=np.float32)
        out[:, :, pad:pad + H, pad:pad + W] = x
        return out
    def index(n):
        i = np.arange(-pad, n + pad)
        if mode == "replicate":
            return np.clip(i, 0, n - 1)
        i = np.abs(i)
        return np.where(i > n - 1, 2 * (n - 1) - i, i)
    return x[:, :, index(H)[:, None], index(W)[None, :]]

def sobel_edges(image):
    gx = correlate2d(image, SOBEL_X).astype(np.float32)
    gy = correlate2d(image, SOBEL_Y).astype(np.float32)
    return np.hypot(gx, gy)
'''
TIMED = '''
import time

def conv_output_size(size, kernel, stride=1, pad=0, dilation=1):
    span = dilation * (kernel - 1) + 1
    if (size + 2 * pad - span) < 0 or (size + 2 * pad - span) % stride:
        raise ValueError(f"({size} + 2*{pad} - {span})/{stride} + 1 is not a positive integer")
    return (size + 2 * pad - span) // stride + 1

# how fast is it? (a long benchmark: the grader stops the cell after its CPU limit,
# and what was defined above is kept)
started = time.process_time()
total = 0
while time.process_time() - started < 60:
    total += conv_output_size(1000, 3, 1, 1, 1)
print("done", total)
'''
HELPERS_OUTSIDE = '''
def _window(x, i, j, HH, WW, stride, dilation):
    top, left = i * stride, j * stride
    return x[:, :, top:top + dilation * (HH - 1) + 1:dilation,
             left:left + dilation * (WW - 1) + 1:dilation]

def conv2d_forward(x, w, b, stride=1, pad=0, dilation=1):
    N, C, H, W = x.shape
    F_, _, HH, WW = w.shape
    Ho = conv_output_size(H, HH, stride, pad, dilation)
    Wo = conv_output_size(W, WW, stride, pad, dilation)
    xp = pad2d(x, pad)
    out = np.zeros((N, F_, Ho, Wo))
    for n in range(N):
        for f in range(F_):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, f, i, j] = np.sum(_window(xp, i, j, HH, WW, stride, dilation)[n] * w[f]) + b[f]
    return out
'''

MAGICS_AND_DISPLAY = '''%matplotlib inline
from IPython.display import Markdown, display
from skimage import data

camera = data.camera()[::4, ::4].astype(float) / 255  # to look at the result below
display(Markdown("**Sobel**, my way"))

def sobel_edges(image):
    gx = correlate2d(image, SOBEL_X)
    gy = correlate2d(image, SOBEL_Y)
    return np.sqrt(gx * gx + gy * gy)

%time edges = sobel_edges(camera)
'''

STYLES = {
    "loops": {"correlate2d": LOOPS},
    "einsum": {"correlate2d": EINSUM.split("def conv2d_forward")[0],
               "conv2d_forward": "from numpy.lib.stride_tricks import sliding_window_view\n\n"
                                 "def conv2d_forward" + EINSUM.split("def conv2d_forward")[1]},
    "im2col": {"conv2d_forward": IM2COL},
    "as_strided": {"correlate2d": AS_STRIDED},
    "imports_helpers_prints": {"correlate2d": WITH_IMPORTS},
    "float32_index_arrays": {"pad2d": FLOAT32.split("def sobel_edges")[0],
                             "sobel_edges": "def sobel_edges" + FLOAT32.split("def sobel_edges")[1]},
    "timing_code": {"conv_output_size": TIMED},
    "loops_with_helpers": {"conv2d_forward": HELPERS_OUTSIDE},
    "magics_and_display": {"sobel_edges": MAGICS_AND_DISPLAY},
}


@pytest.mark.slow
def test_honest_answers_in_every_style_earn_full_marks_graded(layout, tmp_path):
    release = nbformat.read(layout.assignments / A / NB, as_version=4)
    solution = solution_answers(nbformat.read(layout.solutions / A / NB, as_version=4))
    for style, answers in STYLES.items():
        nb = nbformat.read(layout.assignments / A / NB, as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = answers.get(gid, solution[gid])
        (tmp_path / "subs" / style).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / style / NB)
    assert len(STYLES) >= 8 and release.cells
    rows = grade(layout, A, tmp_path / "subs", tmp_path / "g.csv", workspace=tmp_path / "ws",
                 progress=False, jobs=2, feedback=False, similarity=False,
                 log=lambda *a: None)
    results = {r.student_id: (r.score, r.status) for r in rows}
    assert results == {style: (16, "graded") for style in STYLES}, \
        {r.student_id: r.reason for r in rows if (r.score, r.status) != (16, "graded")}
