"""``cnn-course check NOTEBOOK``: the student's self-check before submitting.

Runs the notebook top to bottom in a fresh kernel, as the grader will, with the
grader's CPU limit per cell, and prints one line per test cell as soon as it has run:
``PASS``, ``FAIL`` with the hint, or ``hidden`` for tests that only run at grading.
Each test cell calls the notebook's ``check("<test>")``, so these are the very lines
that ``check()`` prints inside JupyterLab. Exits non-zero when a visible test fails,
unlike ``nbgrader validate``, which exits 0 either way.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from cnn_course.course.notebooks import run_notebook
from cnn_course.course.testing.check import TestResult, load_checks

from .execute import EXTENSION, WALL_FACTOR
from .kernel_limits import ENV as CELL_CPU_ENV

_ASSIGNMENT = re.compile(r"check_for\(\s*[\"']([\w.-]+)[\"']\s*\)")


def assignment_of(nb: nbformat.NotebookNode) -> str | None:
    for cell in nb.cells:
        match = _ASSIGNMENT.search(cell.source) if cell.cell_type == "code" else None
        if match:
            return match.group(1)
    return None


def _only_docstring(source: str) -> bool:
    """A released hidden test cell: nbgrader left only its docstring."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
               for node in body)


def _verdict(cell) -> TestResult:
    meta = cell.metadata.get("nbgrader", {})
    gid, points = meta.get("grade_id", "?"), float(meta.get("points", 0))
    text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if text.lstrip().startswith("hidden") or _only_docstring(cell.source):
        return TestResult(gid, points, "hidden", "run by the grader at grading time")
    if errors:
        line = text.strip().splitlines()[-1] if text.strip() else ""
        message = line.split(": ", 1)[1] if line.startswith("FAIL") and ": " in line \
            else f"{errors[0].ename}: {errors[0].evalue}"
        return TestResult(gid, points, "fail", message)
    if cell.get("execution_count") is None:
        return TestResult(gid, points, "fail", "did not run (the kernel stopped)")
    return TestResult(gid, points, "pass")


def check_notebook(path: Path, echo=print) -> list[TestResult]:
    """Execute ``path`` in a copy (the file is not changed); judge each test cell."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    nb = nbformat.read(path, as_version=4)
    assignment = assignment_of(nb)
    limits = load_checks(assignment).get("limits", {}) if assignment else {}
    cell_cpu = float(limits.get("cell_cpu", 0) or 0)
    results: list[TestResult] = []

    def on_cell(cell) -> None:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            results.append(_verdict(cell))
            echo(results[-1].line(), flush=True)

    echo(f"running {path.name} in a fresh kernel"
         + (f" ({cell_cpu:g} s of CPU per cell, as at grading)" if cell_cpu else "") + " ...",
         flush=True)
    try:
        run_notebook(nb, path.parent, timeout=int(cell_cpu * WALL_FACTOR + 60) if cell_cpu
                     else 600, allow_errors=True, env={CELL_CPU_ENV: f"{cell_cpu:g}"},
                     extra_arguments=[EXTENSION], on_cell=on_cell)
    except (CellTimeoutError, DeadKernelError) as err:
        echo(f"warning: the notebook stopped early: {type(err).__name__}: {err}")
    seen = {r.test for r in results}
    for cell in nb.cells:  # cells after a dead kernel never ran
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade") \
                and gid not in seen:
            results.append(_verdict(cell))
            echo(results[-1].line(), flush=True)
    return results


def summary(results: list[TestResult]) -> tuple[str, bool]:
    """The closing lines, and whether every visible test passed."""
    visible = [r for r in results if r.status != "hidden"]
    passed = [r for r in visible if r.status == "pass"]
    ok = len(passed) == len(visible) and bool(results)
    lines = [f"{len(passed)} of {len(visible)} visible tests passed; "
             f"{sum(r.status == 'hidden' for r in results)} hidden test cells run at grading.",
             "Ready to submit." if ok else "Fix the FAIL lines above before submitting."]
    return "\n".join(lines), ok
