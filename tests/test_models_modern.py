"""GoogLeNet, Highway networks, DenseNet-121 and MobileNetV2."""

import pytest
import torch
from torch import nn

from cnn_course.analysis import (
    count_macs,
    count_params,
    flop_counter_macs,
    inception_branch_cost,
)
from cnn_course.models import (
    REFERENCE,
    GoogLeNetOutputs,
    HighwayConv2d,
    HighwayLayer,
    Inception,
    InceptionNaive,
    InvertedResidual,
    densenet121,
    googlenet,
    highway_net,
    mobilenet_v2,
)
from cnn_course.models.googlenet import PAPER_OPS_MILLIONS, PAPER_TABLE_SLIPS

from models_helpers import IMAGENET, meta_forward, on_meta, to_stated_digits

torch.set_num_threads(1)


# ------------------------------------------------------------------ GoogLeNet

def test_googlenet_parameters():
    """6,624,904 without auxiliary heads (torchvision layout); 13,004,888 with them."""
    assert count_params(on_meta(googlenet, aux_logits=False)).total == 6_624_904
    assert REFERENCE["googlenet_torchvision"]["params"] == 6_624_904
    assert count_params(on_meta(googlenet, aux_logits=True)).total == 13_004_888
    paper = on_meta(googlenet, aux_logits=False, layout="paper")
    assert count_params(paper).total == REFERENCE["googlenet_paper"]["params"]


def test_googlenet_multiply_adds():
    """torchvision layout 1.50 G; FlopCounterMode agrees; paper layout as recorded."""
    model = on_meta(googlenet, aux_logits=False)
    macs = count_macs(model, IMAGENET)
    assert macs == REFERENCE["googlenet_torchvision"]["macs"]
    assert to_stated_digits(macs, "1.50") == REFERENCE["googlenet_torchvision"]["gmacs"]
    assert flop_counter_macs(model, IMAGENET) == macs
    paper = on_meta(googlenet, aux_logits=False, layout="paper")
    assert count_macs(paper, IMAGENET) == REFERENCE["googlenet_paper"]["macs"]


def test_googlenet_paper_layout_matches_table_one_ops():
    """Per-module MACs within 1 M of the paper's Table 1; its slips as recorded."""
    model = on_meta(googlenet, aux_logits=False, layout="paper")
    per_layer = count_macs(model, IMAGENET, by_layer=True)
    per_module: dict[str, int] = {}
    for name, macs in per_layer.items():
        top = name.split(".")[0]
        per_module[top] = per_module.get(top, 0) + macs
    per_module["conv2+conv3"] = per_module["conv2"] + per_module["conv3"]
    for name, millions in PAPER_OPS_MILLIONS.items():
        assert abs(per_module[name] / 1e6 - millions) < 1, name
    for name, slip in PAPER_TABLE_SLIPS.items():
        measured = per_module[name] / 1e6
        assert round(measured, 1) == slip["true"]
        assert abs(measured - slip["paper"]) > 2, name


def test_inception_modules_and_the_decks_arithmetic():
    """The decks' example is module 4a's 5×5 branch: 48 filters on 14×14×480."""
    torch.manual_seed(0)
    naive = InceptionNaive(480, 192, 208, 48)
    reduced = Inception(480, 192, 96, 208, 16, 48, 64)  # 4a of Table 1
    naive_5x5 = count_params(naive.branch3.conv).total - 48  # without biases
    reduced_5x5 = sum(count_params(m.conv).total - m.conv.out_channels
                      for m in reduced.branch3)
    assert naive_5x5 == inception_branch_cost().weights == 576_000
    assert reduced_5x5 == inception_branch_cost(reduce_channels=16).weights == 26_880
    assert count_macs(naive.branch3, (1, 480, 14, 14)) == 112_896_000
    assert count_macs(reduced.branch3, (1, 480, 14, 14)) == 5_268_480
    x = torch.randn(1, 480, 14, 14)
    with torch.no_grad():
        # the naive module's pooling branch passes all 480 channels through
        assert naive(x).shape == (1, 192 + 208 + 48 + 480, 14, 14)
        assert reduced(x).shape == (1, 192 + 208 + 48 + 64, 14, 14)
    assert naive.out_channels == 928 and reduced.out_channels == 512


def test_googlenet_layouts():
    """torchvision: BN and a 3×3 "5×5" branch; paper: 5×5, bias, LRN, no BN."""
    tv = on_meta(googlenet, aux_logits=False)
    paper = on_meta(googlenet, aux_logits=False, layout="paper")
    assert tv.inception3a.branch3[1].conv.kernel_size == (3, 3)
    assert paper.inception3a.branch3[1].conv.kernel_size == (5, 5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in tv.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in paper.modules())
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in paper.modules()) == 2
    widths = [getattr(paper, f"inception{n}").out_channels
              for n in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")]
    assert widths == [256, 480, 512, 512, 512, 528, 832, 832, 1024]


def test_googlenet_naive_network_explodes():
    """From naive modules, 5b would be 4,944 channels wide, the net 12.6 G MACs."""
    model = on_meta(googlenet, aux_logits=False, inception="naive")
    assert model.inception5b.out_channels == 4_944
    reduced = on_meta(googlenet, aux_logits=False)
    assert count_macs(model, IMAGENET) > 8 * count_macs(reduced, IMAGENET)
    assert meta_forward(model, (1, 3, 224, 224)).shape == (1, 1000)


def test_googlenet_auxiliary_heads_switch():
    """aux_logits=True: training returns (logits, aux1, aux2); eval only logits."""
    model = on_meta(googlenet, num_classes=10, aux_logits=True)
    model.train()
    out = meta_forward(model, (2, 3, 224, 224))
    assert isinstance(out, GoogLeNetOutputs)
    assert [t.shape for t in out] == [(2, 10)] * 3
    model.eval()
    assert meta_forward(model, (2, 3, 224, 224)).shape == (2, 10)
    no_aux = on_meta(googlenet, aux_logits=False).train()
    assert meta_forward(no_aux, (2, 3, 224, 224)).shape == (2, 1000)
    assert no_aux.aux1 is None and no_aux.aux2 is None


def test_googlenet_real_forward_and_bad_input():
    """A real eval forward at 224×224; the paper layout names its fixed input."""
    torch.manual_seed(0)
    model = googlenet(num_classes=10, aux_logits=True).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 10)
    message = r"googlenet \(paper layout\) expects \(N, 3, 224, 224\)"
    with pytest.raises(ValueError, match=message):
        meta_forward(on_meta(googlenet, layout="paper"), (1, 3, 256, 256))
    with pytest.raises(ValueError, match=r"googlenet expects \(N, 3, H, W\)"):
        meta_forward(on_meta(googlenet), (1, 1, 224, 224))


# -------------------------------------------------------------------- Highway

def test_highway_layer_formula():
    """y = H(x) T(x) + x (1 - T(x)), H = relu(W_H x + b_H), T = sigmoid(W_T x + b_T)."""
    torch.manual_seed(0)
    layer = HighwayLayer(6)
    assert torch.all(layer.gate.bias == -2.0)
    x = torch.randn(4, 6)
    h = torch.relu(x @ layer.transform.weight.T + layer.transform.bias)
    t = torch.sigmoid(x @ layer.gate.weight.T + layer.gate.bias)
    with torch.no_grad():
        assert torch.allclose(layer(x), h * t + x * (1 - t), atol=1e-6)


def test_highway_layer_carries_its_input_when_the_gate_is_closed():
    """With a very negative gate bias the layer passes its input through."""
    layer = HighwayLayer(5, gate_bias=-30.0)
    x = torch.randn(3, 5)
    with torch.no_grad():
        assert torch.allclose(layer(x), x, atol=1e-6)
    conv = HighwayConv2d(3, gate_bias=-30.0)
    img = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        assert torch.allclose(conv(img), img, atol=1e-6)


def test_highway_network():
    """The paper's MNIST nets: highway width 50 and plain width 71 have similar size."""
    torch.manual_seed(0)
    net = highway_net(depth=10)
    plain = highway_net(depth=10, kind="plain")
    # input layer + 9 layers (highway: H and T) + classifier
    assert count_params(net).total == (784 * 50 + 50) + 9 * 2 * (50 * 50 + 50) + 510
    assert count_params(plain).total == (784 * 71 + 71) + 9 * (71 * 71 + 71) + 720
    assert sum(isinstance(m, HighwayLayer) for m in net.modules()) == 9
    with torch.no_grad():
        assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
        assert highway_net(depth=50)(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    message = r"highway_net \(highway\) expects \(N, 1, 28, 28\)"
    with pytest.raises(ValueError, match=message):
        net(torch.zeros(2, 1, 32, 32))


# ------------------------------------------------------------------- DenseNet

def test_densenet121_counts():
    """7,978,856 parameters and 2.83 G MACs at 224×224."""
    model = on_meta(densenet121)
    assert count_params(model).total == REFERENCE["densenet121"]["params"] == 7_978_856
    macs = count_macs(model, IMAGENET, cross_check=True)
    assert macs == REFERENCE["densenet121"]["macs"]
    assert to_stated_digits(macs, "2.83") == "2.83"


def test_densenet_blocks_and_transitions():
    """Blocks of 6, 12, 24, 16 layers grow by 32; transitions halve width and map."""
    model = on_meta(densenet121)
    f = model.features
    layers = [len(getattr(f, f"denseblock{i}").layers) for i in range(1, 5)]
    assert layers == [6, 12, 24, 16]
    widths = [getattr(f, f"transition{i}").conv.out_channels for i in range(1, 4)]
    assert widths == [(64 + 6 * 32) // 2, (128 + 12 * 32) // 2, (256 + 24 * 32) // 2]
    assert model.classifier.in_features == 512 + 16 * 32 == 1024
    shapes = {}
    for name in ("denseblock1", "transition1", "denseblock4"):
        getattr(f, name).register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
    assert meta_forward(model, IMAGENET).shape == (1, 1000)
    assert shapes == {"denseblock1": (1, 256, 56, 56), "transition1": (1, 128, 28, 28),
                      "denseblock4": (1, 1024, 7, 7)}


def test_densenet_small_input_real_forward():
    """small_input: 32×32 images, a real forward to (N, classes)."""
    torch.manual_seed(0)
    model = densenet121(num_classes=10, small_input=True).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"densenet121 expects \(N, 3, H, W\)"):
        meta_forward(on_meta(densenet121), (1, 4, 224, 224))


# ---------------------------------------------------------------- MobileNetV2

def test_mobilenet_v2_counts():
    """3,504,872 parameters and 0.30 G MACs (300,774,272) at 224×224."""
    model = on_meta(mobilenet_v2)
    assert count_params(model).total == REFERENCE["mobilenet_v2"]["params"] == 3_504_872
    macs = count_macs(model, IMAGENET, cross_check=True)
    assert macs == REFERENCE["mobilenet_v2"]["macs"]
    assert to_stated_digits(macs, "0.30") == "0.30"


def test_inverted_residual_is_depthwise_separable():
    """Expand 1×1, depthwise 3×3 (groups = channels), linear 1×1, maybe a shortcut."""
    block = InvertedResidual(24, 24, stride=1, expand_ratio=6)
    expand, depthwise, project = block.conv[0][0], block.conv[1][0], block.conv[2]
    assert expand.kernel_size == (1, 1) and expand.out_channels == 144
    assert depthwise.groups == depthwise.in_channels == 144
    assert count_params(depthwise).total == 144 * 9
    assert project.kernel_size == (1, 1) and not isinstance(block.conv[-1], nn.ReLU6)
    assert block.use_residual
    assert not InvertedResidual(24, 32, stride=2, expand_ratio=6).use_residual
    assert count_macs(depthwise, (1, 144, 8, 8)) == 8 * 8 * 144 * 9


def test_mobilenet_v2_forward():
    """Real forward at 224×224 and at 32×32 with small_input."""
    torch.manual_seed(0)
    with torch.no_grad():
        assert mobilenet_v2().eval()(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
        small = mobilenet_v2(num_classes=10, small_input=True).eval()
        assert small(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"mobilenet_v2 expects \(N, 3, H, W\)"):
        meta_forward(on_meta(mobilenet_v2), (1, 1, 224, 224))
