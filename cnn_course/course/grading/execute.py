"""nbgrader's Execute step, hardened: sandboxed kernel, output cap, notebook deadline.

Used in place of ``nbgrader.preprocessors.Execute`` in ``Autograde``. nbgrader's own
per-cell timeout still applies; on top of it:

- the kernel runs inside :mod:`cnn_course.course.grading.sandbox` (when sandboxing is on);
- a notebook that runs past ``notebook_timeout`` seconds has its remaining cells
  marked as not run, instead of holding up the batch;
- output beyond ``max_output_bytes`` is dropped with a note, so megabytes of prints
  cannot exhaust the grader's memory or bloat the feedback.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

from .sandbox import SandboxKernelManager, prepare_kernel_manager


class SandboxedExecute(Execute):
    sandboxed = Bool(True, help="Run the kernel inside bubblewrap").tag(config=True)
    notebook_timeout = Integer(300, help="Seconds for the whole notebook").tag(config=True)
    max_output_bytes = Integer(2_000_000, help="Output kept per notebook").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.sandboxed:
            self.kernel_manager_class = SandboxKernelManager
        self._deadline = float("inf")
        self._output_bytes = 0
        self._sandbox_dir: Path | None = None

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.notebook_timeout
        self._output_bytes = 0
        with tempfile.TemporaryDirectory(prefix="cnn-course-kernel-") as tmp:
            self._sandbox_dir = Path(tmp)
            return super().preprocess(nb, resources, km)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxKernelManager):
            prepare_kernel_manager(km, self._sandbox_dir)
        return km

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and time.monotonic() > self._deadline:
            cell.outputs = [NotebookNode(
                output_type="error", ename="NotebookTimeoutError",
                evalue=f"the notebook ran past its {self.notebook_timeout} s limit; "
                       "this cell did not run",
                traceback=[],
            )]
            return cell, resources
        return super().preprocess_cell(cell, resources, index)

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
