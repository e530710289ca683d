"""ResNet: the paper's and torchvision's counts, where the stride sits, CIFAR nets."""

import pytest
import torch
from torch import nn

from cnn_course.analysis import count_macs, count_params, flop_counter_macs
from cnn_course.models import (
    REFERENCE,
    BasicBlock,
    Bottleneck,
    resnet,
    resnet18,
    resnet_cifar,
)

from models_helpers import IMAGENET, meta_forward, on_meta, to_stated_digits

torch.set_num_threads(1)

DEPTHS = (18, 34, 50, 101, 152)


@pytest.mark.parametrize("depth", DEPTHS)
def test_parameters_do_not_depend_on_layout(depth):
    """18: 11,689,512, 34: 21,797,672, 50: 25,557,032 (101, 152): v1 = v1.5."""
    counts = {layout: count_params(on_meta(resnet, depth, layout=layout)).total
              for layout in ("v1", "v1.5")}
    assert counts["v1"] == counts["v1.5"] == REFERENCE[f"resnet{depth}"]["params"]


def test_the_issues_parameter_counts():
    """The three counts the course quotes, against the models as built."""
    built = {d: count_params(on_meta(resnet, d)).total for d in (18, 34, 50)}
    assert built == {18: 11_689_512, 34: 21_797_672, 50: 25_557_032}


@pytest.mark.parametrize(
    ("depth", "layout", "stated"),
    [(18, "v1", "1.814"), (18, "v1.5", "1.814"), (34, "v1", "3.664"),
     (50, "v1.5", "4.089"), (50, "v1", "3.858"), (101, "v1", "7.570"),
     (152, "v1", "11.282")],
)
def test_multiply_adds_at_224(depth, layout, stated):
    """MACs to the stated digits, the recorded exact count, FlopCounterMode's count."""
    model = on_meta(resnet, depth, layout=layout)
    macs = count_macs(model, IMAGENET)
    assert to_stated_digits(macs, stated) == stated
    assert REFERENCE[f"resnet{depth}"]["gmacs"][layout] == stated
    assert macs == REFERENCE[f"resnet{depth}"]["macs"][layout]
    assert flop_counter_macs(model, IMAGENET) == macs


def test_v1_puts_the_stride_in_the_first_1x1_and_v15_in_the_3x3():
    """The downsampling bottleneck of each stage: where the stride-2 convolution is."""
    for layout, expected in (("v1", ((2, 2), (1, 1))), ("v1.5", ((1, 1), (2, 2)))):
        model = on_meta(resnet, 50, layout=layout)
        for stage in (model.layer2, model.layer3, model.layer4):
            block = stage[0]
            assert (block.conv1.stride, block.conv2.stride) == expected, layout
            assert block.conv3.stride == (1, 1)
            assert block.downsample[0].stride == (2, 2)


def test_blocks_and_projection_shortcuts():
    """expansion 1 and 4; projections only where width or size change."""
    assert BasicBlock.expansion == 1 and Bottleneck.expansion == 4
    r18 = on_meta(resnet18)
    assert all(b.downsample is None for b in r18.layer1)
    for stage in (r18.layer2, r18.layer3, r18.layer4):
        proj = stage[0].downsample[0]
        assert isinstance(proj, nn.Conv2d) and proj.kernel_size == (1, 1)
        assert all(b.downsample is None for b in stage[1:])
    r50 = on_meta(resnet, 50)
    proj = r50.layer1[0].downsample[0]  # 64 -> 256 channels, no stride
    assert (proj.in_channels, proj.out_channels, proj.stride) == (64, 256, (1, 1))
    blocks = {d: [len(s) for s in (m.layer1, m.layer2, m.layer3, m.layer4)]
              for d in DEPTHS for m in [on_meta(resnet, d)]}
    assert blocks == {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3],
                      101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


def test_forward_shapes():
    """224×224 -> (N, 1000) for a real ResNet-18; every depth on meta."""
    torch.manual_seed(0)
    with torch.no_grad():
        assert resnet18().eval()(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    for depth in DEPTHS:
        model = on_meta(resnet, depth, num_classes=10, in_channels=1)
        assert meta_forward(model, (2, 1, 224, 224)).shape == (2, 10)


def test_cifar_stem():
    """3×3 stride-1 stem, no max pooling: 32×32 -> 4×4 at the end; 11,173,962 params."""
    torch.manual_seed(0)
    model = resnet18(stem="cifar", num_classes=10)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert count_params(model).total == REFERENCE["resnet18_cifar_stem"]["params"]
    assert count_macs(model, (1, 3, 32, 32)) == REFERENCE["resnet18_cifar_stem"]["macs"]
    seen = {}

    def record(module, inputs, output):
        seen["shape"] = tuple(output.shape)

    model.layer4.register_forward_hook(record)
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert seen["shape"] == (2, 512, 4, 4)


@pytest.mark.parametrize("depth", (20, 32, 44, 56, 110))
def test_paper_cifar_resnets(depth):
    """6n + 2 layers, option A shortcuts: 0.27 M, 0.46 M, 0.66 M, 0.85 M, 1.7 M."""
    model = on_meta(resnet_cifar, depth)
    params = count_params(model).total
    ref = REFERENCE["resnet_cifar"]
    assert params == ref["params"][depth]
    stated = ref["params_millions"][depth]
    decimals = len(stated.split(".")[1])
    assert f"{params / 1e6:.{decimals}f}" == stated
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == depth  # + the dense layer


def test_option_a_shortcut_runs_and_pads_with_zeros():
    """ResNet-20 forward on 32×32; the shortcut subsamples and zero-pads channels."""
    torch.manual_seed(0)
    model = resnet_cifar(20).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        shortcut = model.layer2[0].downsample
        x = torch.randn(1, 16, 8, 8)
        y = shortcut(x)
    assert y.shape == (1, 32, 4, 4)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert torch.all(y[:, :8] == 0) and torch.all(y[:, 24:] == 0)


def test_zero_init_residual():
    """zero_init_residual=True zeroes the last BN scale of every block."""
    model = on_meta(resnet, 50, zero_init_residual=True)
    assert isinstance(model.layer1[0].bn3.weight, torch.Tensor)
    torch.manual_seed(0)
    real = resnet18(zero_init_residual=True)
    blocks = [*real.layer1, *real.layer4]
    assert all(torch.all(b.bn2.weight == 0) for b in blocks)


def test_wrong_input_and_arguments():
    """Wrong channels name the expected input; unknown depth, layout, stem refused."""
    with pytest.raises(ValueError, match=r"resnet18 expects \(N, 3, H, W\)"):
        meta_forward(on_meta(resnet18), (1, 1, 224, 224))
    message = r"resnet20 \(cifar\) expects \(N, 3, 32, 32\)"
    with pytest.raises(ValueError, match=message):
        meta_forward(on_meta(resnet_cifar, 20), (1, 3, 64, 64))
    with pytest.raises(ValueError, match="expected depth"):
        resnet(42)
    with pytest.raises(ValueError, match="expected layout"):
        resnet(50, layout="v2")
    with pytest.raises(ValueError, match="expected stem"):
        resnet(50, stem="tiny")
    with pytest.raises(ValueError, match="6n"):
        resnet_cifar(21)
