"""The transfer-learning table of lecture 11: from scratch vs feature extraction vs
fine-tuning, with 10, 50 and 100 labelled images per class.

Source task: CIFAR-10's six animal classes (the shipped backbone
``cnn_course/weights/convnet_cifar10_animals.pt``, made by ``cnn-course pretrain``).
Target task: CIFAR-10's four vehicle classes (airplane, automobile, ship, truck),
tested on all 4,000 vehicle test images. Each cell is the mean ± standard deviation
over seeds; a seed fixes which labelled images are drawn and the initialisation.

The experiment itself is :func:`cnn_course.transfer.transfer_table` (one cell:
:func:`cnn_course.transfer.train_transfer`), which the lecture calls too; this
script parses the options, prints every cell as it comes and the table at the end.
Run (about 5 minutes on two CPU cores)::

    CNN_COURSE_DATA=../shared/datasets python scripts/transfer_table.py --threads 2
"""

from __future__ import annotations

import argparse
import json

import torch

from cnn_course import data
from cnn_course.training import fast_mode
from cnn_course.transfer import WEIGHTS_DIR, pretrained_info, transfer_table


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
    parser.add_argument("--device", default=None, help="default: the CPU")
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

    def report(method: str, n: int, seed: int, acc: float, seconds: float) -> None:
        print(f"{n:4d}/class seed {seed} {method:18s} {100 * acc:5.1f}%  "
              f"({seconds:.0f} s)", flush=True)

    table = transfer_table(train_all, test, args.sizes, args.seeds,
                           steps=args.steps, lr=args.lr, batch_size=args.batch_size,
                           backbone=args.backbone, weights_dir=args.weights_dir,
                           device=args.device, progress=False, on_result=report)
    print()
    print(f"{table.test_images} test images, {len(table.seeds)} seeds, {table.steps} "
          f"steps per variant, {table.seconds:.0f} s on "
          f"{torch.get_num_threads()} CPU threads:\n")
    print(table.markdown())
    out = table.as_dict()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
