"""AlexNet and VGG: the papers' parameter and multiply-add counts, shapes, bad input."""

import pytest
import torch
from torch import nn

from cnn_course.analysis import count_macs, count_params, flop_counter_macs
from cnn_course.models import REFERENCE, alexnet, cfgs, vgg, vgg11, vgg16
from cnn_course.models.vgg import DEPTHS, PAPER_PARAMS_MILLIONS

from models_helpers import IMAGENET, meta_forward, on_meta, to_stated_digits

torch.set_num_threads(1)


# ------------------------------------------------------------------- AlexNet

def test_alexnet_parameter_counts():
    """Paper (two towers): 60,965,224; single tower (torchvision): 61,100,840."""
    assert count_params(on_meta(alexnet, "paper")).total == 60_965_224
    assert count_params(on_meta(alexnet, "single")).total == 61_100_840
    assert REFERENCE["alexnet_single"]["params"] == 61_100_840


def test_alexnet_multiply_adds():
    """Single: 0.714 G at 224×224 (714,188,480); paper: 724,406,816 at 227×227."""
    single = on_meta(alexnet, "single")
    macs = count_macs(single, IMAGENET)
    assert to_stated_digits(macs, "0.714") == "0.714"
    assert REFERENCE["alexnet_single"]["gmacs"] == "0.714"
    assert macs == REFERENCE["alexnet_single"]["macs"]
    assert flop_counter_macs(single, IMAGENET) == macs
    paper = on_meta(alexnet, "paper")
    assert count_macs(paper, (1, 3, 227, 227)) == REFERENCE["alexnet_paper"]["macs"]


def test_alexnet_paper_towers_lrn_and_dropout():
    """conv2, conv4, conv5 in two groups; LRN with the paper's constants; dropout."""
    model = on_meta(alexnet, "paper")
    convs = {name: m for name, m in model.features.named_children()
             if isinstance(m, nn.Conv2d)}
    assert {name: m.groups for name, m in convs.items()} == {
        "conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    lrns = [m for m in model.modules() if isinstance(m, nn.LocalResponseNorm)]
    assert len(lrns) == 2
    for lrn in lrns:  # torch divides alpha by size; the paper's alpha is 1e-4
        assert (lrn.size, lrn.k, lrn.beta) == (5, 2.0, 0.75)
        assert lrn.alpha / lrn.size == pytest.approx(1e-4)
    drops = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.5, 0.5]
    single = on_meta(alexnet, "single")
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in single.modules())


def test_alexnet_paper_init_biases():
    """Biases 1 in conv2, conv4, conv5 and the dense layers, 0 in conv1 and conv3."""
    torch.manual_seed(0)
    model = alexnet("paper", num_classes=10)
    f = model.features
    assert torch.all(f.conv1.bias == 0) and torch.all(f.conv3.bias == 0)
    assert all(torch.all(m.bias == 1) for m in (f.conv2, f.conv4, f.conv5))
    assert torch.all(model.classifier.fc6.bias == 1)
    assert abs(float(f.conv1.weight.detach().std()) - 0.01) < 0.001


def test_alexnet_forward_shapes():
    """Single: (N, 3, 224, 224) -> (N, classes); paper: 227×227."""
    torch.manual_seed(0)
    with torch.no_grad():
        out = alexnet("single", num_classes=10).eval()(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 10)
    assert meta_forward(on_meta(alexnet, "paper"), (2, 3, 227, 227)).shape == (2, 1000)
    gray = on_meta(alexnet, "single", num_classes=7, in_channels=1)
    assert meta_forward(gray, (2, 1, 224, 224)).shape == (2, 7)


@pytest.mark.parametrize(
    ("variant", "shape", "message"),
    [
        ("single", (1, 3, 227, 227), r"alexnet single expects \(N, 3, 224, 224\)"),
        ("paper", (1, 3, 224, 224), r"alexnet paper expects \(N, 3, 227, 227\)"),
        ("paper", (1, 1, 227, 227), r"alexnet paper expects \(N, 3, 227, 227\)"),
    ],
)
def test_alexnet_wrong_input(variant, shape, message):
    """The dense head is tied to one input size; the error names it."""
    with pytest.raises(ValueError, match=message):
        meta_forward(on_meta(alexnet, variant), shape)


# ----------------------------------------------------------------------- VGG

@pytest.mark.parametrize("config", sorted(cfgs))
def test_vgg_parameters_and_macs_as_built(config):
    """Every configuration matches the recorded counts and the paper's Table 2."""
    model = on_meta(vgg, config)
    params = count_params(model).total
    ref = REFERENCE[f"vgg_{config}"]
    assert params == ref["params"]
    assert round(params / 1e6) == PAPER_PARAMS_MILLIONS[config]
    assert count_macs(model, IMAGENET) == ref["macs"]


def test_vgg16_and_vgg11_reference_numbers():
    """VGG16 138,357,544 parameters and 15.47 G MACs; VGG11 132,863,336."""
    model = on_meta(vgg16)
    assert count_params(model).total == 138_357_544
    macs = count_macs(model, IMAGENET, cross_check=True)
    assert to_stated_digits(macs, "15.47") == "15.47" == REFERENCE["vgg_D"]["gmacs"]
    assert count_params(on_meta(vgg11)).total == 132_863_336


@pytest.mark.parametrize("config", sorted(cfgs))
def test_vgg_weight_layers_match_the_name(config):
    """A has 11 weight layers, B 13, C and D 16, E 19 (conv + dense)."""
    model = on_meta(vgg, config)
    weight_layers = [m for m in model.modules()
                     if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weight_layers) == DEPTHS[config]
    one_by_one = [m for m in model.modules()
                  if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    assert len(one_by_one) == (3 if config == "C" else 0)
    lrn = [m for m in model.modules() if isinstance(m, nn.LocalResponseNorm)]
    assert len(lrn) == (1 if config == "A-LRN" else 0)


def test_vgg_batch_norm_variant():
    """batch_norm=True adds BN after each conv: vgg16_bn has 138,365,992 parameters."""
    for config, key in (("A", "vgg_A_bn"), ("D", "vgg_D_bn"), ("E", "vgg_E_bn")):
        model = on_meta(vgg, config, batch_norm=True)
        assert count_params(model).total == REFERENCE[key]["params"]
    bn_model = on_meta(vgg16, batch_norm=True)
    bns = [m for m in bn_model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 13


def test_vgg_forward_shapes():
    """224×224 -> (N, 1000); small_input: 32×32 -> (N, classes) on a real forward."""
    assert meta_forward(on_meta(vgg16), (2, 3, 224, 224)).shape == (2, 1000)
    torch.manual_seed(0)
    small = vgg11(num_classes=10, small_input=True, batch_norm=True).eval()
    with torch.no_grad():
        assert small(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    gray = on_meta(vgg, "C", num_classes=5, in_channels=1)
    assert meta_forward(gray, (1, 1, 224, 224)).shape == (1, 5)


def test_vgg_wrong_input():
    """The 512×7×7 dense head needs 224×224; the error names it."""
    with pytest.raises(ValueError, match=r"vgg D expects \(N, 3, 224, 224\)"):
        meta_forward(on_meta(vgg16), (1, 3, 256, 256))
    with pytest.raises(ValueError, match=r"vgg A expects \(N, 3, 32, 32\)"):
        meta_forward(on_meta(vgg11, small_input=True), (1, 3, 28, 28))
    with pytest.raises(ValueError, match="expected config"):
        vgg("F")
