"""A sandboxed grading kernel's fixed waits: the grader's client against jupyter_client's.

Every submission starts a notebook kernel in the sandbox, waits until it answers,
runs the notebook and kills the kernel. Two of those steps used to wait for a fixed
time rather than for an event: jupyter_client's ``wait_for_ready`` ends only after
0.2 s without an IOPub message, and its kill polls for the exit every 0.1 s. The
grader's kernel manager (:class:`~cnn_course.course.grading.sandbox.SandboxKernelManager`)
drops both. This benchmark takes turns between it and the same manager with
jupyter_client's stock client and exit poll, and prints the median seconds of each
step and the ratio.

    python benchmarks/bench_kernel.py            # 7 kernels each
    python benchmarks/bench_kernel.py --n 15
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from cnn_course.course.grading.sandbox import (
    SandboxKernelManager,
    detect,
    prepare_kernel_manager,
)

STEPS = ("start", "ready", "cell", "kill")


class StockWaits(SandboxKernelManager):
    """The same sandboxed kernel, with jupyter_client's own client and exit poll."""

    client_factory = AsyncKernelClient
    _async_wait = AsyncKernelManager._async_wait


async def one_kernel(cls: type[SandboxKernelManager], folder: Path) -> list[float]:
    """Seconds of each step of one kernel's life (``STEPS``)."""
    km = prepare_kernel_manager(cls(kernel_name="python3"), folder)
    times = [time.perf_counter()]
    await km.start_kernel()
    times.append(time.perf_counter())
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        times.append(time.perf_counter())
        reply = await client.execute_interactive("6 * 7", timeout=120,
                                                 output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]
        times.append(time.perf_counter())
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)
    times.append(time.perf_counter())
    return [b - a for a, b in zip(times, times[1:])]


async def measure(n: int) -> dict[str, list[list[float]]]:
    runs: dict[str, list[list[float]]] = {"jupyter_client": [], "cnn-course": []}
    with tempfile.TemporaryDirectory(prefix="bench-kernel-") as tmp:
        for i in range(n + 1):  # the first pair warms the disk cache, and is dropped
            for name, cls in (("jupyter_client", StockWaits),
                              ("cnn-course", SandboxKernelManager)):
                seconds = await one_kernel(cls, Path(tmp) / f"{name}-{i}")
                if i:
                    runs[name].append(seconds)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=7, help="kernels of each kind")
    args = parser.parse_args()
    isolation = detect()
    if not isolation.sandboxed:
        raise SystemExit(f"no sandbox here: {isolation.description}")
    runs = asyncio.run(measure(args.n))
    medians = {name: [statistics.median(r[k] for r in rs) for k in range(len(STEPS))]
               for name, rs in runs.items()}
    totals = {name: statistics.median(sum(r) for r in rs) for name, rs in runs.items()}
    print(f"{args.n} sandboxed kernels of each kind, taking turns; median seconds")
    print()
    print("| step | jupyter_client's waits | cnn-course | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for k, step in enumerate(STEPS):
        stock, ours = medians["jupyter_client"][k], medians["cnn-course"][k]
        print(f"| {step} | {stock:.3f} | {ours:.3f} | {ours / stock:.2f}x |")
    stock, ours = totals["jupyter_client"], totals["cnn-course"]
    print(f"| whole life | {stock:.3f} | {ours:.3f} | {ours / stock:.2f}x |")


if __name__ == "__main__":
    main()
