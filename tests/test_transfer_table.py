"""cnn_course.transfer's table (scratch, feature extraction, fine-tuning with few
labels), the script that prints it, and the segmentation metrics of lecture 12
(pixel accuracy in the training loop, IoU per class)."""

import importlib.util
import json
import math

import pytest
import torch

from cnn_course import data
from cnn_course.models import unet
from cnn_course.training import fit, iou_per_class, train_epoch
from cnn_course.training.loader import TensorLoader
from cnn_course.transfer import (
    METHODS,
    TransferTable,
    train_transfer,
    transfer_table,
)
from conftest import ROOT


def toy_images(per_class: int = 6, seed: int = 0) -> data.ImageDataset:
    """Two classes of 32×32 colour images: reddish and bluish, with noise."""
    generator = torch.Generator().manual_seed(seed)
    n = 2 * per_class
    labels = torch.arange(2).repeat_interleave(per_class)  # (n,)
    images = torch.rand(n, 3, 32, 32, generator=generator) * 0.4
    images[labels == 0, 0] += 0.5  # red channel up
    images[labels == 1, 2] += 0.5  # blue channel up
    return data.ImageDataset((images * 255).round().to(torch.uint8), labels,
                             ["red", "blue"], "toy")


# ------------------------------------------------------------------ transfer table


@pytest.mark.parametrize("method", METHODS)
def test_train_transfer_gives_an_accuracy(method):
    """Each method trains a few steps and returns a test accuracy in [0, 1]."""
    acc = train_transfer(method, toy_images(4), toy_images(3, seed=1), steps=2,
                         batch_size=4)
    assert 0.0 <= acc <= 1.0
    # a multiple of 1/6: it is measured on the six test images
    assert math.isclose(acc * 6, round(acc * 6), abs_tol=1e-6)


def test_train_transfer_is_seeded():
    """The same seed gives the same accuracy."""
    train, test = toy_images(4), toy_images(3, seed=1)
    runs = [train_transfer("fine-tuning", train, test, seed=3, steps=2, batch_size=4)
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_train_transfer_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="expected method in"):
        train_transfer("linear probe", toy_images(2), toy_images(2))


def test_transfer_table_fills_every_cell():
    """Sizes x seeds x methods, each called back; mean, std and markdown."""
    calls = []
    table = transfer_table(toy_images(6), toy_images(3, seed=1), sizes=[2, 4],
                           seeds=[0, 1], steps=2, batch_size=4, progress=False,
                           on_result=lambda *args: calls.append(args))
    assert isinstance(table, TransferTable)
    assert len(calls) == 2 * 2 * len(METHODS)
    assert [c[:3] for c in calls[:3]] == [(m, 2, 0) for m in METHODS]
    for method in METHODS:
        for n in (2, 4):
            accs = table.results[method][n]
            assert len(accs) == 2
            assert table.mean(method, n) == pytest.approx(50 * (accs[0] + accs[1]))
            assert table.std(method, n) >= 0
    lines = table.markdown().splitlines()
    assert lines[0] == "| method | 2 / class | 4 / class |"
    assert [line.split(" | ")[0] for line in lines[2:]] == [f"| {m}" for m in METHODS]
    dumped = json.loads(json.dumps(table.as_dict()))
    assert set(dumped["results"]["scratch"]) == {"2", "4"}
    assert dumped["test_images"] == 6 and dumped["steps"] == 2


def test_script_calls_the_library(monkeypatch, tmp_path, capsys):
    """scripts/transfer_table.py prints every cell and the table, and writes JSON."""
    spec = importlib.util.spec_from_file_location(
        "transfer_table_script", ROOT / "scripts" / "transfer_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    toy = data.Splits(toy_images(12), toy_images(3, seed=1), (0.5,) * 3, (0.25,) * 3)
    monkeypatch.setattr(data, "load", lambda *args, **kwargs: toy)
    out = script.main(["--sizes", "2", "--seeds", "0", "--test-limit", "3",
                       "--json", str(tmp_path / "table.json")])
    printed = capsys.readouterr().out
    assert "2/class seed 0 fine-tuning" in printed
    assert "| feature extraction |" in printed
    assert json.loads((tmp_path / "table.json").read_text())["table"] == out["table"]


# ------------------------------------------------------------ segmentation metrics


def test_iou_per_class_by_hand():
    """2×3 masks: class 1 overlaps in 1 of 3 pixels, class 2 is absent (NaN)."""
    truth = torch.tensor([[0, 1, 1], [0, 0, 3]])
    guess = torch.tensor([[0, 1, 3], [1, 0, 3]])
    iou = iou_per_class(truth, guess, 4)
    assert iou[0].item() == pytest.approx(2 / 3)  # both: 2; either: 3
    assert iou[1].item() == pytest.approx(1 / 3)  # both: 1; either: 3
    assert math.isnan(iou[2].item())
    assert iou[3].item() == pytest.approx(1 / 2)  # both: 1; either: 2
    assert torch.equal(iou_per_class(truth, truth, 4).nan_to_num(7),
                       torch.tensor([1.0, 1.0, 7.0, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="same shape"):
        iou_per_class(truth, guess[:1], 4)


def test_training_on_masks_reports_pixel_accuracy():
    """With (N, H, W) targets train_epoch's accuracy is a fraction of pixels."""
    shapes = data.shapes(16, size=16, seed=0)
    model = unet(num_classes=4, in_channels=3, base_channels=4, depth=2,
                 padding="same")
    loader = TensorLoader((shapes.images, shapes.masks), batch_size=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = train_epoch(model, loader, optimizer)
    assert 0.0 <= result["acc"] <= 1.0
    history = fit(model, (shapes.images, shapes.masks), (shapes.images, shapes.masks),
                  epochs=1, batch_size=8, progress=False)
    assert 0.0 <= history.train_acc[-1] <= 1.0
    assert 0.0 <= history.val_acc[-1] <= 1.0
