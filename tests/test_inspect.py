"""cnn_course.analysis: parameter and MAC counts, the decks' arithmetic, summary."""

import pytest
import torch
from torch import nn

from cnn_course import models
from cnn_course.analysis import (
    Cost,
    conv_cost,
    count_macs,
    count_params,
    flop_counter_macs,
    format_macs,
    gap_saving,
    inception_branch_cost,
    summary,
)

from models_helpers import IMAGENET, on_meta

torch.set_num_threads(1)


# ------------------------------------------------------------------- params

def test_count_params_total_and_trainable():
    """Frozen parameters count in the total only; buffers never; shared ones once."""
    shared = nn.Linear(4, 4)  # 20 parameters
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), shared, shared)
    net[0].weight.requires_grad_(False)  # 216 frozen
    assert count_params(net) == (224 + 16 + 20, 8 + 16 + 20)
    assert count_params(net).total == 260 and count_params(net).trainable == 44


# --------------------------------------------------------------------- MACs

@pytest.mark.parametrize(
    ("layer", "size", "expected"),
    [
        (nn.Conv2d(3, 8, 3, padding=1), (1, 3, 10, 10), 10 * 10 * 8 * 3 * 9),
        (nn.Conv2d(3, 8, 3, stride=2), (2, 3, 11, 11), 2 * 5 * 5 * 8 * 3 * 9),
        (nn.Conv2d(8, 8, 3, padding=1, groups=8), (1, 8, 6, 6), 6 * 6 * 8 * 9),
        (nn.Conv2d(4, 6, 3, padding=2, dilation=2), (1, 4, 7, 7), 7 * 7 * 6 * 4 * 9),
        (nn.ConvTranspose2d(4, 2, 2, stride=2), (1, 4, 5, 5), 5 * 5 * 4 * 2 * 4),
        (nn.Conv1d(2, 3, 5), (1, 2, 20), 16 * 3 * 2 * 5),
        (nn.Linear(10, 7), (3, 10), 3 * 10 * 7),
    ],
)
def test_count_macs_by_hand_and_flop_counter(layer, size, expected):
    """Hand-computed multiply-adds (bias not counted); FlopCounterMode / 2 agrees."""
    assert count_macs(layer, size) == expected
    assert flop_counter_macs(layer, size) == expected
    assert count_macs(layer, size, cross_check=True) == expected


def test_count_macs_by_layer_and_batch():
    """by_layer names each conv/linear layer; the count covers the whole batch."""
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(),
                        nn.Linear(2 * 4 * 4, 3))
    by_layer = count_macs(net, (1, 1, 6, 6), by_layer=True)
    assert by_layer == {"0": 16 * 2 * 9, "3": 32 * 3}
    assert count_macs(net, (1, 1, 6, 6)) == 384
    assert count_macs(net, (5, 1, 6, 6)) == 5 * 384
    with pytest.raises(ValueError, match="batch axis"):
        count_macs(net, (6,))


def test_count_macs_leaves_the_model_alone():
    """Counting runs on meta tensors: weights, device and training mode unchanged."""
    torch.manual_seed(0)
    model = models.lenet5("modern").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_macs(model, (1, 1, 32, 32))
    flop_counter_macs(model, (1, 1, 32, 32))
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].device.type == "cpu"
               for k in before)


def test_cross_check_catches_a_disagreement():
    """A matmul count_macs does not see makes cross_check raise."""

    class Hidden(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(4, 4))

        def forward(self, x):
            return x @ self.w  # not a Linear module: FlopCounterMode sees it

    with pytest.raises(RuntimeError, match="FlopCounterMode"):
        count_macs(Hidden(), (2, 4), cross_check=True)


ZOO = [
    ("lenet5", {}, (1, 1, 32, 32)),
    ("alexnet", {"variant": "paper"}, (1, 3, 227, 227)),
    ("vgg", {"config": "A-LRN"}, IMAGENET),
    ("googlenet", {"layout": "paper"}, IMAGENET),
    ("resnet", {"depth": 50, "layout": "v1"}, IMAGENET),
    ("resnet_cifar", {"depth": 20}, (1, 3, 32, 32)),
    ("highway_net", {}, (1, 1, 28, 28)),
    ("densenet121", {"small_input": True}, (1, 3, 32, 32)),
    ("mobilenet_v2", {"small_input": True}, (1, 3, 32, 32)),
    ("fcn", {"backbone": "resnet18", "skips": "8s"}, (1, 3, 64, 64)),
    ("unet", {}, (1, 1, 572, 572)),
]


@pytest.mark.parametrize(("builder", "kwargs", "size"), ZOO, ids=[z[0] for z in ZOO])
def test_count_macs_agrees_with_flop_counter_on_the_zoo(builder, kwargs, size):
    """Hooks on conv/linear layers and FlopCounterMode count the same on every model."""
    model = on_meta(getattr(models, builder), **kwargs)
    assert count_macs(model, size, cross_check=True) > 0


def test_format_macs():
    """The papers' style: 1.814G, 112.896M, 26.880K."""
    assert format_macs(1_814_073_344) == "1.814G"
    assert format_macs(112_896_000, 1) == "112.9M"
    assert format_macs(999) == "999"


# --------------------------------------------------------- decks' arithmetic

def test_inception_arithmetic_from_the_decks():
    """5×5×48 on 14×14×480: 576,000 weights, 112.9 M MACs; after a 16-ch 1×1: 26,880
    weights, 5.27 M MACs."""
    naive = inception_branch_cost(14, 14, 480, 48, 5)
    assert naive == Cost(576_000, 112_896_000)
    assert format_macs(naive.macs, 1) == "112.9M"
    reduced = inception_branch_cost(14, 14, 480, 48, 5, reduce_channels=16)
    assert reduced == Cost(26_880, 5_268_480)
    assert format_macs(reduced.macs, 2) == "5.27M"
    # the deck's split: 1.5 M for the 1×1 and 3.8 M for the 5×5
    assert conv_cost(14, 14, 480, 16, 1).macs == 1_505_280
    assert conv_cost(14, 14, 16, 48, 5).macs == 3_763_200


def test_inception_arithmetic_matches_real_layers():
    """The same numbers counted on nn.Conv2d layers without bias."""
    naive = nn.Conv2d(480, 48, 5, padding=2, bias=False)
    assert count_params(naive).total == 576_000
    assert count_macs(naive, (1, 480, 14, 14)) == 112_896_000
    reduced = nn.Sequential(nn.Conv2d(480, 16, 1, bias=False),
                            nn.Conv2d(16, 48, 5, padding=2, bias=False))
    assert count_params(reduced).total == 26_880
    assert count_macs(reduced, (1, 480, 14, 14)) == 5_268_480
    assert conv_cost(14, 14, 480, 48, 5, bias=True).weights == 576_048


def test_global_average_pooling_saving():
    """A 7×7×1024 -> 1024 dense layer has 51.38 M weights; GAP has none."""
    assert gap_saving(7, 7, 1024, 1024) == 51_380_224
    assert f"{gap_saving() / 1e6:.2f}" == "51.38"
    dense = on_meta(nn.Linear, 7 * 7 * 1024, 1024, bias=False)
    assert count_params(dense).total == gap_saving()
    assert count_params(nn.AdaptiveAvgPool2d(1)).total == 0


# ------------------------------------------------------------------ summary

def test_summary_of_lenet_is_the_decks_table():
    """Rows carry output shape, parameters, MACs and receptive field per layer."""
    torch.manual_seed(0)
    table = summary(models.lenet5(), (1, 1, 32, 32))
    expected = {  # name: (output shape, params, MACs, receptive field)
        "features.c1": ((1, 6, 28, 28), 156, 117_600, (5, 5)),
        "features.s2": ((1, 6, 14, 14), 12, 0, (6, 6)),
        "features.c3": ((1, 16, 10, 10), 1_516, 150_000, (14, 14)),
        "features.s4": ((1, 16, 5, 5), 32, 0, (16, 16)),
        "features.c5": ((1, 120, 1, 1), 48_120, 48_000, (32, 32)),
        "f6": ((1, 84), 10_164, 10_080, (32, 32)),
    }
    for name, (shape, params, macs, rf) in expected.items():
        row = table.row(name)
        measured = (row.output_shape, row.params, row.macs, row.rf.size)
        assert measured == (shape, params, macs, rf), name
    assert table.row("f6").rf.is_global
    assert table.params == (60_000, 60_000) and table.macs == 325_680
    text = str(table)
    assert "60,000" in text and "117,600" in text and "325,680" in text
    assert "c3 (PartialConv2d)" in text


def test_summary_of_a_residual_network():
    """Blocks get the MACs of everything inside them; depth limits the rows."""
    torch.manual_seed(0)
    model = models.resnet18(stem="cifar", num_classes=10)
    table = summary(model, (1, 3, 32, 32), depth=2)
    assert max(r.depth for r in table.rows) == 2
    layer1 = table.row("layer1")
    blocks = [table.row("layer1.0"), table.row("layer1.1")]
    assert layer1.macs == sum(b.macs for b in blocks) == 2 * 2 * 32 * 32 * 64 * 64 * 9
    assert layer1.rf.size == (11, 11) and blocks[0].rf.size == (7, 7)
    assert table.row("layer4").output_shape == (1, 512, 4, 4)
    assert table.macs == models.REFERENCE["resnet18_cifar_stem"]["macs"]
