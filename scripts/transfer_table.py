"""The transfer-learning table of lecture 11: from scratch vs feature extraction vs
fine-tuning, with 10, 50 and 100 labelled images per class.

Source task: CIFAR-10's six animal classes (the shipped backbone
``cnn_course/weights/convnet_cifar10_animals.pt``, made by ``cnn-course pretrain``).
Target task: CIFAR-10's four vehicle classes (airplane, automobile, ship, truck),
tested on all 4,000 vehicle test images. Each cell is the mean ± standard deviation
over seeds; a seed fixes which labelled images are drawn and the initialisation.

- scratch: a randomly initialised ConvNet of the same shape, all layers trained;
- feature extraction: the pretrained body frozen, a new linear head trained on its
  embeddings (what the head sees);
- fine-tuning: the pretrained body and a new head, all layers trained, the body at
  1/10 of the head's learning rate (the lecture's rule).

Every variant gets the same number of optimizer steps (300, batches of 32). Run
(about 5 minutes on two CPU cores)::

    CNN_COURSE_DATA=../shared/datasets python scripts/transfer_table.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch
from torch import nn

from cnn_course import data
from cnn_course.data.augment import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    Compose,
    HorizontalFlip,
    Normalize,
    RandomCrop,
)
from cnn_course.models import convnet
from cnn_course.training import cosine_schedule, evaluate, fast_mode, fit
from cnn_course.transfer import (
    WEIGHTS_DIR,
    embed,
    load_pretrained,
    param_groups,
    pretrained_info,
    replace_head,
)

METHODS = ("scratch", "feature extraction", "fine-tuning")


def _epochs_for(steps: int, n_images: int, batch_size: int) -> int:
    return max(1, math.ceil(steps / math.ceil(n_images / batch_size)))


def run_one(method: str, train: data.ImageDataset, test: data.ImageDataset,
            seed: int, steps: int, lr: float, batch_size: int, backbone: str,
            test_features: torch.Tensor | None = None,
            weights_dir=WEIGHTS_DIR) -> float:
    """Train one variant on ``train``; its accuracy on ``test``."""
    normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)
    augment = Compose([RandomCrop(32, padding=4), HorizontalFlip(), normalize])
    num_classes = len(train.classes)
    torch.manual_seed(seed)
    epochs = _epochs_for(steps, len(train), batch_size)
    common = dict(epochs=epochs, batch_size=batch_size, seed=seed, progress=False,
                  schedule=cosine_schedule())

    if method == "feature extraction":
        # the frozen body never changes, so its embeddings are computed once and a
        # linear head (the only trained layer) learns on them
        body = load_pretrained(backbone, weights_dir)
        features = embed(body, train, transform=normalize)  # (N, 128)
        head = nn.Linear(features.shape[1], num_classes)
        optimizer = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9,
                                    weight_decay=5e-4)
        fit(head, (features, train.labels), optimizer=optimizer, **common)
        return evaluate(head, (test_features, test.labels))["acc"]

    if method == "scratch":
        model = convnet(num_classes)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9,
                                    weight_decay=5e-4)
    elif method == "fine-tuning":
        model = load_pretrained(backbone, weights_dir)
        replace_head(model, num_classes)
        optimizer = torch.optim.SGD(param_groups(model, lr, body_lr_factor=0.1),
                                    momentum=0.9, weight_decay=5e-4)
    else:
        raise ValueError(f"unknown method {method!r}")
    fit(model, train, optimizer=optimizer, transform=augment, **common)
    return evaluate(model, test, transform=normalize)["acc"]


def table(results: dict, sizes: list[int]) -> str:
    """Markdown: a row per method, a column per size, mean ± std in points."""
    lines = ["| method | " + " | ".join(f"{n} / class" for n in sizes) + " |",
             "| --- |" + " --- |" * len(sizes)]
    for method in METHODS:
        cells = []
        for n in sizes:
            accs = [100 * a for a in results[method][str(n)]]
            spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
            cells.append(f"{statistics.mean(accs):.1f} ± {spread:.1f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300,
                        help="optimizer steps per variant")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backbone", default="convnet_cifar10_animals")
    parser.add_argument("--weights-dir", default=str(WEIGHTS_DIR))
    parser.add_argument("--test-limit", type=int, default=None,
                        help="test images per class (default: all 1,000)")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--cache", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if fast_mode():  # CI: one tiny cell per method
        args.sizes, args.seeds, args.steps = args.sizes[:1], args.seeds[:1], 10
        args.test_limit = args.test_limit or 50

    info = pretrained_info(args.backbone, args.weights_dir)
    print(f"backbone: {args.backbone} (pretrained on {info['data']['dataset']}, "
          f"test accuracy {info['test_accuracy']:.3f}); target: "
          f"{', '.join(data.CIFAR10_VEHICLES)}")
    train_all, test, _, _ = data.load("cifar10-vehicles", args.data_root,
                                      cache=args.cache)
    if args.test_limit:
        test = data.per_class(test, args.test_limit, seed=0)
    normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)
    test_features = embed(load_pretrained(args.backbone, args.weights_dir), test,
                          transform=normalize)

    results = {m: {str(n): [] for n in args.sizes} for m in METHODS}
    started = time.perf_counter()
    for n in args.sizes:
        for seed in args.seeds:
            train = data.per_class(train_all, n, seed=seed)
            for method in METHODS:
                acc = run_one(method, train, test, seed, args.steps, args.lr,
                              args.batch_size, args.backbone, test_features,
                              args.weights_dir)
                results[method][str(n)].append(acc)
                print(f"{n:4d}/class seed {seed} {method:18s} {100 * acc:5.1f}%  "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)
    text = table(results, args.sizes)
    print()
    print(f"{len(test)} test images, {len(args.seeds)} seeds, {args.steps} steps "
          f"per variant, {time.perf_counter() - started:.0f} s on "
          f"{torch.get_num_threads()} CPU threads:\n")
    print(text)
    out = {"results": results, "sizes": args.sizes, "seeds": args.seeds,
           "steps": args.steps, "lr": args.lr, "test_images": len(test),
           "backbone": args.backbone, "table": text}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
