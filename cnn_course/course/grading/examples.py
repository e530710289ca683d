"""The example submissions of an assignment, generated from its spec.

Each ``Example`` in ``solutions/<assignment>/spec.py`` is the release with some answer
(or, to tamper, test) cells filled in, as a student would hand it in, and the score
it must earn. The demo grades them, and the tests check every declared score.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from cnn_course.course.spec.generate import example_notebooks
from cnn_course.course.spec.load import load_spec

from .paths import CourseLayout


def write_examples(layout: CourseLayout, assignment: str, out: Path,
                   release_dir: Path | None = None) -> Path:
    """Write ``out/<example>/<notebook>`` for every example; return ``out``."""
    spec = load_spec(layout.solutions, assignment)
    (name,) = layout.notebooks(assignment)
    release = nbformat.read(Path(release_dir or layout.assignments) / assignment / name,
                            as_version=4)
    solution = nbformat.read(layout.solutions / assignment / name, as_version=4)
    for example, nb in example_notebooks(spec, release, solution).items():
        target = Path(out) / example
        target.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target / name)
    return Path(out)
