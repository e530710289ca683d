"""`cnn-course grade`, `demo` and `check`, end to end with nbgrader on real notebooks."""

import csv
import re

import nbformat
import pytest

from cnn_course.course.cli import main
from cnn_course.course.grading.demo import EXAMPLES, demo
from cnn_course.course.grading.sandbox import probe

EXPECTED_SCORES = {
    "full_solution": 16,
    "blank": 0,
    "partly_correct": 8,
    "raises_at_import": 7,
    "infinite_loop": 11,
    "edited_test_cell": 9,
}
SECRETS = ("BEGIN HIDDEN", "forbid_shortcuts", "default_rng(101)", "F.pad(torch.from_numpy")


@pytest.fixture(scope="module")
def demo_run(layout, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    rows = demo(layout, out=out, progress=False, release_dir=out / "release")
    return out, {r.student_id: r for r in rows}


def test_demo_scores_every_example_as_expected(demo_run):
    _, rows = demo_run
    assert set(rows) == set(EXPECTED_SCORES) == set(EXAMPLES)
    for student, score in EXPECTED_SCORES.items():
        assert rows[student].status == "graded", rows[student]
        assert rows[student].score == score, rows[student]
        assert rows[student].max_score == 16
    assert 0 < rows["partly_correct"].score < 16
    assert "timed out after 10 s in correlate2d" in rows["infinite_loop"].reason
    assert "ModuleNotFoundError" in rows["raises_at_import"].reason
    assert rows["full_solution"].reason == ""


def test_demo_csv_has_the_stable_columns(demo_run):
    out, _ = demo_run
    with open(out / "grades.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["student_id", "assignment", "score", "max_score",
                                     "status", "reason"]
        records = {r["student_id"]: r for r in reader}
    assert records["blank"]["score"] == "0" and records["full_solution"]["score"] == "16"
    assert records["full_solution"]["assignment"] == "01_convolution"


def test_demo_examples_are_not_falsely_flagged(demo_run):
    """Honest examples: the notebook's tests and the grader's check agree on each."""
    _, rows = demo_run
    assert [r.student_id for r in rows.values() if r.status != "graded"] == []


def test_nbgrader_export_sees_the_graders_scores(demo_run, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    out, rows = demo_run
    ws = out / "nbgrader"
    nbgrader = Path(sys.executable).with_name("nbgrader")
    subprocess.run([str(nbgrader), "export", f"--CourseDirectory.root={ws}",
                    f"--CourseDirectory.db_url=sqlite:///{ws / 'gradebook.db'}",
                    f"--to={tmp_path / 'export.csv'}"], check=True, capture_output=True,
                   cwd=tmp_path)
    with open(tmp_path / "export.csv", newline="") as f:
        exported = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    assert exported == {s: r.score for s, r in rows.items()}


def _autograded(out, student):
    path = out / "nbgrader" / "autograded" / student / "01_convolution" / "01_convolution.ipynb"
    return nbformat.read(path, as_version=4)


def test_blank_release_fails_every_graded_test(demo_run):
    out, _ = demo_run
    graded = [c for c in _autograded(out, "blank").cells
              if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) == 15
    for cell in graded:
        assert any(o.output_type == "error" for o in cell.outputs), cell.metadata.nbgrader.grade_id


def test_edited_test_cells_are_restored_before_grading(demo_run, layout):
    out, _ = demo_run
    release = nbformat.read(layout.assignments / "01_convolution" / "01_convolution.ipynb", 4)
    submitted = nbformat.read(layout.examples / "01_convolution" / "edited_test_cell" /
                              "01_convolution.ipynb", 4)
    tampered = [c.metadata.nbgrader.grade_id for c in submitted.cells
                if c.source.startswith("pass  # nothing to test")]
    assert len(tampered) == 7
    originals = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in release.cells}
    for cell in _autograded(out, "edited_test_cell").cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in tampered and not gid.endswith("_hidden"):
            assert cell.source == originals[gid]


def test_feedback_exists_and_hides_hidden_tests(demo_run):
    out, rows = demo_run
    for student in rows:
        html = (out / "feedback" / student / "01_convolution.html").read_text()
        for secret in SECRETS:
            assert secret not in html, f"{student}'s feedback shows {secret!r}"
    blank = (out / "feedback" / "blank" / "01_convolution.html").read_text()
    assert "not written yet" in blank
    partly = (out / "feedback" / "partly_correct" / "01_convolution.html").read_text()
    assert "only zero padding so far" in partly  # the student's own error is shown


def test_broken_submissions_fail_with_a_reason_and_never_stop_the_batch(layout, tmp_path):
    full = nbformat.read(layout.examples / "01_convolution" / "full_solution" /
                         "01_convolution.ipynb", 4)
    subs = tmp_path / "subs"
    for student, text in {"a_invalid_json": '{"cells": [', "b_empty_file": "",
                          "c bad id": None, "zz_full_after_the_others": None}.items():
        (subs / student).mkdir(parents=True)
        if text is None:
            nbformat.write(full, subs / student / "01_convolution.ipynb")
        else:
            (subs / student / "01_convolution.ipynb").write_text(text)
    (subs / "stray_file.txt").write_text("not a student folder")
    out = tmp_path / "out" / "grades.csv"
    args = ["grade", "01_convolution", "--submissions", str(subs), "--out", str(out),
            "--workspace", str(tmp_path / "ws"), "--no-feedback"]
    if not probe().sandboxed:
        args.append("--allow-unsandboxed")
    assert main(args) == 0
    with open(out, newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    expected = {
        "a_invalid_json": "not a valid notebook",
        "b_empty_file": "not a valid notebook",
        "c bad id": "must be letters, digits",
    }
    for student, reason in expected.items():
        assert rows[student]["status"] == "failed"
        assert reason in rows[student]["reason"], rows[student]
        assert rows[student]["score"] == ""  # never a silent 0
    assert rows["zz_full_after_the_others"]["status"] == "graded"
    assert rows["zz_full_after_the_others"]["score"] == "16"
    assert set(rows) == set(expected) | {"zz_full_after_the_others"}


def test_grade_reports_bad_arguments_with_exit_code_2(tmp_path, capsys):
    assert main(["grade", "no_such", "--submissions", str(tmp_path), "--out",
                 str(tmp_path / "g.csv")]) == 2
    assert "no assignment 'no_such'" in capsys.readouterr().err
    assert main(["grade", "01_convolution", "--submissions", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "g.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.ipynb")]) == 2


def test_check_passes_a_full_solution_and_fails_a_blank_one_with_hints(layout, capsys):
    examples = layout.examples / "01_convolution"
    assert main(["check", str(examples / "full_solution" / "01_convolution.ipynb")]) == 0
    text = capsys.readouterr().out
    assert "6 of 6 visible tests passed; 9 hidden" in text and "Ready to submit" in text
    assert re.search(r"hidden +correlate2d_hidden \(2 pt\): tests run at grading", text)

    assert main(["check", str(examples / "partly_correct" / "01_convolution.ipynb")]) == 1
    text = capsys.readouterr().out
    assert re.search(r"PASS +correlate2d_visible", text)
    assert re.search(r"FAIL +pad2d_visible \(1 pt\): .*only zero padding so far", text)
    assert "Fix the FAIL lines" in text
