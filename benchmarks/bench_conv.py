"""Time the numpy conv2d (naive loops and fast im2col) against torch's conv2d.

Run:  python benchmarks/bench_conv.py [--repeats 9]

Everything runs in float32 on one thread (torch and numpy's BLAS), in one process.
For each shape we time the forward pass and forward + backward (numpy's backward
function, torch's autograd), take the median of ``--repeats`` runs and print the
ratio to torch; the naive loops run only on a small shape, since they take seconds
on the real ones. Targets (issue 3): fast forward at most 2.0x torch on the last two
shapes, fast forward + backward at most 3.0x.
"""

from __future__ import annotations

import os

# one thread for numpy's BLAS as well: must be set before numpy is imported
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnn_course.ops import (  # noqa: E402
    conv2d_backward_fast,
    conv2d_backward_naive,
    conv2d_forward_fast,
    conv2d_forward_naive,
)

# (x shape, w shape, stride, pad), as in the issue
SHAPES = [
    ((100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    ((256, 6, 14, 14), (16, 6, 5, 5), 1, 0),
    ((64, 64, 32, 32), (64, 64, 3, 3), 1, 1),
]
SMALL = ((4, 3, 16, 16), (8, 3, 3, 3), 1, 1)  # where the naive loops also run


def median_ms(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time in milliseconds of each function, after one warm-up call.

    The functions take turns, one run each per round, so that a burst of load from
    another process slows all of them alike and the ratios stay fair.
    """
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, record in zip(fns, times):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return [1000.0 * float(np.median(record)) for record in times]


def make_case(shape, seed: int = 0):
    x_shape, w_shape, stride, pad = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    b = rng.standard_normal(w_shape[0], dtype=np.float32)
    out, _ = conv2d_forward_fast(x, w, b, stride=stride, pad=pad)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    return x, w, b, dout, stride, pad


def numpy_fns(case, forward, backward):
    x, w, b, dout, stride, pad = case

    def fwd():
        return forward(x, w, b, stride=stride, pad=pad)

    def fwd_bwd():
        _, cache = forward(x, w, b, stride=stride, pad=pad)
        return backward(dout, cache)

    return fwd, fwd_bwd


def torch_fns(case):
    x, w, b, dout, stride, pad = case
    xt, wt, bt, gt = (torch.from_numpy(a) for a in (x, w, b, dout))
    xg, wg, bg = (t.clone().requires_grad_(True) for t in (xt, wt, bt))

    def fwd():
        with torch.no_grad():
            return F.conv2d(xt, wt, bt, stride=stride, padding=pad)

    def fwd_bwd():
        out = F.conv2d(xg, wg, bg, stride=stride, padding=pad)
        return torch.autograd.grad(out, (xg, wg, bg), gt)

    return fwd, fwd_bwd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="runs per median")
    args = parser.parse_args()
    torch.set_num_threads(1)

    # Warm-up pass over every shape first: glibc's malloc serves large blocks from
    # fresh, page-faulting memory until the first large block is freed, which would
    # slow whichever shape happened to run first (torch's as much as ours).
    cases = [make_case(shape) for shape in SHAPES]
    for case in cases:
        for fn in (*numpy_fns(case, conv2d_forward_fast, conv2d_backward_fast),
                   *torch_fns(case)):
            fn()

    print(f"# conv2d, float32, 1 thread, median of {args.repeats} runs "
          f"({platform.machine()}, numpy {np.__version__}, torch {torch.__version__})")
    print()
    print("| x | w | stride, pad | torch fwd | fast fwd | ratio "
          "| torch fwd+bwd | fast fwd+bwd | ratio |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios = []
    for shape, case in zip(SHAPES, cases):
        torch_fwd, torch_both = torch_fns(case)
        fast_fwd, fast_both = numpy_fns(case, conv2d_forward_fast, conv2d_backward_fast)
        t_fwd, f_fwd, t_both, f_both = median_ms(
            [torch_fwd, fast_fwd, torch_both, fast_both], args.repeats
        )
        ratios.append((f_fwd / t_fwd, f_both / t_both))
        x_shape, w_shape, stride, pad = shape
        print(f"| {x_shape} | {w_shape} | {stride}, {pad} | {t_fwd:.2f} ms "
              f"| {f_fwd:.2f} ms | {f_fwd / t_fwd:.2f}x | {t_both:.2f} ms "
              f"| {f_both:.2f} ms | {f_both / t_both:.2f}x |")
    print()
    forward_ok = all(fwd <= 2.0 for fwd, _ in ratios[1:])
    both_ok = all(both <= 3.0 for _, both in ratios)
    print(f"Targets: fast forward <= 2.0x torch on the last two shapes: "
          f"{'met' if forward_ok else 'NOT met'}; fast forward+backward <= 3.0x: "
          f"{'met' if both_ok else 'NOT met'}.")

    small = make_case(SMALL)
    t_fwd, t_both = median_ms(list(torch_fns(small)), args.repeats)
    f_fwd, f_both = median_ms(
        list(numpy_fns(small, conv2d_forward_fast, conv2d_backward_fast)), args.repeats
    )
    naive_repeats = max(3, args.repeats // 3)
    n_fwd, n_both = median_ms(
        list(numpy_fns(small, conv2d_forward_naive, conv2d_backward_naive)),
        naive_repeats,
    )
    x_shape, w_shape, stride, pad = SMALL
    print()
    print(f"Small shape x {x_shape}, w {w_shape}, stride {stride}, pad {pad}:")
    print()
    print("| version | fwd | ratio to torch | fwd+bwd | ratio to torch |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, a, b in (("torch", t_fwd, t_both), ("fast", f_fwd, f_both),
                       ("naive", n_fwd, n_both)):
        print(f"| {name} | {a:.3f} ms | {a / t_fwd:.1f}x | {b:.3f} ms "
              f"| {b / t_both:.1f}x |")


if __name__ == "__main__":
    main()
