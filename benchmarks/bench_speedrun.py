"""The LeNet-5 speedrun against the course's recipe, on the CPU, in one process.

Run:  python benchmarks/bench_speedrun.py [--seeds 5] [--threads 2] [--ladder]

For every seed it trains the modern LeNet-5 on the whole of MNIST twice: first with
the course's recipe cut to 2 epochs (``default_run``: ``fit``, Nesterov SGD, cosine,
shifted ``uint8`` batches), then with the speedrun
(:data:`cnn_course.training.recipes.SPEEDRUN`). The two alternate, so that a change
in the machine's load hits both. Training time is the wall time of the training
loop only (the data is loaded, and the CPU kernels warmed up, before any clock
starts); test accuracy is on all 10,000 test digits.

Prints, per seed, the speedrun's test accuracy and time-to-99 % (its training time,
when its test accuracy reached 99 %), the default's accuracy and time, then the
means, the lowest speedrun accuracy and the ratio of the mean times. The machine's
load average is printed before and after: on a shared machine, run it more than
once.

With ``--ladder`` it measures lecture 08's table instead: the yardstick and every
rung of :func:`cnn_course.training.speedrun.ladder` for every seed, then per rung the
mean and lowest test accuracy, the mean training time and the speed-up over the
yardstick.
"""

from __future__ import annotations

import argparse
import os
import platform

import torch

from cnn_course import data
from cnn_course.training.recipes import SPEEDRUN
from cnn_course.training.speedrun import default_run, ladder, speedrun, warm_up


def load_average() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not on every platform
        return "load average unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=SPEEDRUN.threads)
    parser.add_argument("--data-root", default=None,
                        help="default: $CNN_COURSE_DATA, else the cache")
    parser.add_argument("--ladder", action="store_true",
                        help="measure every rung of the ladder (lecture 08's table)")
    args = parser.parse_args()

    train, test, mean, std = data.load("mnist", args.data_root)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {args.threads} torch threads; {load_average()}")
    print(f"speedrun: {SPEEDRUN}")
    warm = warm_up(SPEEDRUN.batch_size, num_threads=args.threads)
    print(f"warm-up (not counted): {warm:.2f} s\n")
    if args.ladder:
        measure_ladder(train, test, mean, std, args.seeds, args.threads)
        return

    print(f"{'seed':>4}  {'speedrun acc':>12}  {'time-to-99 %':>12}  "
          f"{'default acc':>11}  {'default s':>9}")
    fast_runs, default_runs = [], []
    for seed in range(args.seeds):
        base = default_run(train, test, mean, std, epochs=2, seed=seed,
                           num_threads=args.threads)
        run = speedrun(train, test, mean, std, SPEEDRUN, seed=seed,
                       num_threads=args.threads)
        default_runs.append(base)
        fast_runs.append(run)
        time_to_target = (f"{run.seconds:.2f} s" if run.acc >= SPEEDRUN.target
                          else f"not ({run.seconds:.2f} s)")
        print(f"{seed:>4}  {100 * run.acc:>11.2f}%  {time_to_target:>12}  "
              f"{100 * base.acc:>10.2f}%  {base.seconds:>8.2f}s", flush=True)

    def mean_of(values):
        return sum(values) / len(values)

    fast_acc = mean_of([r.acc for r in fast_runs])
    fast_s = mean_of([r.seconds for r in fast_runs])
    base_acc = mean_of([r.acc for r in default_runs])
    base_s = mean_of([r.seconds for r in default_runs])
    reached = sum(r.acc >= SPEEDRUN.target for r in fast_runs)
    print(f"\nspeedrun: mean test accuracy {100 * fast_acc:.2f} %, lowest "
          f"{100 * min(r.acc for r in fast_runs):.2f} %, mean training time "
          f"{fast_s:.2f} s (fastest {min(r.seconds for r in fast_runs):.2f} s); "
          f"{reached} of {len(fast_runs)} seeds reached "
          f"{100 * SPEEDRUN.target:g} %")
    print(f"default, 2 epochs: mean test accuracy {100 * base_acc:.2f} %, mean "
          f"training time {base_s:.2f} s")
    print(f"ratio of mean times, default / speedrun: {base_s / fast_s:.2f}x; "
          f"{load_average()}")


def measure_ladder(train, test, mean, std, seeds: int, threads: int) -> None:
    """Lecture 08's table: every rung for every seed, the rungs taking turns."""
    rungs = [("the course's recipe, 2 epochs", None), *ladder()]
    runs = {name: [] for name, _ in rungs}
    for seed in range(seeds):
        for name, recipe in rungs:
            run = (default_run(train, test, mean, std, epochs=2, seed=seed,
                               num_threads=threads) if recipe is None else
                   speedrun(train, test, mean, std, recipe, seed=seed,
                            num_threads=threads))
            runs[name].append(run)
        print(f"seed {seed}: " + ", ".join(f"{100 * r[-1].acc:.2f} %"
                                           for r in runs.values()), flush=True)
    base = sum(r.seconds for r in runs[rungs[0][0]]) / seeds
    print(f"\n| row | what changes | steps | mean test accuracy | lowest | seconds "
          f"| speed-up |\n| --- | --- | --- | --- | --- | --- | --- |")
    for row, (name, done) in enumerate(runs.items()):
        seconds = sum(r.seconds for r in done) / seeds
        print(f"| {row} | {name} | {done[0].steps} | "
              f"{100 * sum(r.acc for r in done) / seeds:.2f} % | "
              f"{100 * min(r.acc for r in done):.2f} % | {seconds:.2f} | "
              f"{base / seconds:.2f}x |")
    print(load_average())


if __name__ == "__main__":
    main()
