"""The rest of the zoo: SqueezeNet, ShuffleNet v1, ResNeXt-50, SE-ResNet-50, Xception,
Inception-ResNet v1 and v2, against their papers and torchvision."""

import pytest
import torch
from torch import nn

from cnn_course.analysis import count_macs, count_params, flop_counter_macs
from cnn_course.models import (
    REFERENCE,
    Fire,
    SeparableConv2d,
    ShuffleUnit,
    SqueezeExcitation,
    channel_shuffle,
    inception_resnet,
    resnet,
    resnet_cifar,
    resnext50_32x4d,
    se_resnet50,
    shufflenet_v1,
    squeezenet,
    xception,
)
from cnn_course.models.inception_resnet import PAPER_SLIPS
from cnn_course.models.shufflenet import PAPER_MFLOPS
from cnn_course.models.xception import XceptionBlock

from models_helpers import IMAGENET, meta_forward, on_meta, to_stated_digits

torch.set_num_threads(1)

INCEPTION_SIZE = (1, 3, 299, 299)


def stage_shapes(model: nn.Module, names: list[str],
                 size: tuple[int, ...]) -> dict[str, tuple[int, int, int]]:
    """(height, width, channels) after each named child, from a meta forward pass."""
    shapes: dict[str, tuple[int, int, int]] = {}
    handles = []
    for name in names:
        def hook(module, inputs, output, name=name):
            shapes[name] = (output.shape[2], output.shape[3], output.shape[1])
        handles.append(getattr(model, name).register_forward_hook(hook))
    try:
        meta_forward(model.eval(), size)
    finally:
        for handle in handles:
            handle.remove()
    return shapes


# ----------------------------------------------------------------- SqueezeNet

@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_squeezenet_counts(version):
    """torchvision: 1,248,424 and 1,235,496 parameters; 0.82 and 0.35 GFLOPS."""
    key = "squeezenet" + version.replace(".", "_")
    model = on_meta(squeezenet, version)
    assert count_params(model).total == REFERENCE[key]["params"]
    macs = count_macs(model, IMAGENET, cross_check=True)
    assert macs == REFERENCE[key]["macs"]
    assert to_stated_digits(macs, REFERENCE[key]["gmacs"]) == REFERENCE[key]["gmacs"]


def test_squeezenet_counts_are_torchvisions_and_11_is_cheaper():
    """The numbers as torchvision states them; 1.1 needs 2.4× fewer multiply-adds."""
    assert REFERENCE["squeezenet1_0"]["params"] == 1_248_424
    assert REFERENCE["squeezenet1_1"]["params"] == 1_235_496
    ratio = REFERENCE["squeezenet1_0"]["macs"] / REFERENCE["squeezenet1_1"]["macs"]
    assert round(ratio, 1) == 2.3 and ratio > 2.3  # "2.4x less computation"


def test_fire_module_and_the_missing_dense_layer():
    """A fire module concatenates its 1×1 and 3×3 expands; conv10 is the head."""
    fire = Fire(96, 16, 64, 64)
    with torch.no_grad():
        assert fire(torch.randn(2, 96, 9, 9)).shape == (2, 128, 9, 9)
    # squeeze 96·16 + 16, expand 16·64 + 64 and 9·16·64 + 64
    assert count_params(fire).total == 1552 + 1088 + 9280
    model = on_meta(squeezenet, "1.0", num_classes=10)
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    assert model.final_conv.kernel_size == (1, 1)
    assert meta_forward(model, (2, 3, 224, 224)).shape == (2, 10)


def test_squeezenet_names_its_smallest_input():
    """1.0 needs 21×21 (1.1: 17×17), and the channels it was built for."""
    with pytest.raises(ValueError, match=r"squeezenet 1.0 expects .*at least 21"):
        meta_forward(on_meta(squeezenet, "1.0"), (1, 3, 20, 20))
    assert meta_forward(on_meta(squeezenet, "1.1"), (1, 3, 17, 17)).shape == (1, 1000)
    with pytest.raises(ValueError, match=r"squeezenet 1.1 expects \(N, 1, H, W\)"):
        meta_forward(on_meta(squeezenet, "1.1", in_channels=1), (1, 3, 64, 64))


# ----------------------------------------------------------------- ShuffleNet

def test_shufflenet_g3_stage_shapes_are_table_one():
    """28×28×240, 14×14×480, 7×7×960 after stages 2, 3 and 4 for g = 3."""
    model = on_meta(shufflenet_v1, groups=3)
    expected = REFERENCE["shufflenet_v1_g3"]["stages"]
    assert stage_shapes(model, list(expected), IMAGENET) == expected


def test_shufflenet_complexity_is_table_one():
    """g = 3: 137 M multiply-adds as in the paper; every g within 1.5 M of Table 1."""
    model = on_meta(shufflenet_v1, groups=3)
    macs = count_macs(model, IMAGENET, cross_check=True)
    assert macs == REFERENCE["shufflenet_v1_g3"]["macs"]
    assert round(macs / 1e6) == REFERENCE["shufflenet_v1_g3"]["paper_mflops"] == 137
    assert count_params(model).total == REFERENCE["shufflenet_v1_g3"]["params"]
    for groups, paper in PAPER_MFLOPS.items():
        built = count_macs(on_meta(shufflenet_v1, groups=groups), IMAGENET) / 1e6
        assert abs(built - paper) < 1.5, (groups, built, paper)


def test_channel_shuffle_interleaves_the_groups():
    """[a1 a2 | b1 b2 | c1 c2] -> [a1 b1 c1 a2 b2 c2], and it is a permutation."""
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    y = torch.randn(2, 12, 3, 3)
    assert torch.equal(channel_shuffle(y, 4).sort(dim=1).values,
                       y.sort(dim=1).values)


def test_shuffle_units_add_or_concatenate():
    """Stride 1 adds (same width); stride 2 concatenates the pooled input."""
    torch.manual_seed(0)
    unit = ShuffleUnit(240, 240, groups=3).eval()
    down = ShuffleUnit(240, 480, groups=3, stride=2).eval()
    x = torch.randn(2, 240, 8, 8)
    with torch.no_grad():
        assert unit(x).shape == (2, 240, 8, 8)
        out = down(x)
    assert out.shape == (2, 480, 4, 4)
    assert down.conv3.out_channels == 240 and down.conv3.groups == 3
    pooled = nn.functional.avg_pool2d(x, 3, stride=2, padding=1)
    assert torch.allclose(out[:, :240], torch.relu(pooled))


def test_shufflenet_small_input_runs_for_real():
    """small_input: a real forward and backward on 32×32 images."""
    torch.manual_seed(0)
    model = shufflenet_v1(groups=3, num_classes=10, small_input=True)
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10)
    with pytest.raises(ValueError, match=r"shufflenet_v1 \(g=3, 1x\) expects"):
        meta_forward(on_meta(shufflenet_v1), (1, 3, 16, 16))


# -------------------------------------------------------------------- ResNeXt

def test_resnext50_counts():
    """torchvision: 25,028,904 parameters, 4.23 GFLOPS; the paper: 25.0 M, 4.2 G."""
    model = on_meta(resnext50_32x4d)
    ref = REFERENCE["resnext50_32x4d"]
    params = count_params(model).total
    assert params == ref["params"] == 25_028_904
    macs = count_macs(model, IMAGENET)
    assert macs == ref["macs"] and flop_counter_macs(model, IMAGENET) == macs
    assert to_stated_digits(macs, ref["gmacs"]) == ref["gmacs"]
    assert f"{params / 1e6:.1f}" == ref["paper"]["params_millions"]
    assert to_stated_digits(macs, ref["paper"]["gflops"]) == ref["paper"]["gflops"]


def test_resnext_block_is_32_groups_of_4():
    """Stage 1: a 128-wide 3×3 in 32 groups; cardinality is a grouped convolution."""
    model = on_meta(resnext50_32x4d)
    widths = [(stage[0].conv2.in_channels, stage[0].conv2.groups)
              for stage in (model.layer1, model.layer2, model.layer3, model.layer4)]
    assert widths == [(128, 32), (256, 32), (512, 32), (1024, 32)]
    # one grouped 3×3 equals 32 separate 4-channel convolutions side by side
    torch.manual_seed(0)
    grouped = nn.Conv2d(128, 128, 3, padding=1, groups=32, bias=False)
    x = torch.randn(1, 128, 6, 6)
    paths = [nn.functional.conv2d(x[:, 4 * i:4 * i + 4],
                                  grouped.weight[4 * i:4 * i + 4], padding=1)
             for i in range(32)]
    with torch.no_grad():
        assert torch.allclose(grouped(x), torch.cat(paths, 1), atol=1e-5)


def test_plain_resnet_is_unchanged_by_the_group_arguments():
    """groups=1, width_per_group=64 is ResNet-50; a BasicBlock refuses groups."""
    assert count_params(on_meta(resnet, 50)).total == REFERENCE["resnet50"]["params"]
    with pytest.raises(ValueError, match="BasicBlock only supports groups=1"):
        from cnn_course.models import BasicBlock
        BasicBlock(64, 64, groups=32)


# ------------------------------------------------------------------ SE-ResNet

def test_se_resnet50_counts():
    """28,088,024 = ResNet-50 + 2,530,992 in the SE blocks (the paper: ~2.5 M more)."""
    model = on_meta(se_resnet50)
    ref = REFERENCE["se_resnet50"]
    se_params = sum(count_params(m).total for m in model.modules()
                    if isinstance(m, SqueezeExcitation))
    assert se_params == ref["se_params"]
    assert f"{se_params / 1e6:.1f}" == ref["paper"]["extra_params_millions"]
    total = count_params(model).total
    assert total == ref["params"] == REFERENCE["resnet50"]["params"] + se_params
    assert f"{total / 1e6:.1f}" == "28.1"
    for layout in ("v1", "v1.5"):
        macs = count_macs(on_meta(se_resnet50, layout=layout), IMAGENET,
                          cross_check=True)
        assert macs == ref["macs"][layout]


def test_se_resnet50_multiply_adds_against_the_paper():
    """As built 3.8605 G (conv and dense); the paper's 3.87 also counts the SE
    pooling's additions and the scaling's multiplications; ResNet-50 is 3.86."""
    ref = REFERENCE["se_resnet50"]
    macs = ref["macs"]["v1"]
    assert to_stated_digits(macs, "3.86") == ref["paper"]["resnet50_gflops"]
    resnet_macs = REFERENCE["resnet50"]["macs"]["v1"]
    assert to_stated_digits(resnet_macs, "3.86") == "3.86"
    # every SE block pools and rescales a C×H×W map: C·H·W operations each
    elementwise = sum(c * hw * hw * n for c, hw, n in
                      ((256, 56, 3), (512, 28, 4), (1024, 14, 6), (2048, 7, 3)))
    assert elementwise == 5_519_360
    assert to_stated_digits(macs + 2 * elementwise, "3.87") == ref["paper"]["gflops"]


def test_squeeze_excitation_rescales_channels():
    """y = x · sigmoid(W2 relu(W1 mean(x))), one weight in (0, 1) per channel."""
    torch.manual_seed(0)
    se = SqueezeExcitation(32, reduction=16)
    assert se.fc1.out_features == 2
    x = torch.randn(3, 32, 5, 5)
    s = x.mean(dim=(2, 3))
    w = torch.sigmoid(se.fc2(torch.relu(se.fc1(s))))
    with torch.no_grad():
        assert torch.allclose(se(x), x * w[:, :, None, None], atol=1e-6)
        weights = se.weights(x)
    assert weights.shape == (3, 32) and bool(((weights > 0) & (weights < 1)).all())


# ------------------------------------------------------------------- Xception

def test_xception_parameters_are_table_three():
    """22,855,952 parameters, the paper's Table 3 to the last digit."""
    model = on_meta(xception)
    assert count_params(model).total == REFERENCE["xception"]["params"] == 22_855_952
    macs = count_macs(model, INCEPTION_SIZE, cross_check=True)
    assert macs == REFERENCE["xception"]["macs"]


def test_xception_flows():
    """Entry flow to 19×19×728, eight middle blocks, exit flow to 10×10×2048."""
    model = on_meta(xception)
    shapes = stage_shapes(model, ["entry_flow", "middle_flow", "exit_flow"],
                          INCEPTION_SIZE)
    assert shapes == {"entry_flow": (19, 19, 728), "middle_flow": (19, 19, 728),
                      "exit_flow": (10, 10, 2048)}
    middle = list(model.middle_flow)
    assert len(middle) == 8 and all(isinstance(b.skip, nn.Identity) for b in middle)


def test_separable_convolution_weights():
    """A 3×3 separable conv from C to C' has 9C + CC' weights instead of 9CC'."""
    sep = SeparableConv2d(728, 728)
    assert count_params(sep).total == 9 * 728 + 728 * 728
    assert count_params(nn.Conv2d(728, 728, 3, bias=False)).total == 9 * 728 * 728
    assert not any(isinstance(m, (nn.ReLU, nn.BatchNorm2d)) for m in sep.modules())


def test_xception_block_keeps_its_input_for_the_shortcut():
    """The first ReLU is not in place: the identity shortcut adds the raw input."""
    torch.manual_seed(0)
    block = XceptionBlock(8, [8, 8, 8]).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        before = x.clone()
        out = block(x)
        assert torch.equal(x, before)
        assert torch.allclose(out, block.rep(before) + before, atol=1e-6)
    with pytest.raises(ValueError, match=r"xception expects \(N, 3, H, W\)"):
        meta_forward(on_meta(xception), (1, 3, 16, 16))


# ----------------------------------------------------------- Inception-ResNet

STAGES = ["stem", "blocks_a", "reduction_a", "blocks_b", "reduction_b", "blocks_c"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_inception_resnet_stage_shapes(version):
    """v1: Figure 15's 35×35×256, 17×17×896, 8×8×1792; v2: 384, 1152, 2144."""
    ref = REFERENCE[f"inception_resnet_{version}"]
    model = on_meta(inception_resnet, version)
    assert stage_shapes(model, STAGES, INCEPTION_SIZE) == ref["stages"]
    assert [len(model.blocks_a), len(model.blocks_b), len(model.blocks_c)] == [5, 10, 5]
    assert count_params(model).total == ref["params"]
    assert count_macs(model, INCEPTION_SIZE, cross_check=True) == ref["macs"]


def test_inception_resnet_v2_fixes_the_papers_widths():
    """Figures 17 and 19 print 1154 and 2048; the sum needs 1152 and 2144."""
    model = on_meta(inception_resnet, "v2")
    slips = PAPER_SLIPS["inception_resnet_v2"]
    built = {"blocks_b.up": model.blocks_b[0].up.out_channels,
             "blocks_c.up": model.blocks_c[0].up.out_channels}
    for name, slip in slips.items():
        assert built[name] == slip["true"] != slip["paper"], name
    assert built["blocks_b.up"] == 384 + 384 + 384  # Reduction-A's three paths
    assert built["blocks_c.up"] == 1152 + 384 + 288 + 320  # Reduction-B's four


def test_inception_resnet_block_is_a_scaled_linear_residual():
    """y = relu(x + scale · up(concat(branches))); up is linear (no BN, no ReLU)."""
    torch.manual_seed(0)
    model = inception_resnet("v1", num_classes=10)
    block = model.blocks_a[0].eval()
    x = torch.randn(1, 256, 7, 7)
    with torch.no_grad():
        joined = torch.cat([b(x) for b in block.branches], 1)
        assert joined.shape == (1, 96, 7, 7)
        expected = torch.relu(x + block.scale * block.up(joined))
        assert torch.allclose(block(x), expected, atol=1e-6)
    assert 0.1 <= block.scale <= 0.3
    with pytest.raises(ValueError, match=r"inception_resnet_v1 expects .*least 75"):
        meta_forward(on_meta(inception_resnet, "v1"), (1, 3, 74, 74))


# ------------------------------------------------- the plain twin of ResNet

def test_plain_cifar_network_is_resnet_without_the_additions():
    """plain=True: the same parameters; each block computes relu(F(x)), not
    relu(F(x) + x). The input check names the plain network."""
    torch.manual_seed(0)
    plain = resnet_cifar(20, plain=True).eval()
    torch.manual_seed(0)
    residual = resnet_cifar(20).eval()
    assert count_params(plain) == count_params(residual)
    assert count_params(plain).total == REFERENCE["resnet_cifar"]["params"][20]
    block_p, block_r = plain.layer1[0], residual.layer1[0]
    block_p.load_state_dict(block_r.state_dict())
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        f = block_r.bn2(block_r.conv2(block_r.relu(block_r.bn1(block_r.conv1(x)))))
        assert torch.allclose(block_p(x), torch.relu(f), atol=1e-6)
        assert torch.allclose(block_r(x), torch.relu(f + x), atol=1e-6)
    with pytest.raises(ValueError, match=r"plain20 \(cifar\) expects \(N, 3, 32, 32\)"):
        meta_forward(on_meta(resnet_cifar, 20, plain=True), (1, 3, 28, 28))
