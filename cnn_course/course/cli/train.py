"""The ``cnn-course train``, ``cnn-course pretrain`` and ``cnn-course speedrun``
commands.

``cnn-course train MODEL --dataset NAME`` trains one of the course's models on one of
its datasets with the course's recipe (:mod:`cnn_course.training.recipes`), printing the device, progress bars and the final
test metrics, and saves a checkpoint (``--out``, default ``runs/MODEL-DATASET.pt``)
that ``--resume`` continues from.

``cnn-course pretrain`` trains the transfer-learning backbone on a source task (by
default CIFAR-10's six animal classes) and writes the weights and their metadata
(data used, command, accuracy, md5) to ``cnn_course/weights/``.

``cnn-course speedrun`` races the modern LeNet-5 to 99 % MNIST test accuracy on two
CPU threads with :data:`cnn_course.training.recipes.SPEEDRUN` (lecture 08, section
8), once per seed, and prints each seed's test accuracy and training seconds and
their mean.

The model names come from :mod:`cnn_course.models.registry` and the dataset names
from :mod:`cnn_course.data.registry`. Heavy imports (torch, the data, those
registries) happen inside the command functions, so ``cnn-course --help`` stays
fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


class _Names:
    """A registry's names, looked up only when argparse needs them (to check a value
    or to print the help), so that building the parser never imports torch."""

    def __init__(self, lookup: Callable[[], Sequence[str]]) -> None:
        self._lookup = lookup

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __contains__(self, name: object) -> bool:
        return name in self._lookup()

    def __str__(self) -> str:
        return ", ".join(self._lookup())


def _model_names() -> list[str]:
    from cnn_course.models import names

    return names(aliases=True)


def _dataset_names() -> tuple[str, ...]:
    from cnn_course.data import names

    return names()


def _build_model(model_name: str, train):
    from cnn_course.models import build, canonical

    arch = canonical(model_name)
    _, channels, height, width = train.images.shape
    kwargs = {"num_classes": len(train.classes), "in_channels": channels}
    if arch.startswith("lenet5"):
        if (height, width) not in ((28, 28), (32, 32)):
            raise ValueError(f"{model_name} needs 28x28 or 32x32 images, the data "
                             f"is {height}x{width}")
        kwargs["input_size"] = height
    return arch, kwargs, build(arch, **kwargs)


def _settings(args, model_name: str, colour: bool) -> dict:
    from cnn_course.models import canonical
    from cnn_course.training import fast_mode
    from cnn_course.training.recipes import recipe as default_recipe

    recipe = default_recipe(canonical(model_name), colour)
    for key in recipe:
        value = getattr(args, key, None)
        if value is not None:
            recipe[key] = value
    if fast_mode() and args.epochs is None:
        recipe["epochs"] = 1
    return recipe


def _train(args, model_name: str, dataset: str, checkpoint: Path | None):
    """Shared by train and pretrain: load, build, fit, evaluate. Returns a dict."""
    import time

    import torch

    from cnn_course import data
    from cnn_course.analysis import count_params
    from cnn_course.device import get_device
    from cnn_course.training import (
        cosine_schedule,
        evaluate,
        fast_mode,
        fit,
        power_schedule,
        step_schedule,
    )
    from cnn_course.training.recipes import augmentation
    from cnn_course.training.recipes import optimizer as make_optimizer

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else get_device(verbose=False)
    threads = f", {torch.get_num_threads()} CPU threads" if device.type == "cpu" else ""
    print(f"device: {device}{threads}"
          + (" (fast mode: CNN_COURSE_FAST=1)" if fast_mode() else ""))

    limit_train = args.limit if args.limit else (2000 if fast_mode() else None)
    limit_test = 1000 if fast_mode() else None
    train, test, mean, std = data.load(dataset, args.data_root,
                                       limit_train=limit_train, limit_test=limit_test)
    colour = train.images.shape[1] == 3
    recipe = _settings(args, model_name, colour)
    size = train.images.shape[-1]
    augment, normalize = augmentation(recipe["augment"], size, mean, std)

    torch.manual_seed(args.seed)
    arch, arch_kwargs, model = _build_model(model_name, train)
    n_params = count_params(model).trainable
    print(f"model: {model_name} ({n_params:,} parameters); data: {train.name} "
          f"{len(train):,} images, {test.name} {len(test):,}; classes: "
          f"{', '.join(train.classes)}")

    val = test
    if args.early_stopping and not args.val_split:
        raise ValueError("--early-stopping needs --val-split: stopping on the test "
                         "set would choose the model by its test score")
    if args.val_split:
        gen = torch.Generator().manual_seed(args.seed)
        order = torch.randperm(len(train), generator=gen)
        cut = int(len(train) * args.val_split)
        train, val = train.subset(order[cut:]), train.subset(order[:cut])
    optimizer = make_optimizer(model, recipe["lr"], recipe["weight_decay"],
                               args.optimizer)
    schedule = {"cosine": cosine_schedule(), "step": step_schedule(
        max(recipe["epochs"] // 3, 1)), "power": power_schedule(0.3),
        "constant": None}[args.schedule]

    label = "val" if args.val_split else "test"

    def report(history):
        if args.progress:
            return
        last = history.last()
        val_text = (f", {label} loss {last['val_loss']:.4f} acc {last['val_acc']:.4f}"
                    if last.get("val_acc") is not None else "")
        print(f"epoch {last['epoch']}/{recipe['epochs']}: train loss "
              f"{last['train_loss']:.4f} acc {last['train_acc']:.4f}{val_text} "
              f"({last['seconds']:.1f} s)", flush=True)

    started = time.perf_counter()
    history = fit(model, train, val, epochs=recipe["epochs"], optimizer=optimizer,
                  schedule=schedule, device=device, batch_size=recipe["batch_size"],
                  transform=augment, eval_transform=normalize, seed=args.seed,
                  early_stopping=args.early_stopping, checkpoint=checkpoint,
                  resume=args.resume, progress=args.progress, on_epoch=report)
    seconds = time.perf_counter() - started
    metrics = evaluate(model, test, device, transform=normalize)
    train_metrics = evaluate(model, train, device, transform=normalize)
    print(f"final: test accuracy {metrics['acc']:.4f} (error "
          f"{100 * (1 - metrics['acc']):.2f}%), test loss {metrics['loss']:.4f}, "
          f"train accuracy {train_metrics['acc']:.4f}; {len(history)} epochs in "
          f"{seconds:.1f} s on {device}")
    return {"model": model, "arch": arch, "arch_kwargs": arch_kwargs,
            "train": train, "test": test, "history": history, "metrics": metrics,
            "train_metrics": train_metrics, "seconds": seconds, "device": device,
            "recipe": recipe, "mean": mean, "std": std}


def _cmd_train(args) -> int:
    import torch

    from cnn_course.data import DataError

    out = args.out or Path("runs") / f"{args.model}-{args.dataset.replace(':', '_')}.pt"
    out = Path(out)
    try:
        result = _train(args, args.model, args.dataset, out)
    except (DataError, ValueError) as err:
        print(f"cnn-course train: error: {err}", file=sys.stderr)
        return 2
    state = torch.load(out, map_location="cpu", weights_only=False)
    state.update(arch=result["arch"], arch_kwargs=result["arch_kwargs"],
                 dataset=args.dataset, classes=result["train"].classes,
                 mean=result["mean"], std=result["std"], test=result["metrics"],
                 recipe=result["recipe"], command=_command(args, "train"))
    torch.save(state, out)
    print(f"checkpoint: {out}")
    return 0


def _cmd_pretrain(args) -> int:
    import datetime
    import platform

    import torch

    from cnn_course.data import DataError, source_files
    from cnn_course.training import fast_mode
    from cnn_course.transfer import WEIGHTS_DIR, save_pretrained

    out = Path(args.out) if args.out else WEIGHTS_DIR
    if fast_mode() and out.resolve() == WEIGHTS_DIR.resolve():
        print("cnn-course pretrain: error: fast mode (CNN_COURSE_FAST=1) would "
              "overwrite the shipped weights with a toy model; pass --out DIR",
              file=sys.stderr)
        return 2
    name = args.name or f"{args.arch}_{args.source.replace('-', '_')}"
    checkpoint = out / f".{name}.ckpt" if args.resume else None
    try:
        result = _train(args, args.arch, args.source, checkpoint)
    except (DataError, ValueError) as err:
        print(f"cnn-course pretrain: error: {err}", file=sys.stderr)
        return 2
    history = result["history"]
    metadata = {
        "data": {"dataset": args.source, "train": result["train"].name,
                 "files": source_files(result["train"].name),
                 "train_images": len(result["train"]),
                 "test": result["test"].name, "test_images": len(result["test"]),
                 "classes": result["train"].classes,
                 "normalize": {"mean": list(result["mean"]),
                               "std": list(result["std"])}},
        "command": _command(args, "pretrain"),
        "test_accuracy": round(result["metrics"]["acc"], 4),
        "train_accuracy": round(result["train_metrics"]["acc"], 4),
        "epochs": len(history),
        "recipe": result["recipe"] | {"optimizer": args.optimizer,
                                      "schedule": args.schedule, "seed": args.seed},
        "seconds": round(result["seconds"], 1),
        "device": str(result["device"]),
        "threads": torch.get_num_threads(),
        "fast_mode": fast_mode(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
        "history": {"train_acc": [round(a, 4) for a in history.train_acc],
                    "test_acc": [round(a, 4) for a in history.val_acc]},
    }
    weights = save_pretrained(result["model"], name, result["arch"],
                              result["arch_kwargs"], metadata, out)
    size = weights.stat().st_size
    print(f"weights: {weights} ({size / 1e6:.2f} MB); metadata: "
          f"{weights.with_suffix('.json')}")
    if checkpoint is not None and checkpoint.exists():
        checkpoint.unlink()
    return 0


def _cmd_speedrun(args) -> int:
    import dataclasses

    from cnn_course import data
    from cnn_course.data import DataError
    from cnn_course.training import fast_mode
    from cnn_course.training.recipes import SPEEDRUN
    from cnn_course.training.speedrun import speedrun, warm_up

    if args.seeds < 1:
        print("cnn-course speedrun: error: --seeds must be at least 1",
              file=sys.stderr)
        return 2
    changes = {key: getattr(args, key) for key in ("epochs", "batch_size", "lr")
               if getattr(args, key) is not None}
    recipe = dataclasses.replace(SPEEDRUN, **changes)
    num_threads = args.threads or recipe.threads
    limit_train, limit_test = (2000, 1000) if fast_mode() else (None, None)
    try:
        train, test, mean, std = data.load("mnist", args.data_root,
                                           limit_train=limit_train,
                                           limit_test=limit_test)
    except DataError as err:
        print(f"cnn-course speedrun: error: {err}", file=sys.stderr)
        return 2
    print(f"speedrun: modern LeNet-5 on {train.name} ({len(train):,} images), "
          f"{recipe.epochs:g} epochs of batches of {recipe.batch_size}, "
          f"{recipe.optimizer} lr {recipe.lr:g}, label smoothing "
          f"{recipe.label_smoothing:g}; {num_threads} CPU "
          f"thread{'s' if num_threads != 1 else ''}"
          + (" (fast mode: CNN_COURSE_FAST=1)" if fast_mode() else ""), flush=True)
    seconds = warm_up(recipe.batch_size, num_threads=num_threads)
    print(f"warm-up (one-time kernel set-up, not timed as training): {seconds:.2f} s")
    results = []
    for seed in range(args.seed, args.seed + args.seeds):
        try:
            result = speedrun(train, test, mean, std, recipe, seed=seed,
                              num_threads=num_threads)
        except ValueError as err:
            print(f"cnn-course speedrun: error: {err}", file=sys.stderr)
            return 2
        results.append(result)
        print(f"seed {seed}: test accuracy {100 * result.acc:.2f} %, training "
              f"{result.seconds:.2f} s ({result.steps} steps)", flush=True)
    accs = [r.acc for r in results]
    mean_acc = sum(accs) / len(accs)
    mean_seconds = sum(r.seconds for r in results) / len(results)
    reached = sum(acc >= recipe.target for acc in accs)
    print(f"mean of {len(results)} seeds: test accuracy {100 * mean_acc:.2f} %, "
          f"training {mean_seconds:.2f} s; lowest {100 * min(accs):.2f} %; "
          f"{reached} of {len(results)} reached {100 * recipe.target:g} %")
    return 0


def _command(args, name: str) -> str:
    """The command line that repeats this run (every option that was set)."""
    parts = ["cnn-course", name]
    if name == "train":
        parts += [args.model, "--dataset", args.dataset]
    else:
        parts += ["--arch", args.arch, "--source", args.source]
    for option in ("epochs", "lr", "batch_size", "weight_decay", "optimizer",
                   "schedule", "augment", "seed", "threads", "limit", "val_split",
                   "early_stopping", "name", "out"):
        value = getattr(args, option, None)
        if value is None or (option == "val_split" and not value):
            continue
        parts += ["--" + option.replace("_", "-"), str(value)]
    return " ".join(parts)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=None,
                   help="default: the recipe's (20 gray, 30 colour; 1 in fast mode)")
    p.add_argument("--lr", type=float, default=None,
                   help="default 0.05 (0.005 for the classic LeNet-5)")
    p.add_argument("--batch-size", type=int, default=None, help="default 128")
    p.add_argument("--weight-decay", type=float, default=None, help="default 5e-4")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="SGD with Nesterov momentum 0.9 (default) or AdamW")
    p.add_argument("--schedule", choices=("cosine", "step", "power", "constant"),
                   default="cosine", help="learning-rate schedule (default cosine; "
                   "power is the lecture's lr / t^0.3)")
    p.add_argument("--augment", choices=("none", "shift", "crop-flip", "full"),
                   default=None, help="default: shift for gray, crop-flip for colour")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="default: cuda, then mps, then cpu")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--data-root", default=None,
                   help="the data folder (default: $CNN_COURSE_DATA, else the cache)")
    p.add_argument("--limit", type=int, default=None,
                   help="use only this many training images")
    p.add_argument("--val-split", type=float, default=0.0,
                   help="hold out this fraction of the training data for validation "
                   "(default 0: evaluate on the test set each epoch, report the last)")
    p.add_argument("--early-stopping", type=int, default=None, metavar="EPOCHS",
                   help="stop after this many epochs without a better validation "
                   "accuracy (needs --val-split)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint if there is one")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="one line per epoch instead of progress bars")


def add_parsers(sub) -> None:
    """Register ``train``, ``pretrain`` and ``speedrun`` on the ``cnn-course``
    subparsers."""
    p = sub.add_parser("train", help="train a model on a dataset and save a checkpoint")
    # a metavar, so that building the parser does not list (import) the models
    p.add_argument("model", choices=_Names(_model_names), metavar="MODEL",
                   help="one of %(choices)s")
    dataset = p.add_argument(
        "--dataset", required=True,
        help="one of %(datasets)s, or folder:PATH (a folder of class sub-folders, or "
        "with train/ and test/ inside)")
    dataset.datasets = _Names(_dataset_names)  # %(datasets)s in the help
    p.add_argument("--out", type=Path, default=None,
                   help="checkpoint file (default runs/MODEL-DATASET.pt)")
    _common(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("pretrain",
                       help="train the transfer-learning backbone and write its "
                       "weights and metadata")
    p.add_argument("--arch", choices=_Names(_model_names), default="convnet", metavar="ARCH",
                   help="one of %(choices)s (default convnet)")
    p.add_argument("--source", default="cifar10-animals",
                   help="the source task (default cifar10-animals)")
    p.add_argument("--name", default=None,
                   help="weight file name (default ARCH_SOURCE)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for NAME.pt and NAME.json (default: the package's "
                   "cnn_course/weights/)")
    _common(p)
    p.set_defaults(func=_cmd_pretrain)

    p = sub.add_parser("speedrun",
                       help="race the modern LeNet-5 to 99 %% MNIST test accuracy on "
                       "the CPU, once per seed")
    p.add_argument("--seeds", type=int, default=5,
                   help="how many seeds to race (default 5: the race is their mean)")
    p.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")
    # the defaults are the recipe's (cnn_course.training.recipes.SPEEDRUN), printed
    # when the command starts: importing the recipe here would import torch
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: the recipe's)")
    p.add_argument("--epochs", type=float, default=None,
                   help="default: the recipe's (a fraction of an epoch is allowed)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default: the recipe's")
    p.add_argument("--lr", type=float, default=None,
                   help="the peak learning rate (default: the recipe's)")
    p.add_argument("--data-root", default=None,
                   help="the data folder (default: $CNN_COURSE_DATA, else the cache)")
    p.set_defaults(func=_cmd_speedrun)
