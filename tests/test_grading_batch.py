"""Batch mechanics of `cnn-course grade`: resume, --force, a killed run, progress.

The per-student work is replaced by a stand-in here (the real one is exercised in
test_grading.py and test_grading_hostile.py), so these tests take seconds.
"""

import csv

import nbformat
import pytest

import cnn_course.course.grading.grade as grade_module
from cnn_course.course.grading.grade import grade
from cnn_course.course.grading.worker import Outcome


@pytest.fixture
def submissions(layout, tmp_path):
    full = nbformat.read(layout.examples / "01_convolution" / "full_solution" /
                         "01_convolution.ipynb", 4)
    for student in ("ann", "bob", "cat", "dan"):
        (tmp_path / "subs" / student).mkdir(parents=True)
        nbformat.write(full, tmp_path / "subs" / student / "01_convolution.ipynb")
    return tmp_path / "subs"


class Calls(list):
    """The students the stand-in worker was asked to grade, in order."""

    fake = None


@pytest.fixture
def calls(monkeypatch):
    seen = Calls()

    def fake(settings, folder):
        seen.append(folder.name)
        if folder.name == "cat" and getattr(fake, "crash", False):
            raise KeyboardInterrupt  # the instructor pressed Ctrl-C, or the machine died
        return Outcome(folder.name, 16.0, 16.0, "graded", "")

    monkeypatch.setattr(grade_module, "grade_student", fake)
    seen.fake = fake
    return seen


def _run(layout, submissions, tmp_path, **kw):
    messages = []
    rows = grade(layout, "01_convolution", submissions, tmp_path / "out" / "g.csv",
                 workspace=tmp_path / "ws", progress=False, allow_unsandboxed=True,
                 log=messages.append, **kw)
    return rows, messages


def _csv_students(path):
    with open(path, newline="") as f:
        return [r["student_id"] for r in csv.DictReader(f)]


def test_rerun_skips_unchanged_submissions_unless_forced(layout, submissions, tmp_path, calls):
    _run(layout, submissions, tmp_path)
    assert calls == ["ann", "bob", "cat", "dan"]
    calls.clear()
    rows, messages = _run(layout, submissions, tmp_path)
    assert calls == [] and len(rows) == 4
    assert any("4 submission(s) unchanged" in m for m in messages)
    # a student who hands in again is graded again
    path = submissions / "bob" / "01_convolution.ipynb"
    path.write_text(path.read_text().replace("Valid 2-D", "Valid two-D"))
    _run(layout, submissions, tmp_path)
    assert calls == ["bob"]
    calls.clear()
    _run(layout, submissions, tmp_path, force=True)
    assert calls == ["ann", "bob", "cat", "dan"]


def test_a_killed_run_resumes_without_losing_what_was_graded(layout, submissions, tmp_path,
                                                              calls):
    calls.fake.crash = True
    with pytest.raises(KeyboardInterrupt):
        _run(layout, submissions, tmp_path)
    assert calls == ["ann", "bob", "cat"]
    assert _csv_students(tmp_path / "out" / "g.csv") == ["ann", "bob"]  # written as it went
    calls.clear()
    calls.fake.crash = False
    rows, _ = _run(layout, submissions, tmp_path)
    assert calls == ["cat", "dan"]
    assert [r.student_id for r in rows] == ["ann", "bob", "cat", "dan"]


def test_refuses_to_grade_unsandboxed_without_the_flag(layout, submissions, tmp_path,
                                                       monkeypatch, calls):
    from cnn_course.course.grading.paths import CourseError
    from cnn_course.course.grading.sandbox import Isolation

    monkeypatch.setattr(grade_module, "probe",
                        lambda: Isolation(False, "no sandbox: bubblewrap is not installed"))
    with pytest.raises(CourseError, match="Refusing to run student code without a sandbox"):
        grade(layout, "01_convolution", submissions, tmp_path / "g.csv",
              workspace=tmp_path / "ws", progress=False)
    _, messages = _run(layout, submissions, tmp_path)
    assert "UNSANDBOXED" in messages[0]


def test_an_lms_zip_is_graded_per_student(layout, tmp_path, calls):
    import zipfile

    full = (layout.examples / "01_convolution" / "full_solution" / "01_convolution.ipynb")
    archive = tmp_path / "canvas_export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(full, "jsmith_1001_2001_01_convolution.ipynb")
        zf.write(full, "adoe_late_1002_2002_01_convolution-1.ipynb")
    rows, _ = _run(layout, archive, tmp_path)
    assert sorted(calls) == ["adoe", "jsmith"]
    assert [r.student_id for r in rows] == ["adoe", "jsmith"]


def test_a_notebook_past_its_time_limit_stops_with_a_clear_error(tmp_path):
    from nbformat.v4 import new_code_cell, new_notebook

    from cnn_course.course.grading.execute import SandboxedExecute
    from cnn_course.course.grading.sandbox import probe

    nb = new_notebook(cells=[new_code_cell("import time; time.sleep(9)"),
                             new_code_cell("print('never runs')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    # the budget covers the kernel's start too: the first cell starts within 8 s
    ex = SandboxedExecute(sandboxed=probe().sandboxed, notebook_timeout=8, timeout=30)
    ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert nb.cells[0].outputs == []
    assert nb.cells[1].outputs[0].ename == "NotebookTimeoutError"
