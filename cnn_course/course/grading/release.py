"""``cnn-course release``: regenerate ``assignments/`` and the visible checks from the specs.

For each assignment, nbgrader's ``generate_assignment`` (with the course's
:class:`~.preprocessors.InsertSpecTests` step first) adds the spec's header and test
cells to the solution notebook, replaces every solution by ``# YOUR CODE HERE`` and
drops the hidden tests. The visible checks that the student's ``check()`` runs are
written to ``cnn_course/course/checks/<assignment>.json`` (package data). The
gradebook that nbgrader fills along the way (it stores the hidden tests) goes into a
git-ignored workspace, never next to the release.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from cnn_course.course.spec.generate import visible_checks
from cnn_course.course.spec.load import load_spec
from cnn_course.course.testing.check import CHECKS_DIR

from .gradebook import create_tables
from .nbgrader_api import make_api, nbgrader_error
from .paths import CourseError, CourseLayout


def checks_json(layout: CourseLayout, assignment: str) -> str:
    """The visible checks file's text (deterministic, so a test can compare it)."""
    spec = load_spec(layout.solutions, assignment)
    return json.dumps(visible_checks(spec), indent=1, sort_keys=True) + "\n"


def release(layout: CourseLayout, assignments: list[str] | None = None,
            out: Path | None = None, workspace: Path | None = None,
            checks_dir: Path | None = CHECKS_DIR) -> list[Path]:
    """Write the student version of each assignment into ``out`` (default ``assignments/``)
    and its visible checks into ``checks_dir`` (skipped when None).

    Returns the written notebooks. Raises ``CourseError`` when nbgrader refuses.
    """
    names = assignments or layout.assignment_names()
    for name in names:
        layout.notebooks(name)  # raises for an unknown assignment
    out = Path(out) if out else layout.assignments
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="cnn-course-release-") as tmp:
        ws = Path(workspace) if workspace else Path(tmp)
        api = make_api(ws, layout.solutions, Path(tmp) / "release", sandboxed=False)
        create_tables(api.coursedir.db_url)
        for name in names:
            if checks_dir is not None:
                Path(checks_dir).mkdir(parents=True, exist_ok=True)
                (Path(checks_dir) / f"{name}.json").write_text(checks_json(layout, name),
                                                               encoding="utf-8")
            result = api.generate_assignment(name, force=True, create=True)
            if not result["success"]:
                raise CourseError(f"nbgrader could not release {name}: {nbgrader_error(result)}")
            target = out / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(Path(tmp) / "release" / name, target)
            written += sorted(target.glob("*.ipynb"))
    return written
