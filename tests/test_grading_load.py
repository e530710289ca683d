"""A busy grading server never flags or fails an honest student.

Limits count the CPU time student code uses, not the wall clock, so grading honest
notebooks while the machine is deliberately loaded (two busy processes per core
beside the grader) must still give full marks with status ``graded``.
"""

import multiprocessing
import os

import nbformat
import pytest

from cnn_course.course.grading.grade import grade
from cnn_course.course.spec.generate import solution_answers

A, NB = "01_convolution", "01_convolution.ipynb"


def _spin():
    while True:
        pass


@pytest.mark.slow
def test_honest_notebooks_are_graded_on_a_loaded_machine(layout, tmp_path):
    solution = solution_answers(nbformat.read(layout.solutions / A / NB, as_version=4))
    for student in ("ann", "bob"):
        nb = nbformat.read(layout.assignments / A / NB, as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = solution[cell.metadata["nbgrader"]["grade_id"]]
        (tmp_path / "subs" / student).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / student / NB)
    busy = [multiprocessing.Process(target=_spin, daemon=True)
            for _ in range(2 * (os.cpu_count() or 2))]
    for process in busy:
        process.start()
    try:
        rows = grade(layout, A, tmp_path / "subs", tmp_path / "g.csv",
                     workspace=tmp_path / "ws", progress=False, jobs=2, feedback=False,
                     similarity=False, log=lambda *a: None)
    finally:
        for process in busy:
            process.kill()
    assert [(r.student_id, r.score, r.status) for r in rows] == \
        [("ann", 16, "graded"), ("bob", 16, "graded")], [r.reason for r in rows]
