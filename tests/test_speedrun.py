"""The LeNet-5 speedrun: its recipe, its loop and `cnn-course speedrun`.

Nothing here is timed: how fast the speedrun is lives in
``benchmarks/bench_speedrun.py``. These tests check that the recipe learns, that the
loop does what the recipe says, and that the command runs (one torch thread, fast
mode, small slices of MNIST).
"""

import dataclasses

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from cnn_course.analysis import count_params
from cnn_course.course.cli import build_parser, main
from cnn_course.training.recipes import SPEEDRUN
from cnn_course.training.speedrun import (
    default_run,
    ladder,
    prepare,
    speedrun,
    threads,
    train_speedrun,
)
from train_helpers import DATASETS, needs_mnist


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mnist_5000():
    """The first 5,000 training and 1,000 test digits of MNIST."""
    if not (DATASETS / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"the local MNIST copy is not in {DATASETS / 'mnist'}")
    from cnn_course import data

    return data.load("mnist", DATASETS, limit_train=5000, limit_test=1000)


def test_the_recipe_is_the_one_the_lecture_names():
    """The race's numbers: 1.5 epochs of AdamW, label smoothing, 2 threads, 99 %."""
    assert (SPEEDRUN.epochs, SPEEDRUN.batch_size, SPEEDRUN.optimizer) == (1.5, 128,
                                                                          "adam")
    assert SPEEDRUN.label_smoothing == 0.1 and SPEEDRUN.threads == 2
    assert SPEEDRUN.target == 0.99
    with pytest.raises(dataclasses.FrozenInstanceError):
        SPEEDRUN.epochs = 1  # one place for the numbers: change them by replace()


@needs_mnist
def test_the_recipe_learns_mnist_digits_in_a_few_hundred_steps(mnist_5000):
    """Seed 0, 5,000 digits, batches of 32 for 2 epochs (312 steps): >= 96 % on
    1,000 test digits (97.4 % measured), with the course's modern LeNet-5."""
    train, test, mean, std = mnist_5000
    recipe = dataclasses.replace(SPEEDRUN, batch_size=32, epochs=2)
    result = speedrun(train, test, mean, std, recipe, seed=0)
    assert result.steps == 2 * (5000 // 32) == 312
    assert result.acc >= 0.96, f"test accuracy {result.acc:.3f} < 0.96"
    assert count_params(result.model).total == 61_706  # lenet5("modern"), unchanged
    assert result.seconds > 0 and result.seed == 0


def test_a_fraction_of_an_epoch_stops_in_the_middle_and_follows_the_schedule():
    """epochs=1.5 of 10 batches is 15 steps; the lr warms up, then decays to ~0."""
    from cnn_course.models import lenet5

    X, y = torch.randn(320, 1, 28, 28), torch.randint(0, 10, (320,))
    model = lenet5("modern", input_size=28)
    recipe = dataclasses.replace(SPEEDRUN, batch_size=32, epochs=1.5,
                                 warmup_epochs=0.5)
    lrs = []
    hook = register_optimizer_step_pre_hook(  # every optimizer.step(), its lr
        lambda opt, args, kwargs: lrs.append(opt.param_groups[0]["lr"]))
    try:
        steps = train_speedrun(model, X, y, recipe, seed=0)
    finally:
        hook.remove()
    assert steps == len(lrs) == 15
    peak = lrs.index(max(lrs))
    assert peak == 4 and lrs[peak] == pytest.approx(recipe.lr)  # 5 warm-up steps
    assert lrs[-1] < 0.05 * recipe.lr
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))  # warm-up
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))  # then decay


def test_the_ladder_adds_one_trick_per_rung_and_ends_at_the_speedrun():
    """Lecture 08's table: from the yardstick's SGD (same learning rate, 2 epochs)
    to SPEEDRUN, each rung changing what its name says and nothing else."""
    from cnn_course.training.recipes import recipe

    rungs = ladder()
    names = [name for name, _ in rungs]
    assert rungs[-1][1] == SPEEDRUN and len(set(names)) == len(names) == 5
    first = rungs[0][1]
    assert (first.optimizer, first.lr, first.epochs) == (
        "sgd", recipe("lenet5-modern", colour=False)["lr"], 2)
    assert not first.channels_last and first.label_smoothing == 0
    changed = [{f.name for f in dataclasses.fields(SPEEDRUN)
                if getattr(a, f.name) != getattr(b, f.name)}
               for (_, a), (_, b) in zip(rungs, rungs[1:])]
    assert changed == [{"channels_last"}, {"optimizer", "lr", "warmup_epochs"},
                       {"label_smoothing"}, {"epochs"}]


def test_channels_last_is_the_same_network_stored_otherwise():
    """The speedrun's model is channels-last in memory and learns what the usual
    layout learns, up to rounding."""
    from cnn_course.data import ImageDataset

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (256, 1, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (256,), generator=generator)
    digits = ImageDataset(images, labels, [str(d) for d in range(10)])
    runs = {}
    for layout in (False, True):
        recipe = dataclasses.replace(SPEEDRUN, batch_size=32, epochs=1, channels_last=layout)
        runs[layout] = speedrun(digits, digits, (0.5,), (0.25,), recipe, seed=0)
    # C3's weights (16, 6, 5, 5): more than one input channel, so the layouts differ
    c3 = next(p for p in runs[True].model.parameters() if p.dim() == 4 and p.shape[1] > 1)
    assert c3.is_contiguous(memory_format=torch.channels_last)
    assert not c3.is_contiguous()
    for a, b in zip(runs[False].model.parameters(), runs[True].model.parameters()):
        assert torch.allclose(a, b, atol=1e-3), "the layouts trained different networks"


def test_too_few_images_for_one_batch_is_explained():
    """Fewer images than a batch: a sentence that says what to change."""
    from cnn_course.models import lenet5

    X, y = torch.randn(10, 1, 28, 28), torch.randint(0, 10, (10,))
    with pytest.raises(ValueError, match="10 training images make no batch of 128"):
        train_speedrun(lenet5("modern", input_size=28), X, y)


def test_prepare_normalises_once_and_threads_are_restored():
    """One float32 tensor with the given mean and std; thread count put back."""
    from cnn_course.data import ImageDataset

    images = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8)
    dataset = ImageDataset(images, torch.zeros(50, dtype=torch.long), ["a"])
    X, y = prepare(dataset, (0.5,), (0.25,))
    assert X.dtype == torch.float32 and X.shape == (50, 1, 28, 28)
    assert torch.allclose(X, (images.float() / 255 - 0.5) / 0.25)
    assert y.shape == (50,)
    with threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1


@needs_mnist
def test_default_run_is_the_course_recipe_cut_short(mnist_5000):
    """The yardstick trains with fit: ceil(5000 / 128) = 40 steps an epoch."""
    train, test, mean, std = mnist_5000
    result = default_run(train, test, mean, std, epochs=1, seed=0)
    assert result.steps == 40
    assert result.acc > 0.5  # one short epoch: far above 10 % chance


def test_speedrun_command_is_registered():
    """`cnn-course --help` lists speedrun; its options parse."""
    assert "speedrun" in build_parser().format_help()
    args = build_parser().parse_args(["speedrun", "--seeds", "3", "--epochs", "1.25"])
    assert (args.seeds, args.epochs, args.threads) == (3, 1.25, None)


@needs_mnist
def test_speedrun_command_in_fast_mode(capsys, monkeypatch):
    """Two toy runs on 2,000 digits: one line per seed, then the mean."""
    monkeypatch.setenv("CNN_COURSE_DATA", str(DATASETS))
    monkeypatch.setenv("CNN_COURSE_FAST", "1")
    code = main(["speedrun", "--seeds", "2", "--threads", "1"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "mnist train (2,000 images)" in printed and "fast mode" in printed
    assert "1 CPU thread " in printed
    assert "seed 0: test accuracy" in printed and "seed 1: test accuracy" in printed
    assert "(22 steps)" in printed  # round(1.5 * (2000 // 128))
    assert "mean of 2 seeds: test accuracy" in printed
    assert torch.get_num_threads() == 1  # the command's threads were put back


def test_speedrun_command_rejects_zero_seeds(capsys):
    """--seeds 0 is a usage error, exit code 2."""
    assert main(["speedrun", "--seeds", "0"]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err
