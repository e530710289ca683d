"""cnn_course.training: schedules, fit (history, checkpoints, resume, seeds, early
stopping, progress bars), metrics, and the fast-mode CI training runs."""

import math

import pytest
import torch

from cnn_course import data
from cnn_course.data.augment import Compose, HorizontalFlip, Normalize, RandomCrop
from cnn_course.training import (
    History,
    TensorLoader,
    accuracy,
    confusion_matrix,
    cosine_schedule,
    evaluate,
    fast,
    fast_mode,
    fit,
    load_checkpoint,
    power_schedule,
    predict,
    seed_everything,
    step_schedule,
)
from train_helpers import DATASETS, TinyNet, blobs, needs_mnist, state_equal

# ---------------------------------------------------------------- schedules


def test_power_schedule_is_the_lectures_eta0_over_t_to_the_0_3():
    """lr = 0.1, power 0.3: 0.1, 0.1/2^0.3, 0.1/3^0.3, ... per step."""
    lrs = power_schedule(0.3).lrs(0.1, steps_per_epoch=4, epochs=2)
    expected = [0.1 / t ** 0.3 for t in range(1, 9)]
    assert lrs == pytest.approx(expected)
    assert lrs[1] == pytest.approx(0.0812252396)
    per_epoch = power_schedule(0.3, per="epoch").lrs(0.1, 4, 2)
    assert per_epoch == pytest.approx([0.1] * 4 + [0.1 / 2 ** 0.3] * 4)


def test_step_schedule_divides_by_ten_every_k_epochs():
    """every=2, gamma=0.1 over 5 epochs of 3 steps: 1, 1, .1, .1, .01."""
    lrs = step_schedule(every=2, gamma=0.1).lrs(1.0, steps_per_epoch=3, epochs=5)
    assert lrs == pytest.approx([1.0] * 6 + [0.1] * 6 + [0.01] * 3)


def test_cosine_schedule_warms_up_then_decays_to_the_floor():
    """Linear warm-up over one epoch, then half a cosine from 1 to min_factor."""
    lrs = cosine_schedule(warmup_epochs=1, min_factor=0.1).lrs(1.0, 10, 5)
    assert lrs[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
    assert lrs[10] == pytest.approx(1.0)
    middle = 10 + 20
    assert lrs[middle] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert lrs[-1] == pytest.approx(0.1, abs=2e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_fit_applies_the_schedule_to_every_parameter_group():
    """Two groups at lr 1.0 and 0.1 keep their ratio under a step schedule."""
    torch.manual_seed(0)
    model = TinyNet()
    optimizer = torch.optim.SGD([
        {"params": model.body.parameters(), "lr": 0.1},
        {"params": model.head.parameters(), "lr": 1.0}])
    history = fit(model, blobs(48), epochs=3, optimizer=optimizer, batch_size=16,
                  schedule=step_schedule(every=1, gamma=0.5), progress=False, seed=0)
    assert history.lr == pytest.approx([1.0, 0.5, 0.25])
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.025, 0.25])


# ---------------------------------------------------------------- the loader


def test_tensor_loader_batches_scales_uint8_and_shuffles_by_seed_and_epoch():
    """uint8 becomes [0, 1] floats; order depends on (seed, epoch) only."""
    X = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1) * 20
    y = torch.arange(10)
    loader = TensorLoader((X, y), batch_size=4, shuffle=True, seed=3)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [4, 4, 2] and len(loader) == 3
    first = torch.cat([b[1] for b in batches])
    assert sorted(first.tolist()) == list(range(10))
    assert torch.allclose(torch.cat([b[0] for b in batches]).flatten(),
                          first.float() * 20 / 255)
    again = torch.cat([b[1] for b in TensorLoader((X, y), 4, shuffle=True, seed=3)])
    assert torch.equal(first, again)
    loader.set_epoch(1)
    assert not torch.equal(first, torch.cat([b[1] for b in loader]))
    plain = torch.cat([b[1] for b in TensorLoader((X, y), 4)])
    assert torch.equal(plain, y)


# ---------------------------------------------------------------- fit


def test_fit_learns_a_toy_task_and_returns_its_history():
    """History has one entry per epoch; the loss falls; validation is measured."""
    torch.manual_seed(0)
    model = TinyNet()
    train, val = blobs(96, seed=0), blobs(48, seed=1)
    history = fit(model, train, val, epochs=6, lr=0.1, batch_size=16, seed=0,
                  progress=False)
    assert isinstance(history, History) and len(history) == 6
    assert history.epoch == [1, 2, 3, 4, 5, 6]
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_acc[-1] > 0.9
    assert evaluate(model, val)["acc"] == pytest.approx(history.val_acc[-1])
    assert len(history.seconds) == 6 and all(s > 0 for s in history.seconds)


def test_same_seed_same_weights_other_seed_other_weights():
    """Seeding makes training reproducible, shuffling and augmentation included."""
    def run(seed):
        torch.manual_seed(0)
        model = TinyNet(dropout=0.3)
        augment = Compose([RandomCrop(8, padding=1), HorizontalFlip()])
        fit(model, blobs(64), epochs=2, lr=0.05, batch_size=16, seed=seed,
            transform=augment, progress=False)
        return model.state_dict()

    assert state_equal(run(1), run(1))
    assert not state_equal(run(1), run(2))


@pytest.mark.parametrize("seed", [7, None])
def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path, seed):
    """3 epochs straight == 2 epochs, stop, resume from the checkpoint to 3.

    With a seed, every epoch's randomness follows from (seed, epoch); without one,
    the checkpoint's saved random state carries it over."""
    augment = Compose([RandomCrop(8, padding=1), HorizontalFlip()])

    def fresh():
        torch.manual_seed(0)
        model = TinyNet(dropout=0.3)
        return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    common = dict(batch_size=16, seed=seed, transform=augment, progress=False,
                  schedule=cosine_schedule())
    train, val = blobs(64), blobs(32, seed=1)
    model, opt = fresh()
    straight = fit(model, train, val, epochs=3, optimizer=opt,
                   checkpoint=tmp_path / "a.pt", **common)

    model2, opt2 = fresh()
    with pytest.raises(_Interrupt):  # the run dies after epoch 2
        fit(model2, train, val, epochs=3, optimizer=opt2,
            checkpoint=tmp_path / "b.pt", **common,
            on_epoch=lambda h: _stop_after(h, 2))
    assert load_checkpoint(tmp_path / "b.pt")["epoch"] == 2
    model3, opt3 = fresh()  # a new process would start like this
    resumed = fit(model3, train, val, epochs=3, optimizer=opt3,
                  checkpoint=tmp_path / "b.pt", resume=True, **common)
    assert state_equal(model.state_dict(), model3.state_dict())
    assert resumed.train_loss == straight.train_loss
    assert resumed.val_acc == straight.val_acc and resumed.lr == straight.lr
    state = load_checkpoint(tmp_path / "b.pt", TinyNet(dropout=0.3))
    assert state["epoch"] == 3 and "optimizer" in state


class _Interrupt(Exception):
    pass


def _stop_after(history, epochs):
    if len(history) == epochs:
        raise _Interrupt


def test_interrupted_run_leaves_a_usable_checkpoint(tmp_path):
    """An exception after epoch 1 leaves the epoch-1 checkpoint, loadable."""
    torch.manual_seed(0)
    model = TinyNet()
    with pytest.raises(_Interrupt):
        fit(model, blobs(32), epochs=3, batch_size=16, seed=0, progress=False,
            checkpoint=tmp_path / "c.pt", on_epoch=lambda h: _stop_after(h, 1))
    state = load_checkpoint(tmp_path / "c.pt", TinyNet())
    assert state["epoch"] == 1 and len(state["history"]["epoch"]) == 1
    assert not list(tmp_path.glob(".*tmp"))


def test_early_stopping_stops_and_restores_the_best_weights():
    """Noisy validation labels: it stops `patience` epochs after the best one, and
    the model comes back with the best epoch's validation accuracy."""
    torch.manual_seed(0)
    model = TinyNet()
    X, y = blobs(64, seed=1)
    noisy = (X, torch.randint(0, 3, (64,), generator=torch.Generator().manual_seed(2)))
    history = fit(model, blobs(96), noisy, epochs=30, lr=0.2, batch_size=16, seed=0,
                  early_stopping=2, progress=False)
    assert history.stopped_early and len(history) < 30
    assert len(history) == history.best_epoch + 2
    best = max(history.val_acc)
    assert history.val_acc[history.best_epoch - 1] == best
    assert evaluate(model, noisy)["acc"] == pytest.approx(best)
    with pytest.raises(ValueError, match="needs val_data"):
        fit(TinyNet(), blobs(16), epochs=1, early_stopping=2, progress=False)


def test_one_output_models_train_with_a_binary_loss():
    """A 'hot dog or not' model: one logit, accuracy by its sign."""
    torch.manual_seed(0)
    X, y = blobs(64, num_classes=2)
    model = TinyNet(num_classes=1)
    history = fit(model, (X, y), (X, y), epochs=5, lr=0.1, batch_size=16, seed=0,
                  progress=False)
    assert history.val_acc[-1] > 0.9
    logits = torch.tensor([[2.0], [-1.0], [0.5]])
    assert accuracy(logits, torch.tensor([1, 0, 0])) == pytest.approx(2 / 3)


def test_progress_bar_shows_running_loss_and_accuracy(capsys):
    """The tqdm bar (stderr in a terminal) carries loss= and acc= as it goes."""
    torch.manual_seed(0)
    fit(TinyNet(), blobs(32), blobs(16), epochs=1, batch_size=8, seed=0)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err and "acc=" in err
    assert "val_acc=" in err


def test_bf16_autocast_path_runs_the_model_in_bfloat16():
    """bf16=True autocasts the forward pass (CUDA by default; CPU here on request)."""
    torch.manual_seed(0)
    seen = []
    model = TinyNet()
    model.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    fit(model, blobs(16), epochs=1, batch_size=16, bf16=True, progress=False)
    assert seen == [torch.bfloat16]
    seen.clear()
    fit(model, blobs(16), epochs=1, batch_size=16, progress=False)  # CPU: off
    assert seen == [torch.float32]


def test_fit_accepts_a_dataloader():
    """Any iterable of (X, y) batches works, e.g. torch's DataLoader."""
    X, y = blobs(32)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y),
                                         batch_size=8)
    torch.manual_seed(0)
    history = fit(TinyNet(), loader, loader, epochs=2, progress=False)
    assert len(history) == 2 and history.val_acc[-1] is not None


def test_deterministic_switch(monkeypatch):
    """deterministic=True turns on torch's deterministic algorithms."""
    calls = []
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch, "use_deterministic_algorithms",
                        lambda flag, warn_only=False: calls.append(flag))
    seed_everything(0, deterministic=True)
    assert calls == [True] and torch.backends.cudnn.deterministic


# ---------------------------------------------------------------- metrics


def test_confusion_matrix_counts_pairs():
    """cm[true, predicted]: rows sum to the class counts."""
    y_true = torch.tensor([0, 0, 1, 2, 2, 2])
    y_pred = torch.tensor([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert cm.sum(1).tolist() == [2, 1, 3]


def test_predict_restores_training_mode():
    """predict runs in eval mode and hands the model back as it was."""
    model = TinyNet()
    model.train()
    logits, labels = predict(model, blobs(10))
    assert model.training and logits.shape == (10, 3) and labels.shape == (10,)


def test_fast_mode_follows_the_environment(monkeypatch):
    """CNN_COURSE_FAST=1 (set by the tests) picks the quick values."""
    monkeypatch.setenv("CNN_COURSE_FAST", "1")
    assert fast_mode() and fast(20, 1) == 1
    monkeypatch.setenv("CNN_COURSE_FAST", "0")
    assert not fast_mode() and fast(20, 1) == 20


# ---------------------------------------------------------------- real data, fast


def test_ci_training_on_digits_beats_chance_by_far():
    """scikit-learn digits, a small conv net, 3 epochs: over 90% test accuracy
    (chance is 10%), in a few seconds on one CPU thread."""
    from cnn_course.models import convnet

    full = data.digits()
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(0))
    train, test = full.subset(order[:1400]), full.subset(order[1400:])
    norm = Normalize((0.3,), (0.35,))
    torch.manual_seed(0)
    model = convnet(10, in_channels=1, widths=(16, 32, 32))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = fit(model, train, test, epochs=fast(6, 3), optimizer=optimizer,
                  batch_size=32, transform=norm, eval_transform=norm, seed=0,
                  progress=False)
    assert history.val_acc[-1] > 0.9, history.val_acc


@needs_mnist
def test_ci_training_on_an_mnist_slice_beats_chance_by_far():
    """Modern LeNet-5, 6,000 MNIST digits, 2 epochs: over 93% on 1,000 test digits."""
    from cnn_course.models import lenet5

    train = data.mnist("train", DATASETS, download=False, limit=6000)
    test = data.mnist("test", DATASETS, download=False, limit=1000)
    norm = Normalize((0.1307,), (0.3081,))
    torch.manual_seed(0)
    model = lenet5("modern", input_size=28)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    history = fit(model, train, test, epochs=2, optimizer=optimizer, batch_size=64,
                  transform=norm, eval_transform=norm, seed=0, progress=False)
    assert history.val_acc[-1] > 0.93, history.val_acc


def test_training_modes_do_not_leak_between_tests():
    """fit leaves no global deterministic mode on unless asked."""
    assert not torch.are_deterministic_algorithms_enabled()
