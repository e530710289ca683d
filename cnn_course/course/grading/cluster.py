"""Grading on a Dask cluster: the sandboxed runs on workers, the judging on the grader.

``cnn-course grade ... --cluster tcp://scheduler:8786`` grades as ``--jobs`` does, with
one difference: the two sandboxed runs of each submission go to Dask workers.

- **On the grader** (the machine that runs ``grade``): intake, and nbgrader's own
  ``autograde`` with the course's preprocessors (:mod:`.preprocessors`): sanitising,
  reading the spec (references, hidden labels), building the runner's job, judging
  the runner's answers, every gradebook write, the feedback, the CSV and the results
  kept for resuming. ``--jobs`` grader processes do this, several submissions at once.
- **On a worker**, two tasks per submission, each a pure function of what it is sent
  that touches nothing but a temporary folder: :func:`execute_notebook` runs the
  sanitised notebook in the sandboxed kernel (for the feedback; its hidden test cells
  hold only ``check("<id>")``), and :func:`runner_task` runs the trusted runner in the
  sandbox on the job (the student's cells and the cases' inputs,
  :func:`.trusted.runner_payload`) and returns its raw frames, unjudged. Each task
  also carries the grader's ``CNN_COURSE_*`` variables, which a sandbox sees anyway.

Workers never see the spec's expectations, the solutions, the gradebook or its URL.
A worker lost mid-task: the scheduler runs the task again on another one, which
changes nothing since a task has no effects; its result reaches only the grader,
which writes it once. A worker that cannot sandbox, or runs other grading code than
the grader, refuses the task (:class:`ClusterError`). Dask is imported only here and
only in cluster mode: ``--jobs`` never needs it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import tempfile
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .paths import CourseError

CLUSTER_ERROR = "ClusterError"  # a failure row whose reason names it is graded again
TASK_RETRIES = 2  # a task that raises is tried again elsewhere this often
CONNECT_TIMEOUT = "30s"
WAIT_FOR_WORKERS_S = 120


class ClusterError(RuntimeError):
    """The cluster could not run a submission's sandboxed work (not the student's fault)."""


# What a worker runs of the course: the grader and its workers must hold the same.
WORKER_CODE = ("grading/cluster.py", "grading/execute.py", "grading/kernel_limits.py",
               "grading/runner.py", "grading/sandbox.py", "grading/trusted.py",
               "testing/*.py", "checks/*.json")


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of :data:`WORKER_CODE` as installed here."""
    import cnn_course

    root = Path(cnn_course.__file__).parent / "course"
    files = sorted(f for pattern in WORKER_CODE for f in root.glob(pattern))
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\1")
    return h.hexdigest()[:16]


def course_environment() -> dict[str, str]:
    """The grader's ``CNN_COURSE_*`` variables: a sandbox here sees them (and only
    them, :data:`.sandbox.PASS_ENV_PREFIX`), so a sandbox on a worker gets the same."""
    from .sandbox import PASS_ENV_PREFIX

    return {k: v for k, v in os.environ.items() if k.startswith(PASS_ENV_PREFIX)}


# --- on a worker ---------------------------------------------------------------------

@contextmanager
def _grader_environment(env: dict[str, str]):
    """The grader's course variables in place of this worker's, for one task (a worker
    runs one task at a time: ``--nthreads 1``)."""
    from .sandbox import PASS_ENV_PREFIX

    saved = {k: v for k, v in os.environ.items() if k.startswith(PASS_ENV_PREFIX)}
    for k in saved:
        del os.environ[k]
    os.environ.update({k: v for k, v in env.items() if k.startswith(PASS_ENV_PREFIX)})
    try:
        yield
    finally:
        for k in [k for k in os.environ if k.startswith(PASS_ENV_PREFIX)]:
            del os.environ[k]
        os.environ.update(saved)


def _refuse_unless_ready(sandboxed: bool, code: str) -> None:
    if code != code_digest():
        raise ClusterError(f"worker {socket.gethostname()} runs other grading code than "
                           "the grader: install the same cnn_course on both")
    if sandboxed:
        from .sandbox import detect

        isolation = detect()
        if not isolation.sandboxed:
            raise ClusterError(f"worker {socket.gethostname()}: {isolation.description}")


def execute_notebook(job: dict, code: str, env: dict[str, str]) -> dict:
    """On a worker: run :meth:`.execute.SandboxedExecute.remote_job`'s notebook.

    Returns ``{"notebook": the executed notebook (JSON), "kernel_cpu": s,
    "notebook_error": str or None}``, what the step leaves in its state on the grader.
    """
    _refuse_unless_ready(job["sandboxed"], code)
    from .execute import SandboxedExecute

    step = SandboxedExecute.from_remote_job(job)
    nb = nbformat.reads(job["notebook"], as_version=4)
    with tempfile.TemporaryDirectory(prefix="cnn-course-remote-") as cwd, \
            _grader_environment(env):
        nb, resources = step.execute_here(nb, {"metadata": {"path": cwd}})
    state = resources.get("cnn_course", {})
    return {"notebook": nbformat.writes(nb), "kernel_cpu": state.get("kernel_cpu"),
            "notebook_error": state.get("notebook_error")}


def runner_task(payload: dict, code: str, env: dict[str, str]) -> dict:
    """On a worker: :func:`.trusted.run_runner` (raw frames, CPU seconds, wall time)."""
    _refuse_unless_ready(payload["sandboxed"], code)
    from .trusted import run_runner

    with _grader_environment(env):
        return run_runner(payload)


def worker_facts() -> dict:
    """On every worker at the start of a batch (``Client.run``): can it grade?"""
    from .sandbox import detect

    isolation = detect()
    return {"host": socket.gethostname(), "sandboxed": isolation.sandboxed,
            "isolation": isolation.description, "code": code_digest()}


# --- on the grader -------------------------------------------------------------------

def _client(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise CourseError("--cluster needs Dask on the grader and the workers: "
                          "pip install 'cnn_course[cluster]'") from None
    try:
        return Client(address, set_as_default=False, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise CourseError(f"cannot reach the Dask scheduler at {address}: {err}") from None


def _slug(text: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text or "")[:40]


class ClusterSandbox:
    """The grader's side: one sandboxed run sent to the cluster, waited for."""

    def __init__(self, address: str):
        self.address = address
        self.client = _client(address)

    def execute(self, job: dict, student: str | None = None) -> dict:
        return self._call(execute_notebook, job, "kernel", student)

    def runner(self, student: str | None = None):
        """The ``executor`` of :func:`.trusted.run_trusted` for one submission."""
        return lambda payload: self._call(runner_task, payload, "runner", student)

    def _call(self, func, payload: dict, kind: str, student: str | None) -> dict:
        from distributed import KilledWorker

        # a fresh key per call: a task is never shared, and a retry is the scheduler's
        key = f"cnn-course-{kind}-{_slug(student)}-{uuid.uuid4().hex[:12]}"
        try:
            future = self.client.submit(func, payload, code_digest(), course_environment(),
                                        key=key, pure=False, retries=TASK_RETRIES)
            try:
                return future.result()
            finally:
                future.release()
        except (KilledWorker, OSError, TimeoutError) as err:
            first = (str(err).strip().splitlines() or [""])[0][:200]
            raise ClusterError(f"the cluster at {self.address} could not run the "
                               f"{kind} ({type(err).__name__}: {first})") from err


_SANDBOXES: dict[str, ClusterSandbox] = {}
_LOCK = threading.Lock()


def sandbox_for(address: str) -> ClusterSandbox:
    """One client per grader process and scheduler."""
    with _LOCK:
        if address not in _SANDBOXES:
            _SANDBOXES[address] = ClusterSandbox(address)
        return _SANDBOXES[address]


@dataclass
class ClusterInfo:
    workers: int
    threads: int
    sandboxed: bool
    description: str


def check_cluster(address: str, wait_s: float = WAIT_FOR_WORKERS_S) -> ClusterInfo:
    """Before a batch: the scheduler answers, workers are there, each runs the grader's
    code, and whether every one of them sandboxes. Raises ``CourseError`` otherwise."""
    client = _client(address)
    try:
        try:
            client.wait_for_workers(1, timeout=wait_s)
        except TimeoutError:
            raise CourseError(f"the Dask scheduler at {address} has no workers "
                              f"(waited {wait_s:g} s)") from None
        facts = client.run(worker_facts)
        threads = sum(client.nthreads().values())
    finally:
        client.close()
    other = sorted(w for w, f in facts.items() if f["code"] != code_digest())
    if other:
        raise CourseError(f"{len(other)} of {len(facts)} workers run other grading code "
                          f"than this grader (e.g. {other[0]}): install the same "
                          "cnn_course on the grader and the workers")
    unsandboxed = [f for f in facts.values() if not f["sandboxed"]]
    shown = (unsandboxed or list(facts.values()))[0]
    description = (f"{len(facts)} Dask worker(s) at {address}, {threads} thread(s); "
                   + (f"{len(unsandboxed)} without a sandbox, e.g. {shown['host']}: "
                      if unsandboxed else f"on {shown['host']}: ")
                   + shown["isolation"])
    return ClusterInfo(len(facts), threads, not unsandboxed, description)
