"""The ``cnn-course train`` and ``cnn-course pretrain`` commands.

``cnn-course train MODEL --dataset NAME`` trains one of the course's models on one of
its datasets with the recipe below, printing the device, progress bars and the final
test metrics, and saves a checkpoint (``--out``, default ``runs/MODEL-DATASET.pt``)
that ``--resume`` continues from.

``cnn-course pretrain`` trains the transfer-learning backbone on a source task (by
default CIFAR-10's six animal classes) and writes the weights and their metadata
(data used, command, accuracy, md5) to ``cnn_course/weights/``.

Heavy imports (torch, the data) happen inside the command functions, so
``cnn-course --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# model name -> (architecture in cnn_course.transfer.ARCHITECTURES, its keywords)
MODELS = {
    "lenet5": ("lenet5-classic", {}),
    "lenet5-classic": ("lenet5-classic", {}),
    "lenet5-modern": ("lenet5-modern", {}),
    "convnet": ("convnet", {}),
    "resnet20": ("resnet20", {}),
}

DATASETS = ("mnist", "fashion-mnist", "cifar10", "cifar10-animals",
            "cifar10-vehicles", "digits")

# The recipe: what works for each kind of data (every value can be overridden).
RECIPES = {
    "gray": {"epochs": 20, "lr": 0.05, "weight_decay": 5e-4, "batch_size": 128,
             "augment": "shift"},
    "colour": {"epochs": 30, "lr": 0.05, "weight_decay": 5e-4, "batch_size": 128,
               "augment": "crop-flip"},
}

# Per-model changes to the recipe: the classic LeNet-5's RBF output gives large
# scores (squared distances over 84 units), so it needs a ten times smaller step.
MODEL_RECIPES = {"lenet5": {"lr": 0.005}, "lenet5-classic": {"lr": 0.005}}


def _load(name: str, root, limit_train=None, limit_test=None):
    """``(train, test, mean, std)`` for a dataset name (or ``folder:PATH``)."""
    import torch

    from cnn_course import data
    from cnn_course.augment import CIFAR10_MEAN, CIFAR10_STD, MNIST_MEAN, MNIST_STD

    if name in ("mnist", "fashion-mnist"):
        loader = data.mnist if name == "mnist" else data.fashion_mnist
        train = loader("train", root, limit=limit_train)
        test = loader("test", root, limit=limit_test)
        return train, test, MNIST_MEAN, MNIST_STD
    if name.startswith("cifar10"):
        classes = {"cifar10": None, "cifar10-animals": data.CIFAR10_ANIMALS,
                   "cifar10-vehicles": data.CIFAR10_VEHICLES}.get(name)
        if name not in ("cifar10", "cifar10-animals", "cifar10-vehicles"):
            raise data.DataError(f"unknown dataset {name!r}")
        train = data.cifar10("train", root, classes=classes)
        test = data.cifar10("test", root, classes=classes)
        if limit_train is not None:  # a class-balanced slice, not the first images
            train = data.per_class(train, max(limit_train // len(train.classes), 1))
        if limit_test is not None:
            test = data.per_class(test, max(limit_test // len(test.classes), 1))
        return train, test, CIFAR10_MEAN, CIFAR10_STD
    if name == "digits":
        full = data.digits()
        order = torch.randperm(len(full), generator=torch.Generator().manual_seed(0))
        cut = int(0.8 * len(full))
        train, test = full.subset(order[:cut]), full.subset(order[cut:])
        if limit_train is not None:
            train = train.subset(torch.arange(min(limit_train, len(train))))
        return train, test, (0.3,), (0.35,)
    if name.startswith("folder:"):
        folder = Path(name.split(":", 1)[1])
        if (folder / "train").is_dir() and (folder / "test").is_dir():
            train = data.image_folder(folder / "train", size=32)
            test = data.image_folder(folder / "test", size=32, classes=train.classes)
        else:
            full = data.image_folder(folder, size=32)
            gen = torch.Generator().manual_seed(0)
            order = torch.randperm(len(full), generator=gen)
            cut = int(0.8 * len(full))
            train, test = full.subset(order[:cut]), full.subset(order[cut:])
        X = train.images.float() / 255
        mean = X.mean(dim=(0, 2, 3)).tolist()
        std = X.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
        return train, test, tuple(mean), tuple(std)
    raise data.DataError(f"unknown dataset {name!r}; choose from {DATASETS} or "
                         f"folder:PATH")


def _augmentation(kind: str, size: int, mean, std):
    from cnn_course.augment import (
        ColorJitter,
        Compose,
        HorizontalFlip,
        Normalize,
        RandomCrop,
        RandomRotation,
    )

    steps = {
        "none": [],
        # MNIST digits: small shifts, never flips (a mirrored 2 is not a 2)
        "shift": [RandomCrop(size, padding=2)],
        "crop-flip": [RandomCrop(size, padding=size // 8), HorizontalFlip()],
        "full": [RandomCrop(size, padding=size // 8), HorizontalFlip(),
                 RandomRotation(10), ColorJitter(0.2, 0.2)],
    }[kind]
    return Compose(steps + [Normalize(mean, std)]), Normalize(mean, std)


def _build_model(model_name: str, train, threads_hint: bool = True):
    from cnn_course.transfer import build

    arch, kwargs = MODELS[model_name]
    kwargs = dict(kwargs)
    _, channels, height, width = train.images.shape
    kwargs.update(num_classes=len(train.classes), in_channels=channels)
    if arch.startswith("lenet5"):
        if (height, width) not in ((28, 28), (32, 32)):
            raise ValueError(f"{model_name} needs 28x28 or 32x32 images, the data "
                             f"is {height}x{width}")
        kwargs["input_size"] = height
    return arch, kwargs, build(arch, **kwargs)


def _settings(args, model_name: str, colour: bool) -> dict:
    from cnn_course.train import fast_mode

    recipe = dict(RECIPES["colour" if colour else "gray"])
    recipe.update(MODEL_RECIPES.get(model_name, {}))
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

    from cnn_course.device import get_device
    from cnn_course.train import (
        cosine_schedule,
        evaluate,
        fast_mode,
        fit,
        power_schedule,
        step_schedule,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else get_device(verbose=False)
    threads = f", {torch.get_num_threads()} CPU threads" if device.type == "cpu" else ""
    print(f"device: {device}{threads}"
          + (" (fast mode: CNN_COURSE_FAST=1)" if fast_mode() else ""))

    limit_train = args.limit if args.limit else (2000 if fast_mode() else None)
    limit_test = 1000 if fast_mode() else None
    train, test, mean, std = _load(dataset, args.data_root, limit_train, limit_test)
    colour = train.images.shape[1] == 3
    recipe = _settings(args, model_name, colour)
    size = train.images.shape[-1]
    augment, normalize = _augmentation(recipe["augment"], size, mean, std)

    torch.manual_seed(args.seed)
    arch, arch_kwargs, model = _build_model(model_name, train)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
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
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim == 1 else decay).append(p)  # no decay on biases, BN
    groups = [{"params": decay, "weight_decay": recipe["weight_decay"]},
              {"params": no_decay, "weight_decay": 0.0}]
    if args.optimizer == "adam":
        optimizer = torch.optim.AdamW(groups, lr=recipe["lr"])
    else:
        optimizer = torch.optim.SGD(groups, lr=recipe["lr"], momentum=0.9,
                                    nesterov=True)
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

    from cnn_course.data import DataError
    from cnn_course.train import fast_mode
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
                 "files": _source_files(result["train"].name),
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


def _source_files(name: str) -> dict[str, str]:
    """The files (and md5s) a dataset was read from, for the weights' metadata."""
    from cnn_course import data

    if name.startswith("cifar10-jpg"):
        return {"cifar10-jpg/cifar10-jpg.tar.gz": data.CIFAR10_JPG_MD5}
    if name.startswith("cifar10"):
        return {f"cifar10/{data.CIFAR10_PYTHON.name}": data.CIFAR10_PYTHON.md5}
    if name.startswith("mnist"):
        return {f"mnist/{k}": v for k, v in data.MNIST_FILES.items()}
    if name.startswith("fashion-mnist"):
        return {f"fashion-mnist/{k}": v for k, v in data.FASHION_FILES.items()}
    return {}


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
    """Register ``train`` and ``pretrain`` on the ``cnn-course`` subparsers."""
    p = sub.add_parser("train", help="train a model on a dataset and save a checkpoint")
    p.add_argument("model", choices=sorted(MODELS))
    p.add_argument("--dataset", required=True,
                   help=f"one of {', '.join(DATASETS)}, or folder:PATH (a folder of "
                   "class sub-folders, or with train/ and test/ inside)")
    p.add_argument("--out", type=Path, default=None,
                   help="checkpoint file (default runs/MODEL-DATASET.pt)")
    _common(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("pretrain",
                       help="train the transfer-learning backbone and write its "
                       "weights and metadata")
    p.add_argument("--arch", choices=sorted(MODELS), default="convnet")
    p.add_argument("--source", default="cifar10-animals",
                   help="the source task (default cifar10-animals)")
    p.add_argument("--name", default=None,
                   help="weight file name (default ARCH_SOURCE)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for NAME.pt and NAME.json (default: the package's "
                   "cnn_course/weights/)")
    _common(p)
    p.set_defaults(func=_cmd_pretrain)
