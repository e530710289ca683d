"""``cnn-course release``: regenerate ``assignments/`` from ``solutions/``.

nbgrader replaces every solution region by ``# YOUR CODE HERE`` and drops hidden
tests. The gradebook that nbgrader fills along the way (it stores the hidden tests)
goes into a git-ignored workspace, never next to the release.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .nbgrader_api import make_api, nbgrader_error
from .paths import CourseError, CourseLayout


def release(layout: CourseLayout, assignments: list[str] | None = None,
            out: Path | None = None, workspace: Path | None = None) -> list[Path]:
    """Write the student version of each assignment into ``out`` (default ``assignments/``).

    Returns the written notebooks. Raises ``CourseError`` when nbgrader refuses.
    """
    names = assignments or layout.assignment_names()
    for name in names:
        layout.notebooks(name)  # raises for an unknown assignment
    out = Path(out) if out else layout.assignments
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="cnn-course-release-") as tmp:
        ws = Path(workspace) if workspace else Path(tmp)
        api = make_api(ws, layout.solutions, Path(tmp) / "release")
        for name in names:
            result = api.generate_assignment(name, force=True, create=True)
            if not result["success"]:
                raise CourseError(f"nbgrader could not release {name}: {nbgrader_error(result)}")
            target = out / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(Path(tmp) / "release" / name, target)
            written += sorted(target.glob("*.ipynb"))
    return written
