"""Time the numpy conv2d (naive loops and the fast path) against torch's conv2d.

Run:  python benchmarks/bench_conv.py [--repeats 9] [--rounds 3] [--baseline REV]

Everything runs in float32 on one thread (torch, and numpy's BLAS through
threadpoolctl). For each shape we time the forward pass and forward + backward
(numpy's backward function, torch's autograd), torch's and ours taking turns call by
call, so that a burst of load from another process slows both alike. A round gives
the median of ``--repeats`` calls of each and their ratio; ``--rounds`` rounds give
the ratio's median and its spread (lowest to highest round). Targets (issue 19):
fast forward at most 1.5x torch and fast forward + backward at most 2.0x, on every
shape.

numpy's speed depends on which OpenBLAS kernel it runs: some machines set
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` for older OpenBLAS builds, which
slows a current one. The benchmark prints the kernel (threadpoolctl) and runs twice:
with the machine's settings, then in a fresh process with both unset; where the
environment sets neither, the two runs would be the same and it runs once.
``--baseline REV`` also times the fast path of ``cnn_course/ops/conv.py`` as it was
at git revision ``REV``, side by side (before/after). ``--json`` prints one JSON
document instead of the tables (``benchmarks/run_all.py`` reads it).
"""

from __future__ import annotations

import os

# one thread for numpy's BLAS as well: must be set before numpy is imported
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from cnn_course.ops import conv as conv_module  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# the variables a machine may set for older OpenBLAS builds
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
FORWARD_TARGET, BOTH_TARGET = 1.5, 2.0

# (x shape, w shape, stride, pad), as in the issue
SHAPES = [
    ((100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    ((256, 6, 14, 14), (16, 6, 5, 5), 1, 0),
    ((64, 64, 32, 32), (64, 64, 3, 3), 1, 1),
]
SMALL = ((4, 3, 16, 16), (8, 3, 3, 3), 1, 1)  # where the naive loops also run


def median_ms(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time in milliseconds of each function, after one warm-up call.

    The functions take turns, one call each per round, so that a burst of load from
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
    out, _ = conv_module.conv2d_forward_fast(x, w, b, stride=stride, pad=pad)
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


def multiplies_fn(case):
    """The fast forward's matrix multiplies alone, on operands of the same shapes: no
    lowering, no copies, no bias. Its time is the floor of the lowering + BLAS
    method: where it is over the target, only a faster matrix multiply (a BLAS
    kernel) can meet it."""
    x, w, b, dout, stride, pad = case
    geo = conv_module._conv_geometry(x, w, stride, pad, 1, "zeros")
    Kd, starts = conv_module._lowered_rows(geo)
    step = conv_module._block_size(geo, Kd, w.dtype)
    w_rows = conv_module._w_rows(w)  # (F, K)
    F_, K = w_rows.shape
    sizes = [min(step, geo.N - n0) for n0 in range(0, geo.N, step)]
    rng = np.random.default_rng(1)
    lowered = {n: rng.standard_normal((geo.dilation[0] * Kd * geo.WW * geo.C,
                                       n * geo.W_out), dtype=np.float32) for n in set(sizes)}
    rows = {n: np.empty((geo.H_out, F_, n * geo.W_out), np.float32) for n in set(sizes)}

    def multiplies():
        for n in sizes:
            matrix, out = lowered[n], rows[n]
            for i, start in enumerate(starts):
                np.matmul(w_rows, matrix[start : start + K], out=out[i])

    return multiplies


def load_baseline(rev: str):
    """``cnn_course/ops/conv.py`` as it was at git revision ``rev``, as a module of
    the installed package (its relative imports resolve to today's helpers)."""
    source = subprocess.run(["git", "show", f"{rev}:cnn_course/ops/conv.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="conv-baseline-"))
    path = folder / "conv_baseline.py"
    path.write_text(source)
    name = "cnn_course.ops._conv_baseline"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def blas_kernel() -> dict:
    """What numpy's BLAS is: library, version, kernel (architecture), threads, and
    the OpenBLAS variables of this process."""
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    lib = info[0] if info else {}
    return {"library": lib.get("internal_api", "?"), "version": lib.get("version", "?"),
            "kernel": lib.get("architecture", "?"), "threads": lib.get("num_threads"),
            "env": {v: os.environ.get(v) for v in BLAS_VARS}}


def spread(values: list[float]) -> dict:
    return {"median": float(np.median(values)), "low": min(values), "high": max(values)}


def measure(repeats: int, rounds: int, baseline_rev: str | None) -> dict:
    """Every shape's times and ratios to torch, in this process."""
    torch.set_num_threads(1)
    versions = {"fast": conv_module}
    if baseline_rev:
        versions[f"before ({baseline_rev})"] = load_baseline(baseline_rev)
    # Warm-up pass over every shape first: glibc's malloc serves large blocks from
    # fresh, page-faulting memory until the first large block is freed, which would
    # slow whichever shape happened to run first (torch's as much as ours).
    cases = [make_case(shape) for shape in SHAPES]
    for case in cases:
        for module in versions.values():
            for fn in numpy_fns(case, module.conv2d_forward_fast,
                                module.conv2d_backward_fast):
                fn()
        for fn in torch_fns(case):
            fn()

    rows = []
    for shape, case in zip(SHAPES, cases):
        fns = list(torch_fns(case))
        for module in versions.values():
            fns += numpy_fns(case, module.conv2d_forward_fast,
                             module.conv2d_backward_fast)
        fns.append(multiplies_fn(case))
        per_round = [median_ms(fns, repeats) for _ in range(rounds)]
        row = {"x": shape[0], "w": shape[1], "stride": shape[2], "pad": shape[3],
               "torch_fwd_ms": spread([r[0] for r in per_round]),
               "torch_both_ms": spread([r[1] for r in per_round]),
               "multiplies_ms": spread([r[-1] for r in per_round]),
               "multiplies_ratio": spread([r[-1] / r[0] for r in per_round])}
        for k, name in enumerate(versions):
            fwd, both = 2 + 2 * k, 3 + 2 * k
            row[name] = {
                "fwd_ms": spread([r[fwd] for r in per_round]),
                "both_ms": spread([r[both] for r in per_round]),
                "fwd_ratio": spread([r[fwd] / r[0] for r in per_round]),
                "both_ratio": spread([r[both] / r[1] for r in per_round]),
            }
        rows.append(row)

    small = make_case(SMALL)
    t_fwd, t_both, f_fwd, f_both = median_ms(
        list(torch_fns(small)) + list(numpy_fns(small, conv_module.conv2d_forward_fast,
                                                conv_module.conv2d_backward_fast)),
        repeats)
    n_fwd, n_both = median_ms(
        list(numpy_fns(small, conv_module.conv2d_forward_naive,
                       conv_module.conv2d_backward_naive)), max(3, repeats // 3))
    return {"kernel": blas_kernel(), "repeats": repeats, "rounds": rounds,
            "versions": list(versions), "rows": rows,
            "small": {"shape": SMALL, "torch": [t_fwd, t_both], "fast": [f_fwd, f_both],
                      "naive": [n_fwd, n_both]}}


def targets_met(result: dict, version: str = "fast") -> tuple[bool, bool]:
    """(forward within 1.5x on every shape, forward+backward within 2.0x), medians."""
    fwd = all(r[version]["fwd_ratio"]["median"] <= FORWARD_TARGET for r in result["rows"])
    both = all(r[version]["both_ratio"]["median"] <= BOTH_TARGET for r in result["rows"])
    return fwd, both


def _ratio(s: dict) -> str:
    return f"{s['median']:.2f}x ({s['low']:.2f}-{s['high']:.2f})"


def print_result(title: str, result: dict) -> None:
    k = result["kernel"]
    env = ", ".join(f"{v}={val}" if val is not None else f"{v} unset"
                    for v, val in k["env"].items())
    print(f"## {title}")
    print()
    print(f"BLAS: {k['library']} {k['version']}, kernel {k['kernel']}, "
          f"{k['threads']} thread ({env}); torch {torch.__version__}, 1 thread; "
          f"numpy {np.__version__}; {platform.machine()}")
    print(f"Median of {result['repeats']} interleaved calls per round, "
          f"{result['rounds']} rounds: ratio to torch as median (lowest-highest round).")
    print()
    print("| x | w | stride, pad | version | torch fwd | fwd | ratio | torch fwd+bwd "
          "| fwd+bwd | ratio |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in result["rows"]:
        for name in result["versions"]:
            v = row[name]
            print(f"| {tuple(row['x'])} | {tuple(row['w'])} | {row['stride']}, "
                  f"{row['pad']} | {name} | {row['torch_fwd_ms']['median']:.2f} ms "
                  f"| {v['fwd_ms']['median']:.2f} ms | {_ratio(v['fwd_ratio'])} "
                  f"| {row['torch_both_ms']['median']:.2f} ms "
                  f"| {v['both_ms']['median']:.2f} ms | {_ratio(v['both_ratio'])} |")
    print()
    print("The fast forward's matrix multiplies alone (same operands, no lowering or "
          "copies): the floor of the lowering + BLAS method.")
    print()
    print("| x | w | torch fwd | multiplies alone | ratio to torch fwd |")
    print("| --- | --- | ---: | ---: | ---: |")
    for row in result["rows"]:
        print(f"| {tuple(row['x'])} | {tuple(row['w'])} "
              f"| {row['torch_fwd_ms']['median']:.2f} ms "
              f"| {row['multiplies_ms']['median']:.2f} ms "
              f"| {_ratio(row['multiplies_ratio'])} |")
    print()
    for name in result["versions"]:
        fwd_ok, both_ok = targets_met(result, name)
        print(f"Targets, {name}: forward <= {FORWARD_TARGET}x torch on every shape: "
              f"{'met' if fwd_ok else 'NOT met'}; forward+backward <= "
              f"{BOTH_TARGET}x: {'met' if both_ok else 'NOT met'}.")
    s = result["small"]
    print()
    print(f"Small shape x {s['shape'][0]}, w {s['shape'][1]}, stride {s['shape'][2]}, "
          f"pad {s['shape'][3]}:")
    print()
    print("| version | fwd | ratio to torch | fwd+bwd | ratio to torch |")
    print("| --- | ---: | ---: | ---: | ---: |")
    t_fwd, t_both = s["torch"]
    for name in ("torch", "fast", "naive"):
        a, b = s[name]
        print(f"| {name} | {a:.3f} ms | {a / t_fwd:.1f}x | {b:.3f} ms "
              f"| {b / t_both:.1f}x |")
    print()


def run_unset(args) -> dict:
    """The same measurement in a fresh process with the OpenBLAS variables unset
    (OpenBLAS reads them once, when numpy loads it)."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--json", "--only-here",
           "--repeats", str(args.repeats), "--rounds", str(args.rounds)]
    if args.baseline:
        cmd += ["--baseline", args.baseline]
    out = subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="calls per median")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds, for the spread of the ratios")
    parser.add_argument("--baseline", metavar="REV",
                        help="also time conv.py as it was at this git revision")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--only-here", action="store_true",
                        help="measure in this process only (no second run)")
    args = parser.parse_args()

    with threadpool_limits(1, user_api="blas"):
        here = measure(args.repeats, args.rounds, args.baseline)
    results = {"machine": here}
    machine_sets = any(os.environ.get(v) is not None for v in BLAS_VARS)
    if machine_sets and not args.only_here:
        results["unset"] = run_unset(args)
    if args.json:
        print(json.dumps(results if not args.only_here else here))
        return
    print("# conv2d against torch, float32, one thread")
    print()
    print_result("With this machine's OpenBLAS settings", here)
    if "unset" in results:
        print_result(f"With {' and '.join(BLAS_VARS)} unset", results["unset"])
    else:
        print(f"(This environment sets neither {' nor '.join(BLAS_VARS)}: the run "
              f"above is also the 'unset' run. To see the other case, set them, e.g. "
              f"OPENBLAS_CORETYPE=Haswell, and run again.)")


if __name__ == "__main__":
    main()
