"""Plots for training and for looking inside a network (matplotlib).

Lectures: ``lectures/08_lenet.ipynb`` (curves, confusion matrix, filters),
``lectures/09_overfitting.ipynb`` (curves), ``lectures/11_transfer_learning.ipynb``
(filters, feature maps, nearest neighbours).

Every function returns the ``matplotlib.figure.Figure`` it drew, so a notebook shows
it and a test can check what is on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["show_images", "plot_history", "plot_confusion_matrix", "plot_filters",
           "plot_feature_maps", "worst_misclassified", "plot_worst_misclassified",
           "plot_neighbors", "first_conv"]


def _figure(rows: int, cols: int, cell: float = 1.6):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * cell),
                             squeeze=False)
    return fig, axes


def _to_hwc(image: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` -> ``(H, W)`` for gray or ``(H, W, 3)`` for colour, in [0, 1]."""
    image = image.detach().cpu()
    image = image.float() / 255 if image.dtype == torch.uint8 else image.float()
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    elif image.ndim == 3:
        image = image.permute(1, 2, 0)
    return image


def _scaled(image: torch.Tensor) -> torch.Tensor:
    """Stretch to [0, 1] (min to 0, max to 1), for weights and activations."""
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else torch.zeros_like(image)


def _show(ax, image: torch.Tensor, title: str | None = None, **kwargs) -> None:
    image = _to_hwc(image)
    if image.ndim == 2:
        kwargs.setdefault("cmap", "gray")
    ax.imshow(image.numpy(), **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def _images_in_unit_range(images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return images.float() / 255
    return images.float()


def show_images(images: torch.Tensor, titles: Sequence[str] | None = None,
                cols: int = 8):
    """A grid of images ``(N, C, H, W)`` (uint8 or float in [0, 1]) with titles."""
    images = _images_in_unit_range(images)
    n = images.shape[0]
    rows = math.ceil(n / cols)
    fig, axes = _figure(rows, min(cols, n))
    for i, ax in enumerate(axes.flat):
        if i < n:
            _show(ax, images[i], titles[i] if titles else None, vmin=0, vmax=1)
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig


def plot_history(history):
    """Training curves: loss (left) and accuracy (right), train and validation.

    ``history`` is what ``fit`` returns (or a dict of the same lists).
    """
    import matplotlib.pyplot as plt

    values = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    epochs = values["epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
        ax.plot(epochs, values[f"train_{metric}"], "o-", label="train")
        val = values.get(f"val_{metric}") or []
        if any(v is not None for v in val):
            ax.plot(epochs, [float("nan") if v is None else v for v in val], "s-",
                    label="validation")
        best = values.get("best_epoch")
        if best is not None:
            ax.axvline(best, color="gray", linestyle=":", label=f"best (epoch {best})")
        ax.set_xlabel("epoch")
        ax.set_title("loss" if metric == "loss" else "accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor,
                          classes: Sequence[str], normalize: bool = False):
    """The confusion matrix as an image: rows true class, columns predicted class.

    ``normalize=True`` divides each row by its count (per-class recall on the
    diagonal). Counts are written in the cells.
    """
    from .training.metrics import confusion_matrix

    cm = confusion_matrix(y_true, y_pred, len(classes)).float()
    if normalize:
        cm = cm / cm.sum(dim=1, keepdim=True).clamp_min(1)
    size = max(4.0, 0.5 * len(classes) + 2)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm.numpy(), cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    correct = cm.diagonal().sum() / cm.sum() if not normalize else None
    title = "confusion matrix" + (" (row-normalised)" if normalize else
                                  f" (accuracy {correct:.3f})")
    ax.set_title(title)
    threshold = cm.max().item() / 2
    for i in range(len(classes)):
        for j in range(len(classes)):
            value = cm[i, j].item()
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if value > threshold else "black")
    fig.tight_layout()
    return fig


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``nn.Conv2d`` of ``model``, with its name."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError(f"{type(model).__name__} has no nn.Conv2d layer")


def plot_filters(model_or_weight: nn.Module | torch.Tensor, cols: int = 8):
    """The first layer's filters as small images, one per output channel.

    Takes a model (its first ``nn.Conv2d``) or a weight ``(F, C, HH, WW)``. Each
    filter is stretched to [0, 1] on its own; 3-channel filters show in colour,
    others as their channel mean in gray.
    """
    if isinstance(model_or_weight, nn.Module):
        name, conv = first_conv(model_or_weight)
        weight = conv.weight
    else:
        name, weight = "weight", model_or_weight
    weight = weight.detach().float().cpu()
    if weight.ndim != 4:
        raise ValueError(f"expected a weight of shape (F, C, HH, WW), got "
                         f"{tuple(weight.shape)}")
    if weight.shape[1] != 3:
        weight = weight.mean(dim=1, keepdim=True)  # (F, 1, HH, WW)
    n = weight.shape[0]
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = _figure(rows, cols, cell=1.0)
    for i, ax in enumerate(axes.flat):
        if i < n:
            _show(ax, _scaled(weight[i]), f"{i}", vmin=0, vmax=1,
                  interpolation="nearest")
        else:
            ax.axis("off")
    fig.suptitle(f"{name}: {n} filters of {tuple(weight.shape[1:])}")
    fig.tight_layout()
    return fig


def plot_feature_maps(model: nn.Module, image: torch.Tensor, layers: Sequence[str],
                      max_maps: int = 8):
    """The feature maps of one image at the chosen layers: a row per layer.

    ``image`` is ``(C, H, W)`` (already normalised as the model expects); each row
    shows the first ``max_maps`` channels of that layer's output, stretched to
    [0, 1] each. The first column is the input image.
    """
    from .transfer import activations

    if image.ndim != 3:
        raise ValueError(f"expected one image (C, H, W), got {tuple(image.shape)}")
    maps = activations(model, image[None], list(layers))
    fig, axes = _figure(len(layers), max_maps + 1, cell=1.3)
    for row, name in enumerate(layers):
        out = maps[name][0]  # (C', H', W')
        if out.ndim != 3:
            raise ValueError(f"layer {name} gives {tuple(maps[name].shape)}, not "
                             f"feature maps (N, C, H, W)")
        _show(axes[row, 0], _scaled(image), "input" if row == 0 else None)
        axes[row, 0].set_ylabel(f"{name}\n{tuple(out.shape)}", fontsize=8)
        for col in range(1, max_maps + 1):
            ax = axes[row, col]
            if col - 1 < out.shape[0]:
                _show(ax, _scaled(out[col - 1])[None], f"{name}[{col - 1}]",
                      cmap="viridis")
            else:
                ax.axis("off")
    fig.tight_layout()
    return fig


def worst_misclassified(logits: torch.Tensor, labels: torch.Tensor, k: int = 9
                        ) -> torch.Tensor:
    """Indices of the ``k`` misclassified examples the model was surest about.

    Ranked by the probability given to the wrong prediction, highest first. Fewer
    than ``k`` when fewer are wrong.
    """
    probs = torch.softmax(logits.float(), dim=1)  # (N, K)
    confidence, predicted = probs.max(dim=1)
    wrong = torch.nonzero(predicted != labels).flatten()
    order = torch.argsort(confidence[wrong], descending=True)
    return wrong[order[:k]]


def plot_worst_misclassified(images: torch.Tensor, logits: torch.Tensor,
                             labels: torch.Tensor, classes: Sequence[str],
                             k: int = 9, cols: int = 3):
    """The ``k`` most confidently wrong examples, titled ``true -> predicted (p)``.

    ``images`` ``(N, C, H, W)`` in [0, 1] or uint8, ``logits`` ``(N, K)``, ``labels``
    ``(N,)`` (what :func:`cnn_course.training.predict` returns).
    """
    index = worst_misclassified(logits, labels, k)
    if len(index) == 0:
        raise ValueError("no misclassified examples: nothing to show")
    probs = torch.softmax(logits.float(), dim=1)
    images = _images_in_unit_range(images)
    cols = min(cols, len(index))
    rows = math.ceil(len(index) / cols)
    fig, axes = _figure(rows, cols, cell=2.0)
    for slot, ax in enumerate(axes.flat):
        if slot >= len(index):
            ax.axis("off")
            continue
        i = int(index[slot])
        p, pred = probs[i].max(dim=0)
        title = f"{classes[int(labels[i])]} -> {classes[int(pred)]} ({p:.2f})"
        _show(ax, images[i], title, vmin=0, vmax=1)
    fig.suptitle("most confident mistakes: true -> predicted (probability)")
    fig.tight_layout()
    return fig


def plot_neighbors(query_images: torch.Tensor, gallery_images: torch.Tensor,
                   indices: torch.Tensor, distances: torch.Tensor | None = None,
                   query_titles: Sequence[str] | None = None,
                   gallery_titles: Sequence[str] | None = None):
    """A retrieval grid: each row a query, then its nearest gallery images.

    ``indices`` ``(Q, k)`` index ``gallery_images`` (from
    :func:`cnn_course.transfer.nearest_neighbors`); ``distances`` ``(Q, k)`` go in
    the titles.
    """
    query_images = _images_in_unit_range(query_images)
    gallery_images = _images_in_unit_range(gallery_images)
    q, k = indices.shape
    if query_images.shape[0] != q:
        raise ValueError(f"{query_images.shape[0]} query images but {q} rows of "
                         f"indices")
    fig, axes = _figure(q, k + 1, cell=1.5)
    for row in range(q):
        title = "query" + (f": {query_titles[row]}" if query_titles else "")
        _show(axes[row, 0], query_images[row], title, vmin=0, vmax=1)
        for col in range(k):
            j = int(indices[row, col])
            parts = [f"#{col + 1}"]
            if gallery_titles:
                parts.append(gallery_titles[j])
            if distances is not None:
                parts.append(f"d={float(distances[row, col]):.2f}")
            _show(axes[row, col + 1], gallery_images[j], " ".join(parts), vmin=0,
                  vmax=1)
    fig.tight_layout()
    return fig
