"""Tiny networks in pure numpy, a fully connected one and a CNN, trained with SGD.

Lectures: ``lectures/01_fully_connected.ipynb`` (:func:`mlp`, a fully connected
network with ReLU, sigmoid or tanh, trained by SGD; its per-layer gradients show
the sigmoid's vanishing gradients) and ``lectures/08_lenet.ipynb``. It proves that
the hand-written layers of ``cnn_course.ops`` work together: conv -> relu -> pool
-> conv -> relu -> pool -> affine, trained on scikit-learn's 8x8 digits with no
torch anywhere.

The network is a list of layers. Each layer has ``forward(x, train) -> out``,
``backward(dout) -> dx``, and dictionaries ``params`` and ``grads`` with the same
keys; the optimiser only ever sees those dictionaries.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .activations import (
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from .conv import conv2d_backward, conv2d_forward
from .layers import affine_backward, affine_forward
from .losses import softmax_cross_entropy
from .pool import maxpool2d_backward, maxpool2d_forward


class Layer:
    """Base class: no parameters, and the forward/backward contract."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.cache = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Conv2d(Layer):
    """``(N, C, H, W) -> (N, F, H', W')``; He-initialised ``w: (F, C, k, k)``."""

    def __init__(self, C: int, F: int, kernel: int, *, pad: int = 0, stride: int = 1,
                 rng: np.random.Generator, dtype=np.float32) -> None:
        super().__init__()
        fan_in = C * kernel * kernel
        # He initialisation: keeps the variance of activations steady through ReLUs
        w = rng.standard_normal((F, C, kernel, kernel)) * np.sqrt(2.0 / fan_in)
        self.params = {"w": w.astype(dtype), "b": np.zeros(F, dtype=dtype)}
        self.pad, self.stride = pad, stride

    def forward(self, x, train=True):
        out, self.cache = conv2d_forward(x, self.params["w"], self.params["b"],
                                         stride=self.stride, pad=self.pad)
        return out

    def backward(self, dout):
        dx, self.grads["w"], self.grads["b"] = conv2d_backward(dout, self.cache)
        return dx


class Activation(Layer):
    """An element-wise non-linearity of :mod:`.activations`: no parameters, any
    shape; a subclass names its ``(out, cache)`` forward and its backward as the
    static methods ``forward_fn`` and ``backward_fn``."""

    def forward(self, x, train=True):
        out, self.cache = self.forward_fn(x)
        return out

    def backward(self, dout):
        return self.backward_fn(dout, self.cache)


class ReLU(Activation):
    forward_fn, backward_fn = staticmethod(relu_forward), staticmethod(relu_backward)


class Sigmoid(Activation):
    forward_fn = staticmethod(sigmoid_forward)
    backward_fn = staticmethod(sigmoid_backward)


class Tanh(Activation):
    forward_fn, backward_fn = staticmethod(tanh_forward), staticmethod(tanh_backward)


#: The non-linearities :func:`mlp` puts between its affine layers.
ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


class MaxPool2d(Layer):
    def __init__(self, kernel: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x, train=True):
        out, self.cache = maxpool2d_forward(x, kernel=self.kernel, stride=self.stride)
        return out

    def backward(self, dout):
        return maxpool2d_backward(dout, self.cache)


class Affine(Layer):
    """``(N, d_1, ..., d_k) -> (N, M)``: flattens, so it can follow a conv directly."""

    def __init__(self, D: int, M: int, *, rng: np.random.Generator,
                 dtype=np.float32) -> None:
        super().__init__()
        w = rng.standard_normal((D, M)) * np.sqrt(1.0 / D)
        self.params = {"w": w.astype(dtype), "b": np.zeros(M, dtype=dtype)}

    def forward(self, x, train=True):
        out, self.cache = affine_forward(x, self.params["w"], self.params["b"])
        return out

    def backward(self, dout):
        dx, self.grads["w"], self.grads["b"] = affine_backward(dout, self.cache)
        return dx


class Net:
    """A list of layers applied in order; the last one produces class scores."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dscores: np.ndarray) -> None:
        for layer in reversed(self.layers):
            dscores = layer.backward(dscores)

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        """Forward, softmax cross-entropy, backward: fills every ``layer.grads``."""
        scores = self.forward(X, train=True)
        loss, dscores = softmax_cross_entropy(scores, y)
        self.backward(dscores.astype(scores.dtype, copy=False))
        return loss

    def predict(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
        labels = [self.forward(X[i : i + batch_size], train=False).argmax(axis=1)
                  for i in range(0, len(X), batch_size)]
        return np.concatenate(labels)

    def num_params(self) -> int:
        return sum(p.size for layer in self.layers for p in layer.params.values())


class SGDMomentum:
    """``v = momentum * v - lr * (grad + weight_decay * w)``; ``w += v``."""

    def __init__(self, net: Net, *, lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0) -> None:
        self.net, self.lr, self.momentum = net, lr, momentum
        self.weight_decay = weight_decay
        self.velocity = [{k: np.zeros_like(p) for k, p in layer.params.items()}
                         for layer in net.layers]

    def step(self) -> None:
        for layer, velocity in zip(self.net.layers, self.velocity):
            for key, w in layer.params.items():
                grad = layer.grads[key]
                if self.weight_decay and key == "w":  # no decay on biases
                    grad = grad + self.weight_decay * w
                v = velocity[key]
                v *= self.momentum
                v -= self.lr * grad
                w += v  # in place: the layer sees the update


def digits_cnn(channels: tuple[int, int] = (8, 16), *, seed: int = 0,
               dtype=np.float32) -> Net:
    """conv3x3 -> relu -> pool2 -> conv3x3 -> relu -> pool2 -> affine, for 8x8 digits.

    Shapes: ``(N, 1, 8, 8) -> (N, C1, 8, 8) -> (N, C1, 4, 4) -> (N, C2, 4, 4) ->
    (N, C2, 2, 2) -> (N, 10)``; the 3x3 convolutions are padded by 1 ("same").
    """
    rng = np.random.default_rng(seed)
    C1, C2 = channels
    return Net([
        Conv2d(1, C1, 3, pad=1, rng=rng, dtype=dtype),
        ReLU(),
        MaxPool2d(2),
        Conv2d(C1, C2, 3, pad=1, rng=rng, dtype=dtype),
        ReLU(),
        MaxPool2d(2),
        Affine(C2 * 2 * 2, 10, rng=rng, dtype=dtype),
    ])


def mlp(sizes: Sequence[int], activation: str = "relu", *, seed: int = 0,
        dtype=np.float32) -> Net:
    """A fully connected network: affine -> activation -> ... -> affine.

    ``sizes = (D, H_1, ..., H_k, K)`` gives ``k + 1`` affine layers, ``(N, D) ->
    (N, H_1) -> ... -> (N, K)`` class scores, with ``activation`` (a key of
    :data:`ACTIVATIONS`) after every layer but the last. Input ``(N, C, H, W)`` is
    flattened by the first layer, so ``D = C * H * W``. Weights are drawn from
    ``N(0, 1 / D_in)``, biases start at 0.
    """
    if len(sizes) < 2:
        raise ValueError(f"expected sizes (D, ..., K) with at least 2 entries, got "
                         f"{tuple(sizes)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"expected activation in {sorted(ACTIVATIONS)}, got "
                         f"{activation!r}")
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    for i, (D, M) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Affine(D, M, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:  # no non-linearity after the class scores
            layers.append(ACTIVATIONS[activation]())
    return Net(layers)


def load_digits_split(test_fraction: float = 0.25, seed: int = 0, dtype=np.float32):
    """scikit-learn's digits (1797 images of 8x8, bundled with the library, no
    download) as ``(N, 1, 8, 8)`` arrays in ``[0, 1]``, split per class."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.images / 16.0).astype(dtype)[:, None, :, :]  # (1797, 1, 8, 8)
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return X_train, y_train, X_test, y_test


@dataclass
class TrainConfig:
    """Everything that changes a training run, in one place."""

    num_epochs: int = 15
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    channels: tuple[int, int] = (8, 16)
    test_fraction: float = 0.25
    seed: int = 0
    max_train: int | None = None  # use only the first examples, for quick checks


@dataclass
class TrainResult:
    test_accuracy: float
    train_accuracy: float
    seconds: float
    losses: list[float] = field(default_factory=list)  # mean loss of every epoch
    num_params: int = 0


def train_digits(config: TrainConfig | None = None, *, verbose: bool = False
                 ) -> TrainResult:
    """Train :func:`digits_cnn` on the digits with SGD + momentum; report accuracy.

    Returns the test and training accuracy, the wall time of training (data loading
    excluded) and the loss of every epoch.
    """
    config = config or TrainConfig()
    X_train, y_train, X_test, y_test = load_digits_split(config.test_fraction,
                                                         config.seed)
    if config.max_train is not None:
        X_train, y_train = X_train[: config.max_train], y_train[: config.max_train]
    net = digits_cnn(config.channels, seed=config.seed)
    optimiser = SGDMomentum(net, lr=config.lr, momentum=config.momentum,
                            weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    losses = []
    start = time.perf_counter()
    for epoch in range(config.num_epochs):
        order = rng.permutation(len(X_train))
        epoch_losses = []
        for i in range(0, len(order), config.batch_size):
            batch = order[i : i + config.batch_size]
            epoch_losses.append(net.loss(X_train[batch], y_train[batch]))
            optimiser.step()
        losses.append(float(np.mean(epoch_losses)))
        if verbose:
            print(f"epoch {epoch + 1:2d}: loss {losses[-1]:.4f}")
    seconds = time.perf_counter() - start
    test_accuracy = float(np.mean(net.predict(X_test) == y_test))
    train_accuracy = float(np.mean(net.predict(X_train) == y_train))
    return TrainResult(test_accuracy, train_accuracy, seconds, losses,
                       net.num_params())
