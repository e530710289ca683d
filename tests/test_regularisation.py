"""The regularisers of lecture 09_overfitting: AlexNet's PCA colour jitter
(``cnn_course.data.augment``), DropConnect and the ablation's ``SmallCNN``
(``cnn_course.models.regularised``)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_course.analysis import count_params
from cnn_course.data.augment import Compose, Normalize, PCAColorJitter, rgb_pca
from cnn_course.models.regularised import DropConnectLinear, SmallCNN, small_cnn


def colour_batch(n=8, h=6, w=7, seed=0):
    """Correlated RGB values in [0.2, 0.8], like a natural image's."""
    g = torch.Generator().manual_seed(seed)
    gray = torch.rand(n, 1, h, w, generator=g)
    tint = 0.2 * torch.rand(n, 3, h, w, generator=g)
    return 0.2 + 0.5 * gray + tint  # (N, 3, H, W)


def test_rgb_pca_diagonalises_the_pixel_covariance():
    """V diag(lambda) V^T is numpy's covariance of the pixels; V is orthonormal and
    the eigenvalues come largest first."""
    x = colour_batch()
    eigenvalues, eigenvectors = rgb_pca(x)
    pixels = x.permute(1, 0, 2, 3).reshape(3, -1).double().numpy()
    cov = np.cov(pixels)
    rebuilt = eigenvectors @ torch.diag(eigenvalues) @ eigenvectors.T
    assert np.allclose(rebuilt.numpy(), cov)
    identity = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(eigenvectors.T @ eigenvectors, identity)
    assert eigenvalues[0] >= eigenvalues[1] >= eigenvalues[2] >= 0
    assert (eigenvectors.sum(0) >= 0).all()  # the sign convention
    assert (eigenvectors[:, 0] > 0).all()  # correlated channels: brightness first


def test_rgb_pca_reads_uint8_as_0_to_1():
    """uint8 images give the components of the same images divided by 255."""
    x8 = (colour_batch() * 255).round().to(torch.uint8)
    values8, _ = rgb_pca(x8)
    values, _ = rgb_pca(x8.float() / 255)
    assert torch.allclose(values8, values)
    with pytest.raises(ValueError, match=r"expects RGB images \(N, 3, H, W\)"):
        rgb_pca(x8[:, :1])


def test_pca_jitter_adds_one_shift_per_image_along_the_components():
    """Every pixel of an image moves by the same RGB vector, and that vector is
    sum_i a_i lambda_i p_i: in the components' coordinates it is a_i lambda_i."""
    x = colour_batch(n=400)
    jitter = PCAColorJitter.fit(x, std=0.1)
    out = jitter(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    shift = (out - x).double()  # (N, 3, H, W)
    per_image = shift[:, :, :1, :1]
    assert torch.allclose(shift, per_image.expand_as(shift), atol=1e-6)
    assert torch.allclose(per_image[:, :, 0, 0],
                          jitter.shifts(400, torch.Generator().manual_seed(0)),
                          atol=1e-6)
    alpha = per_image[:, :, 0, 0] @ jitter.eigenvectors / jitter.eigenvalues  # (N, 3)
    assert abs(float(alpha.std()) - 0.1) < 0.02  # a_i ~ N(0, 0.1)
    assert abs(float(alpha.mean())) < 0.02


def test_pca_jitter_is_seeded_clipped_and_off_at_std_zero():
    """A seed repeats the draw; std=0 changes nothing; the result stays in [0, 1]."""
    x = colour_batch()
    jitter = PCAColorJitter.fit(x, std=50.0)
    first = Compose([jitter], seed=3)(x)
    assert torch.equal(first, Compose([jitter], seed=3)(x))
    assert first.min() >= 0 and first.max() <= 1
    assert torch.equal(PCAColorJitter.fit(x, std=0.0)(x), x)
    with pytest.raises(ValueError, match="expects RGB images"):
        jitter(x[:, :2])
    with pytest.raises(ValueError, match=r"eigenvalues \(3,\) and eigenvectors"):
        PCAColorJitter(torch.ones(2), torch.eye(3))


def test_pca_jitter_composes_with_normalize():
    """It sits before Normalize in a pipeline, like every transform on [0, 1]."""
    x = colour_batch()
    pipeline = Compose([PCAColorJitter.fit(x), Normalize((0.5,) * 3, (0.25,) * 3)],
                       seed=0)
    assert pipeline(x).shape == x.shape


def test_dropconnect_masks_weights_and_is_linear_in_eval():
    """Training: x @ (W * keep / (1 - p)).T + b with a fresh mask; eval: nn.Linear."""
    torch.manual_seed(0)
    layer = DropConnectLinear(20, 5, p=0.25)
    x = torch.randn(4, 20)
    torch.manual_seed(7)
    out = layer(x)
    torch.manual_seed(7)
    keep = torch.rand_like(layer.weight) >= 0.25
    expected = F.linear(x, layer.weight * keep / 0.75, layer.bias)
    assert torch.allclose(out, expected)
    assert not torch.allclose(layer(x), out)  # a new mask every call
    layer.eval()
    assert torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))
    assert "p=0.25" in repr(layer)


def test_dropconnect_drops_a_fraction_p_and_keeps_the_mean():
    """About p of the weights get no gradient; the mean output over masks is the
    eval output (the 1 / (1 - p) scaling)."""
    torch.manual_seed(0)
    layer = DropConnectLinear(100, 50, p=0.5)
    layer(torch.ones(1, 100)).sum().backward()
    dropped = float((layer.weight.grad == 0).float().mean())
    assert abs(dropped - 0.5) < 0.05
    x = torch.randn(1, 100)
    with torch.no_grad():
        mean = torch.stack([layer(x) for _ in range(4000)]).mean(0)
        layer.eval()
        assert torch.allclose(mean, layer(x), atol=0.1)
    with pytest.raises(ValueError, match=r"drop probability p in \[0, 1\)"):
        DropConnectLinear(3, 2, p=1.0)


def test_small_cnn_shapes_counts_and_switches():
    """(N, 3, 32, 32) -> (N, 10); the parameter count follows the widths; batch
    norm replaces the conv biases; dropout and DropConnect exclude each other."""
    model = small_cnn()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    width, hidden = 16, 256
    convs = sum(9 * c_in * c_out + c_out for c_in, c_out in
                ((3, width), (width, 2 * width), (2 * width, 4 * width)))
    dense = (4 * width * 16 + 1) * hidden + (hidden + 1) * 10
    assert count_params(model).total == convs + dense
    narrow = small_cnn(width=4, hidden=32)
    assert count_params(narrow).total < count_params(model).total / 10
    bn = small_cnn(batchnorm=True)
    channels = width + 2 * width + 4 * width
    # gamma and beta for every channel come in, the conv biases go out
    assert count_params(bn).total == convs + dense + 2 * channels - channels
    kinds = {type(m).__name__ for m in small_cnn(dropconnect=0.5).modules()}
    assert "DropConnectLinear" in kinds and "Dropout" not in kinds
    with pytest.raises(ValueError, match="dropout or DropConnect"):
        SmallCNN(dropout=0.5, dropconnect=0.5)
    with pytest.raises(ValueError, match=r"expects \(N, 3, 32, 32\)"):
        model(torch.randn(2, 3, 28, 28))


def test_small_cnn_dropout_is_random_in_train_and_fixed_in_eval():
    """Two forward passes differ in train mode and agree in eval mode."""
    torch.manual_seed(0)
    model = small_cnn(dropout=0.5)
    x = torch.randn(3, 3, 32, 32)
    assert not torch.allclose(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))
