"""cnn_course.ops.net.mlp: the numpy fully connected network of lecture 01.

Its sigmoid and tanh layers are checked against central differences, the whole
network's gradients against torch's autograd, and its errors name what was expected.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_course.ops import net as numpy_net
from cnn_course.ops import numerical_gradient, rel_error


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_activation_layer_backward_matches_central_differences(activation):
    """Each activation layer's backward is the derivative of its forward."""
    layer = numpy_net.ACTIVATIONS[activation]()
    x = np.random.default_rng(0).standard_normal((4, 5)) + 0.05  # away from 0 for ReLU
    dout = np.random.default_rng(1).standard_normal((4, 5))
    layer.forward(x)
    dx = layer.backward(dout)
    expected = numerical_gradient(lambda v: layer.forward(v), x, dout)
    assert rel_error(dx, expected) < 1e-7


def test_mlp_layers_shapes_and_parameter_count():
    """(64, 32, 10): affine, sigmoid, affine; 64*32 + 32 + 32*10 + 10 parameters;
    (N, 1, 8, 8) input is flattened to (N, 64)."""
    net = numpy_net.mlp((64, 32, 10), "sigmoid", seed=0)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Affine", "Sigmoid", "Affine"]
    assert net.num_params() == 64 * 32 + 32 + 32 * 10 + 10 == 2410
    scores = net.forward(np.zeros((3, 1, 8, 8), dtype=np.float32))
    assert scores.shape == (3, 10)


def test_mlp_is_seeded():
    """The same seed gives the same weights, another seed other weights."""
    a, b, c = (numpy_net.mlp((6, 4, 2), seed=s) for s in (0, 0, 1))
    assert np.array_equal(a.layers[0].params["w"], b.layers[0].params["w"])
    assert not np.array_equal(a.layers[0].params["w"], c.layers[0].params["w"])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_mlp_gradients_match_torch_autograd(activation):
    """Net.loss fills every layer's grads with what autograd computes for the same
    weights, data and softmax cross-entropy (float64)."""
    net = numpy_net.mlp((12, 7, 5, 3), activation, seed=2, dtype=np.float64)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 12))
    y = rng.integers(0, 3, size=6)
    loss = net.loss(X, y)

    weights = [(torch.tensor(layer.params["w"], requires_grad=True),
                torch.tensor(layer.params["b"], requires_grad=True))
               for layer in net.layers if "w" in layer.params]
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    h = torch.tensor(X)
    for i, (w, b) in enumerate(weights):
        h = h @ w + b
        if i < len(weights) - 1:
            h = act(h)
    torch_loss = F.cross_entropy(h, torch.tensor(y))
    torch_loss.backward()

    assert np.isclose(loss, torch_loss.item())
    affine = [layer for layer in net.layers if "w" in layer.params]
    for layer, (w, b) in zip(affine, weights):
        assert np.allclose(layer.grads["w"], w.grad.numpy(), rtol=1e-10, atol=1e-12)
        assert np.allclose(layer.grads["b"], b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_mlp_rejects_bad_arguments_with_what_was_expected():
    with pytest.raises(ValueError, match="activation in"):
        numpy_net.mlp((4, 2), "softplus")
    with pytest.raises(ValueError, match=r"sizes \(D, \.\.\., K\)"):
        numpy_net.mlp((4,))


def test_deep_sigmoid_gradients_vanish_and_relu_ones_do_not():
    """Lecture 01's picture: ten sigmoid layers shrink the first layer's gradient by
    about 4 per layer (sigma' <= 1/4); ReLU keeps it the same size."""
    rng = np.random.default_rng(0)
    X = rng.random((64, 64))
    y = rng.integers(0, 10, size=64)
    ratios = {}
    for activation in ("sigmoid", "relu"):
        net = numpy_net.mlp((64,) + (32,) * 10 + (10,), activation, seed=0,
                            dtype=np.float64)
        net.loss(X, y)
        norms = [np.linalg.norm(layer.grads["w"]) for layer in net.layers
                 if "w" in layer.params]
        ratios[activation] = norms[0] / norms[-1]
    assert ratios["sigmoid"] < 1e-4
    assert 0.1 < ratios["relu"] < 10
