"""nbgrader's Execute step, hardened: sandboxed kernel, CPU-time limits, output cap.

Used in place of ``nbgrader.preprocessors.Execute`` in ``Autograde``:

- the kernel runs inside :mod:`cnn_course.course.grading.sandbox` (when sandboxing is
  on);
- each cell is limited by the CPU time it uses (:mod:`.kernel_limits`, loaded into
  the kernel): a long cell is stopped where it is and keeps what it defined. The
  wall clock (nbgrader's ``timeout``) is only a generous backstop, so a busy grading
  server never fails an honest notebook;
- the notebook's CPU time counts against the submission's budget: once it is spent,
  the remaining cells are marked as not run;
- a kernel that dies or hangs does not fail the submission: the cells after it are
  marked, ``resources["cnn_course"]["notebook_error"]`` says what happened, and the
  grader's own check still decides the score;
- output beyond ``max_output_bytes`` is dropped with a note;
- with ``cluster`` set, the kernel runs on a Dask worker (:mod:`.cluster`): the limits
  are read from the spec here, and only the sanitised notebook and those limits travel.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Enum, Float, Integer, List, Unicode

from .kernel_limits import ENV as CELL_CPU_ENV
from .preprocessors import STARTED_CHECK
from .sandbox import SandboxKernelManager, prepare_kernel_manager

WALL_FACTOR = 10  # the wall-clock backstop per cell: this many times its CPU limit + 60 s
# A kernel whose heartbeat (a zmq echo thread that needs neither the GIL nor a free CPU)
# stays silent this long is hung, e.g. stuck shutting itself down: stop it rather than
# wait out the wall-clock backstop. Load delays a beat by milliseconds, not by this.
HEARTBEAT_GRACE = 30.0
EXTENSION = "--ext=cnn_course.course.grading.kernel_limits"


def not_run(cell, why: str) -> None:
    cell.outputs = [NotebookNode(output_type="error", ename="NotRun", evalue=why,
                                 traceback=[f"NotRun: {why}"])]


class SandboxedExecute(Execute):
    sandboxed = Bool(True, help="Run the kernel inside bubblewrap").tag(config=True)
    cell_cpu = Float(10.0, help="CPU seconds per cell").tag(config=True)
    submission_cpu = Float(300.0, help="CPU seconds for the notebook and the checks").tag(
        config=True)
    max_output_bytes = Integer(2_000_000, help="Output kept per notebook").tag(config=True)
    solutions = Unicode("", help="solutions/ (each spec states its cell limit)").tag(
        config=True)
    # The kernel loads the CPU-limit extension (nbclient re-reads this list from the
    # configuration when it starts, so it must be set there: see config.configure).
    extra_arguments = List([EXTENSION]).tag(config=True)
    cluster = Unicode("", help="a Dask scheduler (tcp://host:8786): the kernel runs on "
                      "one of its workers; empty: here").tag(config=True)
    # When the notebook is done its kernel is killed, not asked to exit: nothing in it
    # needs a clean exit (the sandbox and its files are thrown away), and a graceful
    # shutdown polls for the exit (py-spy, 6 submissions: nbclient's clean-up 2.08 s
    # before, 0.83 s after; README).
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate").tag(
        config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.sandboxed:
            self.kernel_manager_class = SandboxKernelManager
        self.timeout = int(self.cell_cpu * WALL_FACTOR + 60)
        self._output_bytes = 0
        self._cpu_start = 0.0
        self._sandbox_dir: Path | None = None
        self._stopped: str | None = None
        self._test_cpu: dict[str, float] = {}

    def _kernel_cpu(self) -> float | None:
        box = getattr(getattr(self, "km", None), "sandbox", None)
        return box.cpu_seconds() if box is not None else None

    def preprocess(self, nb, resources=None, km=None):
        resources = resources if resources is not None else {}
        state = resources.setdefault("cnn_course", {})
        assignment = resources.get("nbgrader", {}).get("assignment")
        self._test_cpu = {}
        if self.solutions and assignment:
            from cnn_course.course.spec.load import load_spec

            spec = load_spec(Path(self.solutions), assignment)
            self.cell_cpu = spec.limits.cell_cpu
            # a visible test cell runs the grader's calls, each with its own budget
            self._test_cpu = {t.id: sum(c.cpu_seconds or spec.limits.call_cpu
                                        for c in spec.cases(t))
                              for t in spec.tests if not t.hidden}
            longest = max([self.cell_cpu, *self._test_cpu.values()])
            self.timeout = int(longest * WALL_FACTOR + 60)
        if self.cluster:
            from .cluster import sandbox_for

            student = resources.get("nbgrader", {}).get("student")
            done = sandbox_for(self.cluster).execute(self.remote_job(nb), student)
            state["kernel_cpu"] = done["kernel_cpu"]
            if done["notebook_error"]:
                state["notebook_error"] = done["notebook_error"]
            return nbformat.reads(done["notebook"], as_version=4), resources
        return self.execute_here(nb, resources, km)

    def remote_job(self, nb) -> dict:
        """What a Dask worker needs to run ``nb`` as :meth:`execute_here` would here:
        the sanitised notebook (its hidden test cells hold only ``check("<id>")``) and
        the limits; nothing of the spec's references (see :func:`.cluster.execute_notebook`)."""
        return {"notebook": nbformat.writes(nb), "sandboxed": bool(self.sandboxed),
                "cell_cpu": float(self.cell_cpu), "submission_cpu": float(self.submission_cpu),
                "test_cpu": dict(self._test_cpu), "timeout": int(self.timeout),
                "max_output_bytes": int(self.max_output_bytes),
                "extra_arguments": list(self.extra_arguments)}

    @classmethod
    def from_remote_job(cls, job: dict) -> "SandboxedExecute":
        """The step that runs ``remote_job``'s notebook on a worker (no spec there)."""
        from traitlets.config import Config

        c = Config()
        for name in ("sandboxed", "cell_cpu", "submission_cpu", "max_output_bytes",
                     "extra_arguments"):
            c.SandboxedExecute[name] = job[name]
        step = cls(config=c)
        step.timeout = job["timeout"]
        step._test_cpu = dict(job["test_cpu"])
        return step

    def execute_here(self, nb, resources, km=None):
        """Run ``nb`` in a kernel on this machine (in the sandbox when ``sandboxed``)."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        state = resources.setdefault("cnn_course", {})
        self._output_bytes = 0
        self._stopped = None
        self._cpu_start = time.process_time()
        previous = os.environ.get(CELL_CPU_ENV)
        os.environ[CELL_CPU_ENV] = f"{self.cell_cpu:g}"
        started = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="cnn-course-kernel-") as tmp:
                self._sandbox_dir = Path(tmp)
                try:
                    nb, resources = super().preprocess(nb, resources, km)
                except (DeadKernelError, CellTimeoutError, RuntimeError, OSError) as err:
                    first = (str(err).strip().splitlines() or [""])[0][:200]
                    self._stopped = self._stopped or \
                        f"{type(err).__name__}: {first}".rstrip(": ")
                    for cell in nb.cells:
                        if cell.cell_type == "code" and cell.get("execution_count") is None \
                                and not cell.outputs:
                            not_run(cell, "the notebook stopped before this cell")
        finally:
            if previous is None:
                os.environ.pop(CELL_CPU_ENV, None)
            else:
                os.environ[CELL_CPU_ENV] = previous
        used = state.get("kernel_cpu")
        state["kernel_cpu"] = used if used is not None else time.monotonic() - started
        if self._stopped:
            state["notebook_error"] = self._stopped
        return nb, resources

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxKernelManager):
            prepare_kernel_manager(km, self._sandbox_dir)
        return km

    def preprocess_cell(self, cell, resources, index):
        state = resources.setdefault("cnn_course", {})
        if cell.cell_type == "code" and self._stopped:
            not_run(cell, "the notebook stopped before this cell")
            return cell, resources
        used = state.get("kernel_cpu") or 0.0
        check = state.get(STARTED_CHECK)  # the grader's check, running beside the notebook
        if check is not None:
            used += check.cpu_seconds()
        if cell.cell_type == "code" and used > self.submission_cpu:
            who = "the notebook" + (" and the grader's check" if check is not None else "")
            self._stopped = f"{who} used the submission's {self.submission_cpu:g} s of CPU time"
            not_run(cell, self._stopped)
            return cell, resources
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        with self._watchdog(self.cell_cpu + self._test_cpu.get(grade_id, 0)):
            result = super().preprocess_cell(cell, resources, index)
        cpu = self._kernel_cpu()
        if cpu is not None:
            state["kernel_cpu"] = cpu
        return result

    @contextmanager
    def _watchdog(self, budget: float, poll: float = 0.5):
        """Kill a kernel whose cell ignores its CPU-time interrupt (it catches or blocks
        SIGPROF), or whose heartbeat has been silent for ``HEARTBEAT_GRACE`` seconds (a
        kernel hung outside any cell, which no CPU limit catches). The sandbox's cgroup
        counts the CPU and the heartbeat needs no CPU to speak of, so load triggers
        neither."""
        box = getattr(getattr(self, "km", None), "sandbox", None)
        start = box.cpu_seconds() if box is not None else None
        if start is None:
            yield
            return
        done = threading.Event()
        allowed = budget * 1.5 + 5
        heartbeat = getattr(getattr(self, "kc", None), "hb_channel", None)

        def watch():
            silent_since = None
            while not done.wait(poll):
                used = box.cpu_seconds()
                if used is not None and used - start > allowed:
                    self._stopped = (f"a cell ignored its {self.cell_cpu:g} s CPU limit; "
                                     "the kernel was stopped")
                    box.kill()
                    return
                if heartbeat is None or not heartbeat.is_alive() or heartbeat.is_beating():
                    silent_since = None
                    continue
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since > HEARTBEAT_GRACE:
                    self._stopped = (f"the kernel stopped answering (no heartbeat for "
                                     f"{HEARTBEAT_GRACE:g} s); it was stopped")
                    box.kill()
                    return

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=5)

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        before = self._output_bytes
        self._output_bytes += size
        if self._output_bytes > self.max_output_bytes:
            if before <= self.max_output_bytes:
                outs.append(NotebookNode(
                    output_type="stream", name="stdout",
                    text=f"\n[output truncated: more than {self.max_output_bytes} bytes]\n",
                ))
            return None
        return super().output(outs, msg, display_id, cell_index)
