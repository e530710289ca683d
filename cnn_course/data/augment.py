"""Data augmentation with plain torch tensor ops, batch-wise, seeded, on any device.

Lecture: ``lectures/09_overfitting.ipynb`` (AlexNet's crops and flips and its PCA
colour jitter, rotations, brightness and contrast jitter).

Every transform takes a float batch ``x: (N, C, H, W)`` (values in [0, 1] before
:class:`Normalize`) and returns a batch of the same shape on the same device. Each
example gets its own random parameters, drawn from a ``torch.Generator`` on the CPU
(so a seed gives the same result on every device) and then moved to ``x.device``::

    augment = Compose([RandomCrop(32, padding=4), HorizontalFlip(),
                       Normalize(CIFAR10_MEAN, CIFAR10_STD)], seed=0)
    X_aug = augment(X)            # a new draw every call, reproducible from seed 0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["Transform", "Compose", "RandomCrop", "HorizontalFlip", "RandomRotation",
           "ColorJitter", "PCAColorJitter", "rgb_pca", "Normalize", "MNIST_MEAN",
           "MNIST_STD", "CIFAR10_MEAN", "CIFAR10_STD"]

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def _check_batch(x: torch.Tensor, name: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name} expects a batch x of shape (N, C, H, W), got "
                         f"{tuple(x.shape)}; use x[None] for a single image")
    if not x.is_floating_point():
        raise ValueError(f"{name} expects a float batch (values in [0, 1]), got "
                         f"{x.dtype}; use x.float() / 255")


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None,
             device: torch.device) -> torch.Tensor:
    """``n`` draws from U(low, high), made on the CPU generator, moved to device."""
    u = torch.rand(n, generator=generator)
    return (low + (high - low) * u).to(device)


class Transform:
    """Base class: ``transform(x, generator=None) -> x'`` on a batch."""

    def __call__(self, x: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Compose(Transform):
    """Apply ``transforms`` in order, sharing one random generator.

    With ``seed``, the composition owns a generator seeded with it: calls draw new
    parameters each time, and the whole sequence of draws is reproducible
    (:meth:`reseed` starts it again). A ``generator`` passed to the call wins.
    """

    def __init__(self, transforms: Sequence[Transform], seed: int | None = None):
        self.transforms = list(transforms)
        self.seed = seed
        self._generator = None
        if seed is not None:
            self._generator = torch.Generator().manual_seed(seed)

    def reseed(self, seed: int) -> None:
        """Restart the random draws from ``seed``."""
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)

    def __call__(self, x, generator=None):
        generator = generator if generator is not None else self._generator
        for transform in self.transforms:
            x = transform(x, generator)
        return x

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(t) for t in self.transforms)
        return f"Compose([\n    {inner}\n], seed={self.seed})"


class RandomCrop(Transform):
    """Pad by ``padding`` pixels, then cut a random ``size`` × ``size`` window.

    ``(N, C, H, W) -> (N, C, size, size)``. ``fill="zeros"`` pads with 0,
    ``"reflect"`` mirrors the border. With ``padding=4`` on 32×32 CIFAR images the
    window moves by up to 4 pixels each way: the "shifts" of the lecture.
    """

    def __init__(self, size: int | tuple[int, int], padding: int = 0,
                 fill: str = "zeros") -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding = padding
        if fill not in ("zeros", "reflect"):
            raise ValueError(f"expected fill 'zeros' or 'reflect', got {fill!r}")
        self.fill = fill

    def __call__(self, x, generator=None):
        _check_batch(x, "RandomCrop")
        n, c, h, w = x.shape
        p = self.padding
        if p:
            mode = "constant" if self.fill == "zeros" else "reflect"
            x = F.pad(x, (p, p, p, p), mode=mode)  # (N, C, H + 2p, W + 2p)
        out_h, out_w = self.size
        if out_h > h + 2 * p or out_w > w + 2 * p:
            raise ValueError(f"crop {out_h}x{out_w} does not fit in {h}x{w} padded "
                             f"by {p}")
        top = torch.randint(0, h + 2 * p - out_h + 1, (n,), generator=generator)
        left = torch.randint(0, w + 2 * p - out_w + 1, (n,), generator=generator)
        rows = (top[:, None] + torch.arange(out_h)).to(x.device)  # (N, out_h)
        cols = (left[:, None] + torch.arange(out_w)).to(x.device)  # (N, out_w)
        batch = torch.arange(n, device=x.device)[:, None, None]
        # advanced indexing picks x[n, :, rows[n, i], cols[n, j]] for every n, i, j
        out = x.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        return out.permute(0, 3, 1, 2).contiguous()  # (N, C, out_h, out_w)


class HorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, x, generator=None):
        _check_batch(x, "HorizontalFlip")
        flip = torch.rand(x.shape[0], generator=generator) < self.p
        flip = flip.to(x.device)[:, None, None, None]  # (N, 1, 1, 1)
        return torch.where(flip, x.flip(-1), x)


class RandomRotation(Transform):
    """Rotate each image by a random angle in ``[-degrees, degrees]`` (or in
    ``[low, high]`` for a pair), counter-clockwise for positive angles.

    Bilinear resampling about the centre; pixels that come from outside the image
    are ``fill``. Written with ``affine_grid`` and ``grid_sample``: the grid holds,
    for every output pixel, where in the input to read.
    """

    def __init__(self, degrees: float | tuple[float, float] = 10.0,
                 fill: float = 0.0) -> None:
        if isinstance(degrees, (int, float)):
            degrees = (-abs(degrees), abs(degrees))
        self.degrees = tuple(float(d) for d in degrees)
        self.fill = fill

    def __call__(self, x, generator=None):
        _check_batch(x, "RandomRotation")
        n, c, h, w = x.shape
        low, high = self.degrees
        angle = _uniform(n, low, high, generator, x.device)
        theta = angle * (math.pi / 180)
        cos, sin = torch.cos(theta), torch.sin(theta)
        zero = torch.zeros_like(cos)
        # affine_grid works in [-1, 1] coordinates; the aspect ratio corrects the
        # rotation for non-square images.
        aspect = h / w
        matrix = torch.stack([
            torch.stack([cos, -sin * aspect, zero], dim=1),
            torch.stack([sin / aspect, cos, zero], dim=1),
        ], dim=1).to(x.dtype)  # (N, 2, 3)
        grid = F.affine_grid(matrix, list(x.shape), align_corners=False)
        shifted = x - self.fill  # so that zero padding pads with fill
        out = F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)
        return out + self.fill


class ColorJitter(Transform):
    """Random brightness and contrast, per image.

    Brightness multiplies by ``b ~ U(1 - brightness, 1 + brightness)``; contrast
    pulls pixels towards (c < 1) or away from (c > 1) the image's mean by
    ``c ~ U(1 - contrast, 1 + contrast)``: ``x' = mean + c * (x - mean)``. The
    result is clipped to [0, 1].
    """

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2) -> None:
        if not (0 <= brightness < 1 and 0 <= contrast < 1):
            raise ValueError(f"expected brightness and contrast in [0, 1), got "
                             f"{brightness}, {contrast}")
        self.brightness = brightness
        self.contrast = contrast

    def __call__(self, x, generator=None):
        _check_batch(x, "ColorJitter")
        n = x.shape[0]
        b = _uniform(n, 1 - self.brightness, 1 + self.brightness, generator, x.device)
        c = _uniform(n, 1 - self.contrast, 1 + self.contrast, generator, x.device)
        x = x * b.view(n, 1, 1, 1).to(x.dtype)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
        x = mean + c.view(n, 1, 1, 1).to(x.dtype) * (x - mean)
        return x.clamp(0.0, 1.0)


def rgb_pca(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal components of the RGB values of ``images`` (AlexNet's colour PCA).

    Every pixel of every image is one sample of three numbers (R, G, B).

    Args:
        images: ``(N, 3, H, W)``, float in [0, 1] or uint8 (divided by 255).

    Returns:
        ``eigenvalues: (3,)``, largest first, and ``eigenvectors: (3, 3)``, one per
        column: ``cov @ eigenvectors[:, i] == eigenvalues[i] * eigenvectors[:, i]``,
        with ``cov`` the 3×3 covariance of the pixels. Each eigenvector's sign is
        chosen so that its entries sum to a non-negative number (for natural
        images the first one, all positive, is "brighter"). float64, on the CPU.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"rgb_pca expects RGB images (N, 3, H, W), got shape "
                         f"{tuple(images.shape)}; use x[None] for a single image")
    x = images.detach().cpu().double()
    if images.dtype == torch.uint8:
        x = x / 255
    pixels = x.permute(1, 0, 2, 3).reshape(3, -1)  # (3, N * H * W)
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(pixels))  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    signs = torch.where(eigenvectors.sum(0) < 0, -1.0, 1.0).double()  # (3,)
    return eigenvalues, eigenvectors * signs


class PCAColorJitter(Transform):
    """AlexNet's colour augmentation (Krizhevsky, Sutskever and Hinton, 2012).

    Each image gets one random colour shift, the same for all its pixels, along the
    principal components ``p_i`` of the training set's RGB values (eigenvalues
    ``lambda_i``, see :func:`rgb_pca`)::

        pixel' = pixel + [p_1 p_2 p_3] @ [a_1 lambda_1, a_2 lambda_2, a_3 lambda_3]

    with ``a_i ~ N(0, std)`` drawn per image (the paper: ``std = 0.1``). The result
    is clipped to [0, 1]. :meth:`fit` computes the components from a batch.
    """

    def __init__(self, eigenvalues, eigenvectors, std: float = 0.1) -> None:
        eigenvalues = torch.as_tensor(eigenvalues, dtype=torch.float64)
        eigenvectors = torch.as_tensor(eigenvectors, dtype=torch.float64)
        if eigenvalues.shape != (3,) or eigenvectors.shape != (3, 3):
            raise ValueError(f"expected eigenvalues (3,) and eigenvectors (3, 3), "
                             f"got {tuple(eigenvalues.shape)} and "
                             f"{tuple(eigenvectors.shape)}")
        if std < 0:
            raise ValueError(f"expected std >= 0, got {std}")
        self.eigenvalues = eigenvalues
        self.eigenvectors = eigenvectors
        self.std = std

    @classmethod
    def fit(cls, images: torch.Tensor, std: float = 0.1) -> PCAColorJitter:
        """The jitter with the principal components of ``images (N, 3, H, W)``."""
        return cls(*rgb_pca(images), std=std)

    def shifts(self, n: int, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """``n`` random colour shifts ``(n, 3)``, one row per image."""
        alpha = torch.randn(n, 3, generator=generator, dtype=torch.float64)
        alpha = alpha * self.std  # (n, 3): a_i ~ N(0, std)
        # row k: sum_i a_ki lambda_i p_i, with p_i the columns of eigenvectors
        return (alpha * self.eigenvalues) @ self.eigenvectors.T

    def __call__(self, x, generator=None):
        _check_batch(x, "PCAColorJitter")
        if x.shape[1] != 3:
            raise ValueError(f"PCAColorJitter expects RGB images (N, 3, H, W), got "
                             f"{tuple(x.shape)}")
        shift = self.shifts(x.shape[0], generator).to(x.device, x.dtype)
        return (x + shift[:, :, None, None]).clamp(0.0, 1.0)  # (N, 3, H, W)


class Normalize(Transform):
    """Per-channel standardisation: ``(x - mean[c]) / std[c]``. Not random.

    :meth:`inverse` undoes it (for showing normalised images).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} channels, std {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"expected every std > 0, got {tuple(std)}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] != len(self.mean):
            raise ValueError(f"Normalize has {len(self.mean)} channels, the batch "
                             f"{tuple(x.shape)} has {x.shape[1]}")
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device)
        return mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)

    def __call__(self, x, generator=None):
        _check_batch(x, "Normalize")
        mean, std = self._stats(x)
        return (x - mean) / std

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation: ``x * std[c] + mean[c]``."""
        mean, std = self._stats(x)
        return x * std + mean
