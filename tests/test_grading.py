"""`cnn-course grade`, `demo`, `check` and plain nbgrader, end to end on real notebooks.

The examples of assignment 01 are graded once per session (``graded_examples`` in
conftest); these tests look at what that run left: the CSV, the gradebook that
``nbgrader export`` reads, the autograded notebooks and the feedback pages. Plain
``nbgrader autograde``, run in a course folder of its own, must give the same scores,
hostile submissions included: the trusted check is part of nbgrader's pipeline. (Each
other assignment's examples are graded, and compared with plain nbgrader, in its own
``test_assignment_0N.py``.)
"""

import csv
import html
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from assignment_helpers import autograde, example_tests, nbgrader_course
from conftest import ROOT
from cnn_course.course.cli import main
from cnn_course.course.grading.grade import grade
from cnn_course.course.grading.sandbox import detect
from cnn_course.course.spec import load_spec

A = "01_convolution"
NB = f"{A}.ipynb"
TRANSFORMER = "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"

pytestmark = pytest.mark.slow

# 01's plain-nbgrader comparison below takes every example and a hostile submission
test_each_example_earns_its_declared_score, _ = example_tests(A)


@pytest.fixture
def graded(graded_examples):
    return graded_examples(A)


def _autograded(out, student):
    return nbformat.read(out / "ws" / "autograded" / student / A / NB, as_version=4)


def test_csv_has_the_stable_columns_and_every_example(graded):
    with open(graded.out / "grades.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["student_id", "gradebook_id", "assignment", "score",
                                     "max_score", "status", "reason"]
        records = {r["student_id"]: r for r in reader}
    spec = load_spec(ROOT / "solutions", A)
    assert set(records) == {e.name for e in spec.examples}
    assert records["blank"]["score"] == "0" and records["full_solution"]["score"] == "16"
    assert records["full_solution"]["reason"] == ""


def test_nbgrader_export_sees_the_graders_scores(graded, tmp_path):
    ws = graded.out / "ws"
    nbgrader = Path(sys.executable).with_name("nbgrader")
    subprocess.run([str(nbgrader), "export", f"--CourseDirectory.root={ws}",
                    f"--CourseDirectory.db_url=sqlite:///{ws / 'gradebook.db'}",
                    f"--to={tmp_path / 'export.csv'}"], check=True, capture_output=True,
                   cwd=tmp_path)
    with open(tmp_path / "export.csv", newline="") as f:
        exported = {(r["assignment"], r["student_id"]): float(r["score"])
                    for r in csv.DictReader(f)}
    scores = {(A, s): r.score for s, r in graded.rows.items()}
    assert {k: v for k, v in exported.items() if k in scores} == scores
    # nbgrader lists every student under every assignment; one who sent nothing has 0
    assert set(scores) <= set(exported)
    assert all(v == 0.0 for k, v in exported.items() if k not in scores)


def test_blank_release_fails_every_graded_test_with_the_verdict(graded):
    tests = [c for c in _autograded(graded.out, "blank").cells
             if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(tests) == 15
    for cell in tests:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors and errors[-1].evalue.startswith("[not written yet]")


def test_edited_test_cells_are_restored_before_grading(graded):
    spec = load_spec(ROOT / "solutions", A)
    tampered = next(e for e in spec.examples if e.name == "edited_test_cell").tests
    for cell in _autograded(graded.out, "edited_test_cell").cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in tampered:
            assert 'check("' in cell.source


def test_feedback_opens_with_the_verdicts_and_hides_hidden_tests(graded):
    feedback = graded.out / "feedback"
    for student in ("blank", "partly_correct", "uses_np_pad"):
        page = (feedback / student / NB.replace(".ipynb", ".html")).read_text()
        assert "The grader's check" in page and "HIDDEN TESTS" not in page
        assert "run by the grader at grading time" not in page  # hidden cells' outputs
    partly = html.unescape((feedback / "partly_correct" / f"{A}.html").read_text())
    assert "(mode='reflect') NotImplementedError: only zero padding so far" in partly
    pad = (feedback / "uses_np_pad" / f"{A}.html").read_text()
    assert "numpy.pad is not allowed" in pad  # the shortcut is named


def test_check_passes_a_full_solution_and_fails_a_partial_one_with_hints(graded,
                                                                         capsys):
    subs = graded.out / "subs"
    assert main(["check", str(subs / "full_solution" / NB)]) == 0
    text = capsys.readouterr().out
    assert "6 of 6 visible tests passed; 9 hidden" in text and "Ready to submit" in text
    assert re.search(r"hidden +correlate2d_hidden \(2 pt\): run by the grader", text)
    assert main(["check", str(subs / "partly_correct" / NB)]) == 1
    text = capsys.readouterr().out
    assert re.search(r"PASS +correlate2d_visible", text)
    assert re.search(r"FAIL +pad2d_visible \(1 pt\): .*only zero padding so far", text)
    assert "Fix the FAIL lines" in text


def test_plain_nbgrader_autograde_gives_the_same_trusted_scores(graded, layout,
                                                              tmp_path):
    """`nbgrader autograde` in a course folder runs the course's pipeline: same scores
    for an example of every kind the spec has (full, blank, partly written, an error
    at import, a time-out, an edited test cell, a forbidden function; the other
    forbidden functions go the same way), and a hostile submission (an input
    transformer that turns every later cell into `pass`) earns what its code earns,
    not what its kernel claimed."""
    course = nbgrader_course(tmp_path)
    subs = graded.out / "subs"
    kinds = ("full_solution", "blank", "partly_correct", "raises_at_import",
             "infinite_loop", "edited_test_cell", "uses_np_pad")
    students = sorted(p.name for p in subs.iterdir() if p.name in kinds)
    assert len(students) == len(kinds), students
    hostile = nbformat.read(subs / "blank" / NB, as_version=4)
    for cell in hostile.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "correlate2d":
            cell.source = TRANSFORMER + "\n" + cell.source
    for student in students:
        target = course / "submitted" / student / A
        target.mkdir(parents=True)
        (target / NB).write_bytes((subs / student / NB).read_bytes())
    (course / "submitted" / "hostile" / A).mkdir(parents=True)
    nbformat.write(hostile, course / "submitted" / "hostile" / A / NB)
    autograde(course, A)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission(A, s).score for s in [*students, "hostile"]}
        hostile_flagged = gb.find_submission_notebook(A, A, "hostile").flagged
    assert {s: scores[s] for s in students} == \
        {s: graded.rows[s].score for s in students}
    # cnn-course grade on the same hostile notebook: the same trusted 0, flagged
    (tmp_path / "h" / "hostile").mkdir(parents=True)
    nbformat.write(hostile, tmp_path / "h" / "hostile" / NB)
    (row,) = grade(layout, A, tmp_path / "h",
                   tmp_path / "h.csv", workspace=tmp_path / "ws", progress=False,
                   allow_unsandboxed=True, similarity=False, feedback=False,
                   log=lambda *a: None)
    assert scores["hostile"] == row.score == 0
    assert hostile_flagged and row.status == "flagged"


def test_broken_submissions_fail_with_a_reason_and_never_stop_the_batch(graded,
                                                                       tmp_path):
    full = (graded.out / "subs" / "full_solution" / NB).read_bytes()
    subs = tmp_path / "subs"
    for student, data in {"a_invalid_json": b'{"cells": [', "b_empty_file": b"",
                          "zz_full_after_the_others": full}.items():
        (subs / student).mkdir(parents=True)
        (subs / student / NB).write_bytes(data)
    (subs / "stray_file.txt").write_text("not a student folder")
    out = tmp_path / "out" / "grades.csv"
    args = ["grade", A, "--submissions", str(subs), "--out", str(out), "--workspace",
            str(tmp_path / "ws"), "--no-feedback", "--no-similarity"]
    if not detect().sandboxed:
        args.append("--allow-unsandboxed")
    assert main(args) == 0
    with open(out, newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    expected = {"a_invalid_json": "not a valid notebook",
                "b_empty_file": "not a valid notebook",
                "stray_file.txt": "not a student's folder"}
    for student, reason in expected.items():
        assert rows[student]["status"] == "failed" and rows[student]["score"] == ""
        assert reason in rows[student]["reason"], rows[student]
    assert rows["zz_full_after_the_others"]["score"] == "16"


def test_grade_reports_bad_arguments_with_exit_code_2(tmp_path, capsys):
    assert main(["grade", "no_such", "--submissions", str(tmp_path), "--out",
                 str(tmp_path / "g.csv")]) == 2
    assert "no assignment 'no_such'" in capsys.readouterr().err
    assert main(["grade", A, "--submissions", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "g.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.ipynb")]) == 2
