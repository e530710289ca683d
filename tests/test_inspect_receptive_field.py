"""Receptive fields: the analytic rule against the gradient of one output unit."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from cnn_course import models
from cnn_course.analysis import (
    empirical_receptive_field,
    receptive_field,
    rf_window,
)

from models_helpers import IMAGENET, materialize, on_meta

torch.set_num_threads(1)


def stack(kernel, n, **kwargs):
    torch.manual_seed(0)
    return [nn.Conv2d(1, 1, kernel, **kwargs) for _ in range(n)]


def assert_agree(model, size, layers):
    """Analytic window (clipped to the image) == pixels with non-zero gradient."""
    table = receptive_field(model, size)
    for name in layers:
        row = table.row(name)
        measured = empirical_receptive_field(model, size, layer=name)
        window = rf_window(row, measured.position, size)
        assert window == (measured.lo, measured.hi), name
    return table


@pytest.mark.parametrize(
    ("kernel", "expected"), [(3, [3, 5, 7]), (5, [5, 9, 13])]
)
def test_stacks_of_3x3_and_5x5(kernel, expected):
    """3×3: 3, 5, 7; 5×5: 5, 9, 13 — analytic and measured."""
    layers = stack(kernel, 3)
    size = (1, 1, 31, 31)
    table = assert_agree(layers, size, ["0", "1", "2"])
    assert [table.row(n).size for n in "012"] == [(r, r) for r in expected]
    measured = [empirical_receptive_field(layers, size, layer=n).size for n in "012"]
    assert measured == [(r, r) for r in expected]


def test_two_3x3_see_as_far_as_one_5x5():
    """Same field, 18 K² instead of 25 K² weights per channel pair."""
    two = receptive_field(stack(3, 2), (1, 1, 15, 15))[-1]
    one = receptive_field(stack(5, 1), (1, 1, 15, 15))[-1]
    assert two.size == one.size == (5, 5)


def test_dilated_stack():
    """Dilations 1, 2, 4 on 3×3 kernels: fields 3, 7, 15 with jump 1."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 2, 3, dilation=1, padding=1),
              nn.Conv2d(2, 2, 3, dilation=2, padding=2),
              nn.Conv2d(2, 1, 3, dilation=4, padding=4)]
    table = assert_agree(layers, (1, 1, 33, 33), ["0", "1", "2"])
    assert [table.row(n).size for n in "012"] == [(3, 3), (7, 7), (15, 15)]
    assert table.row("2").jump == (1, 1)


def test_stride_pooling_and_start():
    """Stride 2 doubles the jump; padding moves the start; rectangles work per axis."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.MaxPool2d(2),
              nn.Conv2d(2, 1, (3, 5), padding=(0, 2))]
    table = assert_agree(layers, (1, 1, 40, 48), ["0", "1", "2"])
    assert table.row("0").jump == (2, 2) and table.row("0").start == (0, 0)
    assert table.row("1").size == (5, 5) and table.row("1").start == (1, 1)
    assert table.row("2").size == (13, 21) and table.row("2").jump == (4, 4)


def test_one_dimensional_signals():
    """Works on (N, C, L) too: two 5-tap convolutions see 9 samples."""
    torch.manual_seed(0)
    layers = [nn.Conv1d(1, 1, 5), nn.Conv1d(1, 1, 5)]
    table = assert_agree(layers, (1, 1, 40), ["0", "1"])
    assert table.row("1").size == (9,)


def test_lenet():
    """C1 5, S2 6, C3 14, S4 16, C5 32 (the whole 32×32 image)."""
    torch.manual_seed(0)
    model = models.lenet5("classic")
    names = ["features.c1", "features.s2", "features.c3", "features.s4", "features.c5"]
    table = assert_agree(model, (1, 1, 32, 32), names)
    assert [table.row(n).size[0] for n in names] == [5, 6, 14, 16, 32]
    modern = models.lenet5("modern")
    assert_agree(modern, (1, 1, 32, 32), ["features.c1", "features.s2", "features.c3",
                                          "features.s4"])


def test_vgg16():
    """conv5_3 sees 196 pixels, pool5 212; measured on a real VGG16 body at 224×224."""
    model = on_meta(models.vgg16)
    analytic = receptive_field(model, IMAGENET)
    features = materialize(model.features)
    pools = ["4", "9", "16", "23", "30"]
    table = assert_agree(features, IMAGENET, pools + ["29"])
    assert [table.row(n).size[0] for n in pools] == [6, 16, 44, 100, 212]
    assert table.row("29").size == (196, 196)  # conv5_3 (with its ReLU)
    # the same field whether the body runs alone or inside the whole (meta) model
    assert analytic.row("features.30") == replace(table.row("30"), name="features.30")
    assert analytic[-1].is_global  # the dense head sees everything


def test_resnet18():
    """Stages see 43, 99, 211 and 435 pixels; 435 fits unclipped in a 480×480 input."""
    torch.manual_seed(0)
    model = models.resnet18()
    stages = ["maxpool", "layer1", "layer2", "layer3", "layer4"]
    table = assert_agree(model, IMAGENET, stages)
    assert [table.row(n).size[0] for n in stages] == [11, 43, 99, 211, 435]
    assert [table.row(n).jump[0] for n in stages] == [4, 4, 8, 16, 32]
    big = (1, 3, 480, 480)
    row = receptive_field(model, big).row("layer4")
    measured = empirical_receptive_field(model, big, layer="layer4")
    assert measured.size == (435, 435)
    assert rf_window(row, measured.position) == (measured.lo, measured.hi)


def test_branches_join_as_a_union():
    """Residual sums and concatenations: the widest branch decides."""
    torch.manual_seed(0)
    google = models.googlenet(aux_logits=False, num_classes=10)
    table = assert_agree(google, IMAGENET, ["maxpool2", "inception3a", "inception3b"])
    # 3a's widest branch is its 3×3 (torchvision's "5×5" is 3×3 too): +2 jumps of 8
    assert table.row("inception3a").size[0] == table.row("maxpool2").size[0] + 2 * 8
    cifar = models.resnet_cifar(20)  # option A shortcuts slice x[:, :, ::2, ::2]
    assert_agree(cifar, (1, 3, 32, 32), ["layer1", "layer2.0", "layer3.0"])


def test_upsampling_is_refused_but_measurable():
    """Transposed convolutions have no single size/jump/start: analytic refuses."""
    torch.manual_seed(0)
    model = models.unet(base_channels=4)
    with pytest.raises(NotImplementedError, match="conv_transpose2d"):
        receptive_field(model, (1, 1, 188, 188))
    with pytest.raises(ValueError, match="needs real weights"):
        empirical_receptive_field(on_meta(models.unet), (1, 1, 188, 188))
    bottom = empirical_receptive_field(model, (1, 1, 188, 188), layer="down.4")
    assert bottom.size == (140, 140)
    assert receptive_field(model.down[0], (1, 1, 188, 188))[-1].size == (5, 5)


def test_without_linearising_relu_can_hide_the_field():
    """A ReLU that is off everywhere passes no gradient: why the default linearises."""
    conv = nn.Conv2d(1, 1, 3)
    with torch.no_grad():
        conv.weight.fill_(0.1)
        conv.bias.fill_(-100.0)  # pre-activations far below zero: the ReLU is off
    net = nn.Sequential(conv, nn.ReLU(), nn.Conv2d(1, 1, 3))
    with pytest.raises(RuntimeError, match="zero everywhere"):
        empirical_receptive_field(net, (1, 1, 9, 9), linearise=False)
    assert empirical_receptive_field(net, (1, 1, 9, 9)).size == (5, 5)


def test_rf_window_clips_to_the_image():
    """Padding extends the field past the image; a gradient sees the clipped window."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 1, 3, padding=1) for _ in range(4)]
    row = receptive_field(layers, (1, 1, 8, 8)).row("3")
    assert row.size == (9, 9) and row.start == (0, 0)
    assert rf_window(row, (0, 0)) == ((-4, -4), (4, 4))
    assert rf_window(row, (0, 0), (1, 1, 8, 8)) == ((0, 0), (4, 4))
    measured = empirical_receptive_field(layers, (1, 1, 8, 8), position=(0, 0))
    assert (measured.lo, measured.hi) == ((0, 0), (4, 4))


@pytest.mark.parametrize(
    ("builder", "kwargs", "layer", "size"),
    [
        (models.alexnet, {"variant": "paper"}, "features.pool5", 195),
        (models.vgg16, {}, "features.30", 212),
        (models.resnet, {"depth": 50, "layout": "v1"}, "layer4", 483),
        (models.resnet, {"depth": 101, "layout": "v1"}, "layer4", 1027),
        (models.resnet, {"depth": 152, "layout": "v1"}, "layer4", 1507),
        (models.mobilenet_v2, {}, "features.18", 491),
    ],
)
def test_published_receptive_fields(builder, kwargs, layer, size):
    """The last feature maps' fields as tabulated by Araujo, Norris and Sim
    ("Computing receptive fields of convolutional neural networks", Distill 2019)."""
    model = on_meta(builder, **kwargs)
    size_in = (1, 3, 227, 227) if builder is models.alexnet else IMAGENET
    assert receptive_field(model, size_in).row(layer).size == (size, size)
