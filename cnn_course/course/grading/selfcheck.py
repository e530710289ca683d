"""``cnn-course check NOTEBOOK``: the student's self-check before submitting.

Runs the notebook top to bottom in a fresh kernel (as the grader will) and prints one
line per graded test cell: PASS, FAIL with the test's hint, or "hidden" for cells whose
tests only exist at grading time. Exits non-zero when any visible test fails, unlike
``nbgrader validate``, which exits 0 either way.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from .config import DEFAULT_CELL_TIMEOUT, KERNEL_ARGS
from .feedback import failure_kind


def has_only_docstring(source: str) -> bool:
    """True for a released hidden-test cell: nbgrader left only its docstring."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
               for node in body)


@dataclass
class CellResult:
    grade_id: str
    points: float
    status: str  # "pass", "fail" or "hidden"
    message: str = ""


def check_notebook(path: Path, cell_timeout: int = DEFAULT_CELL_TIMEOUT * 3) -> list[CellResult]:
    """Execute ``path`` in a copy (the file is not changed) and judge each test cell."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, allow_errors=True,
                            interrupt_on_timeout=True, extra_arguments=KERNEL_ARGS,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError) as err:
        # The kernel died or hung: cells after that point have no outputs and
        # are reported as failed below.
        print(f"warning: the notebook stopped early: {type(err).__name__}: {err}")
    results = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        gid, points = meta.get("grade_id", "?"), float(meta.get("points", 0))
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        ran = cell.get("execution_count") is not None
        if errors:
            err = errors[0]
            kind = failure_kind(err.ename, err.evalue)
            results.append(CellResult(gid, points, "fail",
                                      f"[{kind}] {err.ename}: {err.evalue}".rstrip(": ")))
        elif not ran:
            results.append(CellResult(gid, points, "fail", "did not run (the kernel stopped)"))
        elif has_only_docstring(cell.source):
            results.append(CellResult(gid, points, "hidden", "tests run at grading time"))
        else:
            results.append(CellResult(gid, points, "pass"))
    return results


def report(results: list[CellResult]) -> tuple[str, bool]:
    """The lines to print, and whether every visible test passed."""
    lines = []
    for r in results:
        mark = {"pass": "PASS  ", "fail": "FAIL  ", "hidden": "hidden"}[r.status]
        line = f"{mark} {r.grade_id} ({r.points:g} pt)"
        if r.message:
            line += f": {r.message}"
        lines.append(line)
    visible = [r for r in results if r.status != "hidden"]
    passed = [r for r in visible if r.status == "pass"]
    ok = len(passed) == len(visible) and bool(results)
    lines.append(
        f"{len(passed)} of {len(visible)} visible tests passed; "
        f"{sum(r.status == 'hidden' for r in results)} hidden test cells run at grading."
    )
    lines.append("Ready to submit." if ok else "Fix the FAIL lines above before submitting.")
    return "\n".join(lines), ok
