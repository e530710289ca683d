"""Train the tiny numpy CNN of ``cnn_course.ops.net`` on scikit-learn's digits.

Run:  python scripts/train_numpy_digits.py [--epochs 15] [--seed 0]

conv3x3(1->8) -> relu -> maxpool2 -> conv3x3(8->16) -> relu -> maxpool2 -> affine,
SGD with momentum, no torch. Prints the loss of every epoch, the test accuracy and
the training time (the issue asks for at least 95% in under 60 s).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the course's 2-core machine

from cnn_course.ops.net import TrainConfig, train_digits  # noqa: E402


def main() -> None:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=defaults.num_epochs)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args()
    config = TrainConfig(num_epochs=args.epochs, lr=args.lr, seed=args.seed)
    result = train_digits(config, verbose=True)
    print(f"parameters:     {result.num_params}")
    print(f"train accuracy: {result.train_accuracy:.4f}")
    print(f"test accuracy:  {result.test_accuracy:.4f}")
    print(f"training time:  {result.seconds:.2f} s")


if __name__ == "__main__":
    main()
