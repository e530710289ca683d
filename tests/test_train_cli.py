"""The `cnn-course train` and `cnn-course pretrain` commands, in fast mode."""

import json

import torch

from cnn_course.course.cli import build_parser, main
from cnn_course.transfer import WEIGHTS_DIR, load_pretrained
from train_helpers import DATASETS, needs_mnist


def test_both_commands_are_registered():
    """`cnn-course --help` lists train and pretrain."""
    help_text = build_parser().format_help()
    assert "train" in help_text and "pretrain" in help_text


def test_train_prints_device_progress_metrics_and_saves_a_checkpoint(tmp_path,
                                                                     capsys):
    """convnet on digits: device line, epoch line, final metrics, checkpoint."""
    out = tmp_path / "run.pt"
    code = main(["train", "convnet", "--dataset", "digits", "--out", str(out),
                 "--no-progress", "--epochs", "2", "--optimizer", "adam",
                 "--lr", "0.003"])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.startswith("device: cpu")
    assert "fast mode" in printed
    assert "epoch 2/2: train loss" in printed
    assert "final: test accuracy" in printed and f"checkpoint: {out}" in printed
    state = torch.load(out, weights_only=False)
    assert state["arch"] == "convnet" and state["dataset"] == "digits"
    assert state["epoch"] == 2 and state["classes"] == [str(d) for d in range(10)]
    assert state["test"]["acc"] > 0.5  # two quick epochs: far above 10 % chance
    # --resume with more epochs continues from epoch 2
    code = main(["train", "convnet", "--dataset", "digits", "--out", str(out),
                 "--no-progress", "--epochs", "3", "--optimizer", "adam",
                 "--lr", "0.003", "--resume"])
    printed = capsys.readouterr().out
    assert code == 0 and "epoch 3/3" in printed and "epoch 1/3" not in printed


def test_train_explains_a_model_that_does_not_fit_the_data(tmp_path, capsys):
    """LeNet-5 on 8x8 digits: exit code 2 and a sentence, not a traceback."""
    code = main(["train", "lenet5-modern", "--dataset", "digits",
                 "--out", str(tmp_path / "x.pt"), "--no-progress"])
    assert code == 2
    assert "needs 28x28 or 32x32 images, the data is 8x8" in capsys.readouterr().err


@needs_mnist
def test_train_lenet_on_mnist_in_fast_mode(tmp_path, capsys, monkeypatch):
    """The README's command, shrunk by fast mode to 2,000 training images."""
    monkeypatch.setenv("CNN_COURSE_DATA", str(DATASETS))
    out = tmp_path / "lenet.pt"
    code = main(["train", "lenet5-modern", "--dataset", "mnist", "--out", str(out),
                 "--no-progress", "--optimizer", "adam", "--lr", "0.003",
                 "--epochs", "3"])
    printed = capsys.readouterr().out
    assert code == 0 and "mnist train 2,000 images" in printed
    assert torch.load(out, weights_only=False)["test"]["acc"] > 0.7  # chance: 0.1


def test_pretrain_writes_weights_and_metadata(tmp_path, capsys):
    """Weights + JSON (data, command, accuracy, md5) that load_pretrained accepts."""
    code = main(["pretrain", "--source", "digits", "--out", str(tmp_path),
                 "--name", "digits_toy", "--no-progress", "--epochs", "1"])
    assert code == 0
    info = json.loads((tmp_path / "digits_toy.json").read_text())
    assert info["command"] == (
        "cnn-course pretrain --arch convnet --source digits --epochs 1 "
        "--optimizer sgd --schedule cosine --seed 0 --name digits_toy "
        f"--out {tmp_path}")
    assert info["data"]["dataset"] == "digits" and info["fast_mode"]
    assert 0 <= info["test_accuracy"] <= 1 and len(info["md5"]) == 32
    model = load_pretrained("digits_toy", folder=tmp_path)
    assert model.head.out_features == 10
    assert "weights: " in capsys.readouterr().out


def test_pretrain_in_fast_mode_never_overwrites_the_shipped_weights(capsys):
    """Without --out, fast mode refuses instead of replacing the real backbone."""
    before = (WEIGHTS_DIR / "convnet_cifar10_animals.json").read_text()
    assert main(["pretrain", "--source", "digits", "--no-progress"]) == 2
    assert "would overwrite the shipped weights" in capsys.readouterr().err
    assert (WEIGHTS_DIR / "convnet_cifar10_animals.json").read_text() == before


def test_early_stopping_needs_a_validation_split(tmp_path, capsys):
    """Stopping on the test set would leak it: the command refuses."""
    code = main(["train", "convnet", "--dataset", "digits", "--early-stopping", "2",
                 "--out", str(tmp_path / "x.pt"), "--no-progress"])
    assert code == 2 and "--early-stopping needs --val-split" in capsys.readouterr().err
    code = main(["train", "convnet", "--dataset", "digits", "--early-stopping", "1",
                 "--val-split", "0.2", "--epochs", "2", "--out", str(tmp_path / "y.pt"),
                 "--no-progress"])
    assert code == 0 and "val loss" in capsys.readouterr().out
