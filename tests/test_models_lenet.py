"""LeNet-5: the 1998 paper's network, layer by layer, and the modern variant."""

import re

import pytest
import torch

from cnn_course.analysis import count_macs, count_params, flop_counter_macs
from cnn_course.models import REFERENCE, lenet5
from cnn_course.models.lenet import (
    C3_TABLE,
    DIGIT_BITMAPS,
    PartialConv2d,
    RBFOutput,
    ScaledTanh,
    Subsampling,
)

torch.set_num_threads(1)

# Table I of the paper as printed: rows are S2 maps 0-5, columns C3 maps 0-15.
# Six maps read contiguous (cyclic) triples, six contiguous quadruples, three
# non-contiguous quadruples, and the last one all six maps.
PAPER_TABLE_I = """
X...XXX..XXXX.XX
XX...XXX..XXXX.X
XXX...XXX..X.XXX
.XXX..XXXX..X.XX
..XXX..XXXX.XX.X
...XXX..XXXX.XXX
"""


def layer(model, name):
    modules = dict(model.named_modules())
    return modules.get(f"features.{name}", modules.get(name))


def test_per_layer_parameters_match_the_paper():
    """C1 156, S2 12, C3 1516, S4 32, C5 48120, F6 10164, output 0: 60,000 in all."""
    torch.manual_seed(0)
    model = lenet5("classic")
    expected = REFERENCE["lenet5_classic"]["layers"]
    assert expected == {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120,
                        "f6": 10164, "output": 0}
    for name, count in expected.items():
        assert count_params(layer(model, name)).trainable == count, name
    assert count_params(model) == (60_000, 60_000)


def test_connections_column_of_the_paper():
    """Connections = multiply-adds + one bias per output (S layers: 4 inputs + bias)."""
    model = lenet5("classic")
    macs = count_macs(model, (1, 1, 32, 32), by_layer=True)
    outputs = {"c1": 6 * 28 * 28, "s2": 6 * 14 * 14, "c3": 16 * 10 * 10,
               "s4": 16 * 5 * 5, "c5": 120, "f6": 84}
    c3_macs = sum(v for k, v in macs.items() if k.startswith("features.c3."))
    measured = {
        "c1": macs["features.c1"] + outputs["c1"],
        "s2": outputs["s2"] * (4 + 1),
        "c3": c3_macs + outputs["c3"],
        "s4": outputs["s4"] * (4 + 1),
        "c5": macs["features.c5"] + outputs["c5"],
        "f6": macs["f6"] + outputs["f6"],
    }
    assert measured == REFERENCE["lenet5_classic"]["connections"]
    assert measured["c1"] == 122_304 and measured["c3"] == 151_600


def test_c3_table_is_the_papers_table_one():
    """The per-C3-map input lists equal Table I as the paper prints it."""
    rows = PAPER_TABLE_I.split()
    for s2_map, row in enumerate(rows):
        for c3_map, mark in enumerate(row):
            assert (mark == "X") == (s2_map in C3_TABLE[c3_map]), (s2_map, c3_map)
    sizes = [len(inputs) for inputs in C3_TABLE]
    assert sizes == [3] * 6 + [4] * 9 + [6]


def test_c3_output_maps_depend_only_on_their_table_inputs():
    """The gradient of C3 map j reaches exactly the S2 maps listed for j."""
    torch.manual_seed(0)
    c3 = PartialConv2d(C3_TABLE)
    x = torch.randn(1, 6, 14, 14, requires_grad=True)
    out = c3(x)
    assert out.shape == (1, 16, 10, 10)
    for j, inputs in enumerate(C3_TABLE):
        (grad,) = torch.autograd.grad(out[0, j].sum(), x, retain_graph=True)
        touched = {i for i in range(6) if grad[0, i].abs().sum() > 0}
        assert touched == set(inputs), j


def test_subsampling_adds_the_window_then_scales_and_shifts():
    """S2: sum of each 2×2 window times the map's coefficient plus the map's bias."""
    layer_ = Subsampling(2)
    with torch.no_grad():
        layer_.weight.copy_(torch.tensor([2.0, -1.0]))
        layer_.bias.copy_(torch.tensor([0.5, 1.0]))
    x = torch.arange(32, dtype=torch.float32).reshape(1, 2, 4, 4)
    out = layer_(x)
    window_sum = x[0, 0, :2, :2].sum()  # 0 + 1 + 4 + 5 = 10
    assert out.shape == (1, 2, 2, 2)
    assert out[0, 0, 0, 0] == 2.0 * window_sum + 0.5
    assert out[0, 1, 1, 1] == -1.0 * x[0, 1, 2:, 2:].sum() + 1.0
    assert count_params(layer_).trainable == 4


def test_scaled_tanh_maps_one_to_one():
    """f(a) = 1.7159 tanh(2a/3): f(1) ≈ 1 and f(-1) ≈ -1."""
    f = ScaledTanh()
    out = f(torch.tensor([1.0, -1.0, 0.0]))
    assert torch.allclose(out, torch.tensor([1.0, -1.0, 0.0]), atol=1e-3)


def test_rbf_output_is_minus_squared_distance_to_fixed_prototypes():
    """Score_i = -||x - w_i||², prototypes are ±1 7×12 bitmaps and are not trained."""
    rbf = RBFOutput(84, 10)
    assert count_params(rbf).total == 0
    assert rbf.prototypes.shape == (10, 84)
    assert set(rbf.prototypes.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(p.tolist()) for p in rbf.prototypes}) == 10
    for bitmap in DIGIT_BITMAPS:
        assert len(bitmap) == 12 and all(len(row) == 7 for row in bitmap)
    x = rbf.prototypes[3:4].clone()
    scores = rbf(x)
    assert scores.argmax(dim=1).item() == 3 and scores[0, 3] == 0
    expected = -((x - rbf.prototypes) ** 2).sum(dim=1)
    assert torch.equal(scores[0], expected)
    assert RBFOutput(84, 5).prototypes.shape == (5, 84)


def test_classic_forward_shapes_and_paper_init():
    """(N, 1, 32, 32) -> (N, 10); 28×28 is padded in C1; weights within ±2.4/F_in."""
    torch.manual_seed(0)
    model = lenet5("classic")
    with torch.no_grad():
        assert model(torch.randn(4, 1, 32, 32)).shape == (4, 10)
        assert lenet5(input_size=28)(torch.randn(2, 1, 28, 28)).shape == (2, 10)
        rgb = lenet5(num_classes=5, in_channels=3)
        assert rgb(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    assert model.features.c1.weight.abs().max() <= 2.4 / 25
    assert model.f6.weight.abs().max() <= 2.4 / 120


def test_modern_variant():
    """ReLU, max pooling, full C3 (2,416 weights): 61,706 parameters, (N, 10) logits."""
    torch.manual_seed(0)
    model = lenet5("modern")
    assert count_params(model).total == REFERENCE["lenet5_modern"]["params"] == 61_706
    assert count_params(model.features.c3).total == 2_416
    assert not any(isinstance(m, (Subsampling, ScaledTanh)) for m in model.modules())
    with torch.no_grad():
        assert model(torch.randn(3, 1, 32, 32)).shape == (3, 10)
        mnist = lenet5("modern", input_size=28)
        assert mnist(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_multiply_adds():
    """325,680 MACs classic, 416,520 modern; FlopCounterMode agrees."""
    for variant in ("classic", "modern"):
        model = lenet5(variant)
        macs = count_macs(model, (1, 1, 32, 32))
        assert macs == REFERENCE[f"lenet5_{variant}"]["macs"]
        assert flop_counter_macs(model, (1, 1, 32, 32)) == macs


@pytest.mark.parametrize(
    ("variant", "input_size", "shape", "message"),
    [
        ("classic", 32, (8, 1, 28, 28), "lenet5 classic expects (N, 1, 32, 32)"),
        ("classic", 32, (8, 3, 32, 32), "lenet5 classic expects (N, 1, 32, 32)"),
        ("classic", 32, (1, 32, 32), "lenet5 classic expects (N, 1, 32, 32)"),
        ("classic", 28, (8, 1, 32, 32), "lenet5 classic expects (N, 1, 28, 28)"),
        ("modern", 32, (8, 1, 28, 28), "lenet5 modern expects (N, 1, 32, 32)"),
    ],
)
def test_wrong_input_names_the_expected_shape(variant, input_size, shape, message):
    """A wrong size or channel count fails with a message naming the expected input."""
    model = lenet5(variant, input_size=input_size)
    with pytest.raises(ValueError, match=re.escape(message)):
        model(torch.zeros(shape))


def test_bad_arguments():
    """Unknown variants and input sizes are refused with the allowed values."""
    with pytest.raises(ValueError, match="'classic' or 'modern'"):
        lenet5("lenet4")
    with pytest.raises(ValueError, match="input_size 32"):
        lenet5(input_size=30)
