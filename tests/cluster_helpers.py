"""A Dask worker plugin for the cluster tests: it records every task a worker starts,
with the arguments it received, and can kill its own worker once, mid-task.

Importable by the workers of a ``LocalCluster`` (they start with the test's sys.path).
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
import uuid
from pathlib import Path

from distributed import WorkerPlugin


class Spy(WorkerPlugin):
    name = "cnn-course-test-spy"

    def __init__(self, folder: str, kill_marker: str | None = None, kill_after_s: float = 0,
                 kill_kind: str = "-kernel-"):
        self.folder = folder
        # the first worker still running a task of kill_kind kill_after_s after it
        # started creates kill_marker (key, pid) and kills itself; once in all
        self.kill_marker = kill_marker
        self.kill_after_s = kill_after_s
        self.kill_kind = kill_kind

    def setup(self, worker):
        self.worker = worker

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing":
            return
        spec = self.worker.state.tasks[key].run_spec
        record = {"key": str(key), "pid": os.getpid(), "time": time.time(),
                  "func": getattr(spec.func, "__name__", repr(spec.func)),
                  "args": spec.args}
        path = Path(self.folder) / f"{uuid.uuid4().hex}.pkl"
        path.write_bytes(pickle.dumps(record))
        if self.kill_marker and self.kill_kind in str(key):
            threading.Timer(self.kill_after_s, self._kill_if_running, (key,)).start()

    def _kill_if_running(self, key):
        task = self.worker.state.tasks.get(key)
        if task is None or task.state != "executing":
            return  # it finished first: a later task is the one
        try:
            fd = os.open(self.kill_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, f"{key}\n{os.getpid()}\n".encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)


def records(folder: Path) -> list[dict]:
    return sorted((pickle.loads(p.read_bytes()) for p in Path(folder).glob("*.pkl")),
                  key=lambda r: r["time"])
