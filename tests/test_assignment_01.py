"""Assignment 01_convolution: the solution passes, shortcuts fail the hidden tests."""

import nbformat
import pytest

from notebook_helpers import run_with_answers

NB = "01_convolution.ipynb"

# Answers that get the numbers right by calling a library instead of writing the code.
SHORTCUTS = {
    "correlate2d": '''
import torch.nn.functional as F_
import torch as t_
def correlate2d(image, kernel):
    x = t_.as_tensor(np.asarray(image, dtype=float))[None, None]
    k = t_.as_tensor(np.asarray(kernel, dtype=float))[None, None]
    return F_.conv2d(x, k)[0, 0].numpy()
''',
    "pad2d": '''
def pad2d(x, pad, mode="zeros"):
    if mode not in ("zeros", "reflect", "replicate"):
        raise ValueError(mode)
    numpy_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}[mode]
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode=numpy_mode)
''',
    "conv2d_forward": '''
from cnn_course.ops import correlate2d as library_correlate2d
def conv2d_forward(x, w, b, stride=1, pad=0, dilation=1):
    xp = pad2d(x, pad)
    N, F, HH, WW = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    wd = np.zeros((F, w.shape[1], dilation * (HH - 1) + 1, dilation * (WW - 1) + 1))
    wd[:, :, ::dilation, ::dilation] = w
    full = np.array([[sum(library_correlate2d(xp[n, c], wd[f, c]) for c in range(x.shape[1]))
                      for f in range(F)] for n in range(N)])
    return full[:, :, ::stride, ::stride] + b[None, :, None, None]
''',
}


@pytest.fixture(scope="module")
def solution_path(layout):
    return layout.solutions / "01_convolution" / NB


def test_solution_passes_all_its_tests_visible_and_hidden(solution_path):
    results = run_with_answers(solution_path)
    failures = {gid: err for gid, err in results.items() if err}
    assert not failures
    nb = nbformat.read(solution_path, as_version=4)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) == 15
    assert sum(c.metadata.nbgrader.points for c in graded) == 16


def test_shortcuts_pass_visible_tests_but_fail_hidden_ones(solution_path):
    results = run_with_answers(solution_path, SHORTCUTS)
    for gid in ("correlate2d_visible", "pad2d_visible", "conv2d_shapes_visible",
                "conv2d_values_visible", "conv_output_size_visible", "sobel_visible"):
        assert results[gid] is None, f"{gid}: {results[gid]}"
    for gid, culprit in [
        ("correlate2d_hidden", "torch"),
        ("pad2d_zeros_hidden", "numpy.lib._arraypad_impl"),
        ("pad2d_reflect_hidden", "numpy.lib._arraypad_impl"),
        ("pad2d_replicate_hidden", "numpy.lib._arraypad_impl"),
        ("conv2d_basic_hidden", "cnn_course.ops"),
        ("conv2d_stride_pad_hidden", "cnn_course.ops"),
        ("conv2d_dilation_hidden", "cnn_course.ops"),
    ]:
        assert results[gid] is not None and "shortcut used" in results[gid], (gid, results[gid])
        assert culprit in results[gid]
    # Sobel may use the student's own correlate2d, shortcut or not: not this part's job.
    assert results["sobel_hidden"] is None


def test_wrong_answers_fail_hidden_tests_with_a_hint(solution_path):
    flipped = '''
def correlate2d(image, kernel):
    image, kernel = np.asarray(image, float), np.asarray(kernel, float)[::-1, ::-1]
    H, W = image.shape
    HH, WW = kernel.shape
    out = np.zeros((H - HH + 1, W - WW + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + HH, j:j + WW] * kernel)
    return out
'''
    results = run_with_answers(solution_path, {"correlate2d": flipped})
    assert "do not flip the kernel" in results["correlate2d_visible"]
    assert "is wrong at" in results["correlate2d_hidden"]
