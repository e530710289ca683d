"""cnn_course.plots: each figure shows the numbers it was given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cnn_course import plots  # noqa: E402
from cnn_course.models import convnet  # noqa: E402
from cnn_course.training import History  # noqa: E402
from cnn_course.transfer import activations, nearest_neighbors  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def test_history_plot_draws_both_curves_of_loss_and_accuracy():
    """Two panels titled loss and accuracy, train and validation lines, best epoch."""
    history = History(epoch=[1, 2, 3], lr=[0.1] * 3, train_loss=[1.0, 0.6, 0.4],
                      train_acc=[0.5, 0.7, 0.8], val_loss=[1.1, 0.8, 0.9],
                      val_acc=[0.45, 0.65, 0.6], seconds=[1.0] * 3, best_epoch=2)
    fig = plots.plot_history(history)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "loss" and acc_ax.get_title() == "accuracy"
    train_line, val_line = loss_ax.lines[:2]
    assert list(train_line.get_ydata()) == [1.0, 0.6, 0.4]
    assert list(val_line.get_ydata()) == [1.1, 0.8, 0.9]
    assert list(acc_ax.lines[1].get_ydata()) == [0.45, 0.65, 0.6]
    assert list(acc_ax.lines[2].get_xdata()) == [2, 2]  # the best-epoch marker
    labels = [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert labels == ["train", "validation", "best (epoch 2)"]


def test_history_plot_without_validation_has_one_line_per_panel():
    history = History(epoch=[1, 2], lr=[0.1] * 2, train_loss=[1.0, 0.5],
                      train_acc=[0.5, 0.9], val_loss=[None, None],
                      val_acc=[None, None], seconds=[1.0] * 2)
    fig = plots.plot_history(history)
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]


def test_confusion_matrix_plot_shows_the_counts():
    """The image is the matrix; every cell has its count; the title the accuracy."""
    y_true = torch.tensor([0, 0, 1, 2, 2, 2])
    y_pred = torch.tensor([0, 1, 1, 2, 0, 2])
    fig = plots.plot_confusion_matrix(y_true, y_pred, ["a", "b", "c"])
    ax = fig.axes[0]
    shown = np.asarray(ax.images[0].get_array())
    assert shown.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert [t.get_text() for t in ax.texts] == ["1", "1", "0", "0", "1", "0",
                                                "1", "0", "2"]
    assert ax.get_title() == "confusion matrix (accuracy 0.667)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    normalised = plots.plot_confusion_matrix(y_true, y_pred, ["a", "b", "c"],
                                             normalize=True)
    rows = np.asarray(normalised.axes[0].images[0].get_array())
    assert np.allclose(rows.sum(axis=1), 1.0)


def test_filter_grid_shows_every_first_layer_filter():
    """One image per filter of the first conv, each stretched to [0, 1], in colour."""
    torch.manual_seed(0)
    model = convnet(4, widths=(6, 8, 8))
    fig = plots.plot_filters(model)
    shown = image_axes(fig)
    assert len(shown) == 6
    w = model.block1.conv1.weight.detach()[2]  # (3, 3, 3)
    expected = ((w - w.min()) / (w.max() - w.min())).permute(1, 2, 0).numpy()
    assert np.allclose(np.asarray(shown[2].images[0].get_array()), expected, atol=1e-6)
    assert fig._suptitle.get_text().startswith("block1.conv1: 6 filters")
    gray = plots.plot_filters(torch.randn(10, 1, 5, 5))
    assert len(image_axes(gray)) == 10
    assert np.asarray(image_axes(gray)[0].images[0].get_array()).shape == (5, 5)


def test_feature_maps_show_each_layers_activations():
    """A row per layer: the input, then the layer's first maps, stretched."""
    torch.manual_seed(0)
    model = convnet(4, widths=(6, 8, 8))
    image = torch.rand(3, 32, 32)
    fig = plots.plot_feature_maps(model, image, ["block1", "block2"], max_maps=4)
    assert len(fig.axes) == 2 * 5
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:5] == ["input", "block1[0]", "block1[1]", "block1[2]", "block1[3]"]
    assert titles[6] == "block2[0]"
    maps = activations(model, image[None], ["block2"])["block2"][0]  # (8, 8, 8)
    m = maps[1]
    expected = ((m - m.min()) / (m.max() - m.min())).numpy()
    assert np.allclose(np.asarray(fig.axes[7].images[0].get_array()), expected,
                       atol=1e-6)


def test_worst_misclassified_ranks_confident_mistakes_first():
    """Index order: wrong predictions, most confident first; titles say it."""
    logits = torch.tensor([[5.0, 0, 0], [0, 3.0, 0], [0, 0, 9.0], [1.0, 0, 0],
                           [0, 0.2, 0]])
    labels = torch.tensor([0, 0, 1, 2, 1])  # wrong: 1, 2, 3
    idx = plots.worst_misclassified(logits, labels, k=5)
    assert idx.tolist() == [2, 1, 3]
    images = torch.rand(5, 1, 4, 4)
    fig = plots.plot_worst_misclassified(images, logits, labels, ["x", "y", "z"], k=2)
    shown = image_axes(fig)
    assert len(shown) == 2
    assert shown[0].get_title() == "y -> z (1.00)"
    assert np.allclose(np.asarray(shown[0].images[0].get_array()), images[2, 0].numpy())
    with pytest.raises(ValueError, match="no misclassified"):
        plots.plot_worst_misclassified(images[:1], logits[:1], labels[:1], "xyz")


def test_neighbor_grid_puts_each_query_before_its_neighbors():
    """Row r: query r, then gallery[indices[r, j]], with distances in the titles."""
    g = torch.Generator().manual_seed(0)
    gallery = torch.rand(12, 3, 5, 5, generator=g)
    queries = gallery[[3, 7]] + 0.01
    dist, idx = nearest_neighbors(gallery.flatten(1), queries.flatten(1), k=3)
    fig = plots.plot_neighbors(queries.clamp(0, 1), gallery, idx, dist,
                               gallery_titles=[f"g{i}" for i in range(12)])
    assert len(fig.axes) == 2 * 4
    assert fig.axes[0].get_title() == "query"
    assert fig.axes[1].get_title().startswith("#1 g3 d=")
    assert fig.axes[5].get_title().startswith("#1 g7 d=")
    shown = np.asarray(fig.axes[6].images[0].get_array())
    assert np.allclose(shown, gallery[int(idx[1, 1])].permute(1, 2, 0).numpy())


def test_show_images_grid():
    """uint8 images are shown in [0, 1]; empty cells are switched off."""
    images = torch.randint(0, 256, (5, 1, 6, 6), dtype=torch.uint8)
    fig = plots.show_images(images, [str(i) for i in range(5)], cols=3)
    assert len(fig.axes) == 6 and len(image_axes(fig)) == 5
    assert np.allclose(np.asarray(fig.axes[4].images[0].get_array()),
                       images[4, 0].numpy() / 255)
    assert not fig.axes[5].axison
