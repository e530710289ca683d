"""An IPython extension that limits each cell of a graded notebook by CPU time.

Loaded into the grading kernel (``--ext=cnn_course.course.grading.kernel_limits``)
and into the self-check's kernel, so both apply the limit the assignment states.
Before every cell it arms a CPU-time timer (``ITIMER_PROF``); a cell that uses up its
seconds is interrupted where it is, with ``TimeoutError``, and keeps what it defined
up to there, as nbgrader's own interrupt does. CPU time, not wall time: a grading
server busy at a deadline slows a cell down but never uses up its budget. The wall
clock stays only as a generous backstop in the executor.

The limit comes from ``CNN_COURSE_CELL_CPU`` (seconds; unset or 0: no limit).

In a sandboxed grading kernel it also copies the grader's matplotlib font list (put
beside the connection file by :func:`.sandbox.prepare_kernel_manager`) into the
sandbox's empty ``MPLCONFIGDIR``, so that the notebook's pyplot import does not scan
every font again.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

ENV = "CNN_COURSE_CELL_CPU"


def _limit() -> float:
    try:
        return float(os.environ.get(ENV, "0") or 0)
    except ValueError:
        return 0.0


def _seed_font_list() -> None:
    target = os.environ.get("MPLCONFIGDIR")
    try:
        from ipykernel.kernelapp import IPKernelApp

        if not target or not IPKernelApp.initialized():
            return
        for found in Path(IPKernelApp.instance().connection_file).parent.glob(
                "fontlist-v*.json"):
            Path(target).mkdir(parents=True, exist_ok=True)
            if not (Path(target) / found.name).exists():
                shutil.copyfile(found, Path(target) / found.name)
    except Exception:  # only a speed-up: matplotlib builds the list itself
        pass


def load_ipython_extension(ip) -> None:
    _seed_font_list()
    seconds = _limit()
    if not seconds or not hasattr(signal, "setitimer"):
        return

    def interrupt(signum, frame):
        signal.setitimer(signal.ITIMER_PROF, 0)
        raise TimeoutError(f"this cell used more than {seconds:g} s of CPU time and was "
                           "stopped here; what it defined before this line is kept")

    def arm(*args):
        signal.signal(signal.SIGPROF, interrupt)
        signal.setitimer(signal.ITIMER_PROF, seconds)

    def disarm(*args):
        signal.setitimer(signal.ITIMER_PROF, 0)

    ip.events.register("pre_run_cell", arm)
    ip.events.register("post_run_cell", disarm)
