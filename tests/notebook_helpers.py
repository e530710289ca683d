"""Run an assignment notebook with some answer cells replaced; collect per-cell errors."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from cnn_course.course.grading.config import KERNEL_ARGS


def run_with_answers(path: Path, answers: dict[str, str] | None = None,
                     timeout: int = 60) -> dict[str, str | None]:
    """Execute ``path`` (answers replaced by grade_id); return grade_id -> error or None."""
    nb = copy.deepcopy(nbformat.read(path, as_version=4))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if answers and gid in answers:
            cell.source = answers[gid]
    NotebookClient(nb, timeout=timeout, allow_errors=True, extra_arguments=KERNEL_ARGS,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    result = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid and cell.cell_type == "code":
            errors = [o for o in cell.outputs if o.output_type == "error"]
            result[gid] = f"{errors[0].ename}: {errors[0].evalue}" if errors else None
    return result
