"""FCN and U-Net: per-pixel outputs at the right size, up-convolutions, skips."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_course.analysis import count_macs, count_params, flop_counter_macs
from cnn_course.models import REFERENCE, bilinear_kernel, fcn, unet, unet_output_size
from cnn_course.models.fcn import upsample

from models_helpers import meta_forward, on_meta

torch.set_num_threads(1)


# ------------------------------------------------------------------------ FCN

@pytest.mark.parametrize("skips", ("32s", "16s", "8s"))
def test_fcn_upsamples_back_to_the_input(skips):
    """A real FCN on ResNet-18: (N, 3, 64, 96) -> (N, classes, 64, 96)."""
    torch.manual_seed(0)
    model = fcn(num_classes=5, backbone="resnet18", skips=skips).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 96)).shape == (1, 5, 64, 96)


@pytest.mark.parametrize("backbone", ("vgg16", "resnet34", "resnet50"))
def test_fcn_backbones_on_meta(backbone):
    """Every backbone gives per-pixel scores at 224×224; FlopCounterMode agrees."""
    model = on_meta(fcn, num_classes=21, backbone=backbone)
    assert meta_forward(model, (2, 3, 224, 224)).shape == (2, 21, 224, 224)
    size = (1, 3, 224, 224)
    assert count_macs(model, size) == flop_counter_macs(model, size)


def test_fcn_vgg16_convolutionalised_classifier():
    """FCN-VGG16: fc6 becomes a 7×7 convolution with 4,096 filters, fc7 a 1×1."""
    model = on_meta(fcn, backbone="vgg16")
    convs = [m for m in model.backbone.stages[2] if isinstance(m, nn.Conv2d)]
    fc6, fc7 = convs[-2], convs[-1]
    assert (fc6.kernel_size, fc6.out_channels) == ((7, 7), 4096)
    assert (fc7.kernel_size, fc7.out_channels) == ((1, 1), 4096)
    # the same weights as VGG16's dense fc6 (512·7·7·4096 + 4096)
    assert count_params(fc6).total == 25088 * 4096 + 4096


def test_bilinear_upsampling_init():
    """Transposed convolutions start as bilinear interpolation (×2: taps 1/4, 3/4)."""
    kernel = bilinear_kernel(2, 4)
    taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
    assert torch.allclose(kernel[0, 0], taps[:, None] * taps[None, :])
    assert torch.all(kernel[0, 1] == 0)  # channels are not mixed
    up = upsample(2, 2)
    x = torch.rand(1, 2, 6, 6)
    with torch.no_grad():
        y = up(x)
    assert y.shape == (1, 2, 12, 12)
    # inside the border, the result is bilinear interpolation (align_corners=False)
    expected = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(y[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=1e-6)


def test_fcn_bad_input():
    """Sizes that do not divide by 32 are refused with the expected input named."""
    model = on_meta(fcn, backbone="resnet18", skips="8s")
    message = r"fcn8s \(resnet18\) expects \(N, 3, H, W\) with H and W divisible by 32"
    with pytest.raises(ValueError, match=message):
        meta_forward(model, (1, 3, 100, 100))
    with pytest.raises(ValueError, match="expected skips"):
        fcn(skips="4s")
    with pytest.raises(ValueError, match="expected backbone"):
        fcn(backbone="alexnet")


# ---------------------------------------------------------------------- U-Net

def test_unet_paper_tile_572_to_388():
    """The paper's network maps a 572×572 tile to a 388×388×2 segmentation."""
    model = on_meta(unet)
    assert meta_forward(model, (1, 1, 572, 572)).shape == (1, 2, 388, 388)
    assert unet_output_size(572) == 388
    assert count_params(model).total == REFERENCE["unet"]["params"]
    widths = [block[0].out_channels for block in model.down]
    assert widths == [64, 128, 256, 512, 1024]
    ups = [(m.kernel_size, m.stride, m.in_channels, m.out_channels) for m in model.up]
    assert ups == [((2, 2), (2, 2), 2 * w, w) for w in (512, 256, 128, 64)]
    assert model.head.kernel_size == (1, 1)


def test_unet_skip_concatenation_and_cropping():
    """Each up step concatenates the centre crop of the matching contracting map."""
    torch.manual_seed(0)
    model = unet(base_channels=4).eval()
    seen = []
    for block in model.up_conv:
        block.register_forward_pre_hook(
            lambda m, inputs: seen.append(tuple(inputs[0].shape)))
    with torch.no_grad():
        out = model(torch.randn(1, 1, 188, 188))
    assert out.shape == (1, 2, unet_output_size(188), unet_output_size(188))
    # channels double after concatenation: skip (w) + up-convolution (w)
    assert [s[1] for s in seen] == [64, 32, 16, 8]


def test_unet_same_padding_keeps_the_size():
    """padding='same': output size = input size (divisible by 16), real forward."""
    torch.manual_seed(0)
    model = unet(num_classes=3, in_channels=3, base_channels=8, padding="same",
                 batch_norm=True).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 48)).shape == (2, 3, 64, 48)


def test_unet_bad_sizes_name_the_ones_that_work():
    """An impossible tile names the nearest sizes that work."""
    assert [s for s in range(540, 590) if _works(s)] == [540, 556, 572, 588]
    with pytest.raises(ValueError, match="Nearest sizes that work: 556, 572"):
        unet_output_size(570)
    with pytest.raises(ValueError, match="Nearest sizes that work"):
        meta_forward(on_meta(unet), (1, 1, 570, 570))
    message = r"unet \(valid padding\) expects \(N, 1, H, W\)"
    with pytest.raises(ValueError, match=message):
        meta_forward(on_meta(unet), (1, 3, 572, 572))
    with pytest.raises(ValueError, match="divisible by 16"):
        unet_output_size(100, padding="same")


def _works(size: int) -> bool:
    try:
        unet_output_size(size)
    except ValueError:
        return False
    return True
