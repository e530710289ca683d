"""cnn_course.kernels and cnn_course.similarity against independent computations."""

import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_course import kernels, similarity


def test_kernels_are_the_lectures():
    assert kernels.sobel_x().tolist() == [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    assert kernels.sobel_y().tolist() == [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    assert np.allclose(kernels.box_blur(3), 1 / 9)
    img = np.random.default_rng(0).normal(size=(6, 7))
    assert np.allclose(kernels.filter_bank(img, {"id": kernels.identity()})[0], img)
    for k in kernels.line_detectors().values():
        assert k.sum() == 0  # no response on a flat region


def test_gradient_magnitude_matches_torch():
    from skimage import data

    img = data.camera()[::8, ::8].astype(np.float64) / 255
    t = torch.from_numpy(img)[None, None]
    gx = F.conv2d(t, torch.from_numpy(kernels.sobel_x())[None, None], padding=1)
    gy = F.conv2d(t, torch.from_numpy(kernels.sobel_y())[None, None], padding=1)
    expected = torch.sqrt(gx**2 + gy**2)[0, 0].numpy()
    np.testing.assert_allclose(kernels.gradient_magnitude(img), expected, atol=1e-12)
    # scipy's Sobel is the same kernel up to orientation and sign
    np.testing.assert_allclose(
        kernels.gradient_magnitude(img)[1:-1, 1:-1],
        np.hypot(scipy.ndimage.sobel(img, 0), scipy.ndimage.sobel(img, 1))[1:-1, 1:-1],
        atol=1e-12,
    )


def test_similarity_decks_example():
    a = np.array([1, 0, 3, 0, -1])
    assert similarity.dot(a, 2 * a) == 22
    assert similarity.cosine(a, 2 * a) == pytest.approx(1)
    assert similarity.pearson(a, 2 * a) == pytest.approx(1)
    assert similarity.cosine(a, 2 * a + 5) < 0.8  # an offset changes cosine ...
    assert similarity.pearson(a, 2 * a + 5) == pytest.approx(1)  # ... not Pearson


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(2, 30), st.integers(0, 2**31))
def test_pearson_matches_numpy(n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    assert similarity.pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert similarity.cosine(a, b) == pytest.approx(cos, abs=1e-12)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(0, 2**31))
def test_match_template_is_pearson_of_every_window_and_finds_the_template(seed):
    rng = np.random.default_rng(seed)
    H, W = (int(v) for v in rng.integers(6, 20, size=2))
    h, w = int(rng.integers(2, H // 2 + 1)), int(rng.integers(2, W // 2 + 1))
    image = rng.random((H, W))
    r, c = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
    template = 3 * image[r : r + h, c : c + w] + 7  # brighter, more contrast: same pattern
    scores = similarity.match_template(image, template)
    assert scores.shape == (H - h + 1, W - w + 1)
    for i, j in [(0, 0), (r, c), (H - h, W - w)]:
        expected = similarity.pearson(image[i : i + h, j : j + w], template)
        assert scores[i, j] == pytest.approx(expected, abs=1e-9)
    assert scores[r, c] == pytest.approx(1.0)
    assert similarity.best_match(scores) == (r, c) or scores.max() == pytest.approx(1.0)


def test_bad_input():
    with pytest.raises(ValueError, match="same size"):
        similarity.cosine([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="zero vector"):
        similarity.cosine([0, 0], [1, 2])
    with pytest.raises(ValueError, match="flat"):
        similarity.match_template(np.ones((5, 5)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="larger than the image"):
        similarity.match_template(np.ones((3, 3)), np.eye(4))
    with pytest.raises(ValueError, match=r"expected image of shape \(H, W\) grayscale"):
        kernels.gradient_magnitude(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="odd kernel size"):
        kernels.identity(4)


def test_device_prefers_gpu_then_cpu(capsys, monkeypatch):
    from cnn_course.device import get_device

    get_device.cache_clear()
    monkeypatch.delenv("CNN_COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")
    assert get_device() == torch.device("cpu")
    assert capsys.readouterr().out.count("using device cpu") == 1  # printed once
    get_device.cache_clear()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "Fake GPU")
    assert get_device() == torch.device("cuda")
    get_device.cache_clear()
    monkeypatch.setenv("CNN_COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    get_device.cache_clear()
