"""cnn_course.data.augment: each transform does what it says, batch-wise and seeded."""

import pytest
import torch
import torch.nn.functional as F

from cnn_course.data.augment import (
    ColorJitter,
    Compose,
    HorizontalFlip,
    Normalize,
    RandomCrop,
    RandomRotation,
)


def batch(n=16, c=3, h=10, w=12, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_random_crop_is_a_shift_of_the_zero_padded_image():
    """Every output is the padded input's window at some offset within +-padding."""
    x = batch()
    out = RandomCrop((10, 12), padding=3)(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    padded = F.pad(x, (3, 3, 3, 3))
    offsets = set()
    for i in range(x.shape[0]):
        matches = [(dy, dx) for dy in range(7) for dx in range(7)
                   if torch.equal(out[i], padded[i, :, dy:dy + 10, dx:dx + 12])]
        assert len(matches) == 1, f"example {i} is not a window of the padded image"
        offsets.add(matches[0])
    assert len(offsets) > 5  # every example gets its own shift


def test_random_crop_without_padding_cuts_smaller_windows():
    """RandomCrop(6) of a 10x12 batch gives 6x6 windows of the original."""
    x = batch()
    out = RandomCrop(6)(x, torch.Generator().manual_seed(0))
    assert out.shape == (16, 3, 6, 6)
    for i in range(16):
        assert any(torch.equal(out[i], x[i, :, dy:dy + 6, dx:dx + 6])
                   for dy in range(5) for dx in range(7))
    with pytest.raises(ValueError, match="does not fit"):
        RandomCrop(20)(x)


def test_reflect_padding_repeats_border_content():
    """With fill='reflect', no zeros appear in the crop of a strictly positive image."""
    x = batch() + 0.1
    out = RandomCrop((10, 12), padding=3, fill="reflect")(x)
    assert out.min() > 0


def test_horizontal_flip_mirrors_whole_images():
    """p=1 flips every image left-right, p=0 none, p=0.5 about half of them."""
    x = batch(n=200)
    assert torch.equal(HorizontalFlip(1.0)(x), x.flip(-1))
    assert torch.equal(HorizontalFlip(0.0)(x), x)
    out = HorizontalFlip(0.5)(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(200)]
    kept = [torch.equal(out[i], x[i]) for i in range(200)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 70 < sum(flipped) < 130


def test_rotation_by_90_degrees_matches_rot90_and_zero_is_identity():
    """A fixed angle of 90 degrees turns the image counter-clockwise, like rot90."""
    x = batch(h=9, w=9)
    turned = RandomRotation((90, 90))(x)
    assert torch.allclose(turned, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(RandomRotation(0)(x), x, atol=1e-6)


def test_small_rotations_stay_within_the_range():
    """Angles within +-10 degrees: the centre pixel stays, corners move a little."""
    x = torch.zeros(32, 1, 21, 21)
    x[:, :, 10, 10] = 1.0  # the centre
    x[:, :, 10, 19] = 1.0  # a point 9 pixels right of it
    out = RandomRotation(10)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(out[:, 0, 10, 10], torch.ones(32), atol=1e-5)
    # the outer point turns about the centre by at most 10 degrees
    ys, xs = torch.meshgrid(torch.arange(21.0), torch.arange(21.0), indexing="ij")
    angles = []
    for i in range(32):
        weights = out[i, 0].clone()
        weights[9:12, 9:12] = 0  # ignore the centre
        cy = (weights * ys).sum() / weights.sum() - 10
        cx = (weights * xs).sum() / weights.sum() - 10
        angles.append(torch.rad2deg(torch.atan2(-cy, cx)).item())
    assert max(abs(a) for a in angles) <= 10.5
    assert max(angles) - min(angles) > 5  # each image gets its own angle


def test_brightness_scales_each_image_by_one_factor():
    """Brightness only: every image is multiplied by one factor in [0.7, 1.3]."""
    x = batch(n=64) * 0.7 + 0.05  # no clipping at 1.3
    out = ColorJitter(brightness=0.3, contrast=0.0)(x, torch.Generator().manual_seed(0))
    ratio = out / x  # (N, C, H, W)
    per_image = ratio.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-5)
    factors = per_image[:, 0]
    assert factors.min() >= 0.7 - 1e-6 and factors.max() <= 1.3 + 1e-6
    assert factors.std() > 0.05


def test_contrast_keeps_the_mean_and_scales_the_spread():
    """Contrast only: the image mean stays, its standard deviation scales by c."""
    x = 0.4 + 0.2 * batch(n=64)  # mid-range: no clipping
    out = ColorJitter(brightness=0.0, contrast=0.5)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(out.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5)
    c = out.std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3))
    assert c.min() >= 0.5 - 1e-4 and c.max() <= 1.5 + 1e-4 and c.std() > 0.1
    assert ColorJitter(0.9, 0.9)(x * 3).max() <= 1.0  # clipped to [0, 1]


def test_normalize_standardises_each_channel_and_inverts():
    """(x - mean) / std per channel; inverse gives the input back."""
    x = batch(n=8)
    norm = Normalize((0.1, 0.5, 0.9), (0.5, 0.25, 2.0))
    out = norm(x)
    for c, (m, s) in enumerate(zip(norm.mean, norm.std)):
        assert torch.allclose(out[:, c], (x[:, c] - m) / s)
    assert torch.allclose(norm.inverse(out), x, atol=1e-6)
    with pytest.raises(ValueError, match="3 channels"):
        norm(batch(c=1))


def test_compose_is_seeded_and_reproducible():
    """Same seed, same draws; a new call draws anew; reseed starts over."""
    def pipeline(seed):
        return Compose([RandomCrop((10, 12), padding=2), HorizontalFlip(),
                        RandomRotation(15), ColorJitter(0.2, 0.2),
                        Normalize((0.5,) * 3, (0.25,) * 3)], seed=seed)

    x = batch()
    a, b = pipeline(0), pipeline(0)
    first = a(x)
    assert torch.equal(first, b(x))
    second = a(x)
    assert not torch.equal(first, second)
    a.reseed(0)
    assert torch.equal(a(x), first)
    assert not torch.equal(pipeline(1)(x), first)
    # a generator passed in wins over the pipeline's own
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(pipeline(0)(x, g1), pipeline(5)(x, g2))


def test_transforms_keep_device_and_dtype():
    """Outputs stay on the input's device and dtype (float64 here)."""
    x = batch().double()
    out = Compose([RandomCrop((10, 12), 2), HorizontalFlip(), RandomRotation(5),
                   ColorJitter(), Normalize((0.5,) * 3, (0.2,) * 3)], seed=0)(x)
    assert out.dtype == torch.float64 and out.device == x.device
    assert out.shape == x.shape


def test_transforms_explain_bad_input():
    """A single image or a uint8 batch is refused with advice."""
    with pytest.raises(ValueError, match=r"x\[None\]"):
        HorizontalFlip()(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="float"):
        RandomCrop(4)(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
