"""Intake (folders, LMS zips, file names) and sanitising, without running any code."""

import copy
import zipfile

import nbformat
import pytest

from cnn_course.course.grading.intake import normalise_name, read_submission, student_entries
from cnn_course.course.grading.sanitise import sanitise

NB = "01_convolution.ipynb"


@pytest.fixture(scope="module")
def release(layout):
    return nbformat.read(layout.assignments / "01_convolution" / NB, as_version=4)


@pytest.fixture(scope="module")
def full(layout, tmp_path_factory):
    from cnn_course.course.grading.examples import write_examples

    folder = write_examples(layout, "01_convolution", tmp_path_factory.mktemp("examples"))
    return nbformat.read(folder / "full_solution" / NB, 4)


def _ids(nb, **flags):
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if all(c.metadata.get("nbgrader", {}).get(k) == v for k, v in flags.items())]


@pytest.mark.parametrize("name", ["01_convolution.ipynb", "01_Convolution (2).ipynb",
                                  "01_convolution-1.ipynb", "01 convolution.ipynb",
                                  "01_convolution copy.ipynb"])
def test_normalise_name(name):
    assert normalise_name(name) == "01_convolution.ipynb"


def test_sanitise_keeps_only_answers_from_the_student(release, full):
    student = copy.deepcopy(full)
    for cell in student.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            cell.source = "pass"
            meta["points"] = 100
        if meta.get("grade_id") == "setup":
            cell.source = "import numpy as np\nexpect_close = lambda *a, **k: None"
    student.cells.insert(0, nbformat.v4.new_code_cell("print('extra cell')"))
    student.cells.reverse()
    clean, notes = sanitise(student, release)
    assert [c.source for c in clean.cells if c.metadata.get("nbgrader", {}).get("grade")] == \
           [c.source for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [c.metadata for c in clean.cells] == [c.metadata for c in release.cells]
    answers = {c.metadata.nbgrader.grade_id: c.source for c in full.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in clean.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            assert cell.source == answers[meta["grade_id"]]
    assert not any("extra cell" in c.source for c in clean.cells)
    assert notes == []


def test_sanitise_notes_deleted_and_duplicated_answers(release, full):
    student = copy.deepcopy(full)
    blank = next(c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "correlate2d")
    student.cells.insert(0, copy.deepcopy(blank))  # a blank copy first
    student.cells = [c for c in student.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") != "pad2d"]
    clean, notes = sanitise(student, release)
    text = "; ".join(notes)
    assert "cell correlate2d appears twice: the first copy was graded" in text
    assert "answer cells not found (deleted or re-typed): pad2d" in text
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in clean.cells}
    assert "NotImplementedError" in by_id["correlate2d"] and "NotImplementedError" in by_id["pad2d"]


def _folder(tmp_path, student, files):
    folder = tmp_path / student
    folder.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, str):
            (folder / name).write_text(content)
        else:
            nbformat.write(content, folder / name)
    return folder


def test_read_submission_names_and_assignment_checks(tmp_path, release, full):
    releases = {NB: release}
    ok = read_submission(_folder(tmp_path, "a", {"Homework 1 (final).ipynb": full}),
                         releases, "01_convolution")
    assert ok.error is None and ok.notes == ["graded Homework 1 (final).ipynb as 01_convolution.ipynb"]
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    other.cells[0].metadata["nbgrader"] = {"grade_id": "train_lenet", "solution": True}
    bad = read_submission(_folder(tmp_path, "b", {NB: other}), releases, "01_convolution")
    assert "is not 01_convolution" in bad.error
    two = read_submission(_folder(tmp_path, "c", {"x.ipynb": full, "y.ipynb": full}),
                          releases, "01_convolution")
    assert bad.error and two.error == "expected 01_convolution.ipynb, found x.ipynb, y.ipynb"
    junk = read_submission(_folder(tmp_path, "d", {NB: "\x00\x01binary"}), releases, "01_convolution")
    assert "is not a valid notebook" in junk.error


def test_lms_zip_is_sorted_by_student_and_unsafe_entries_are_skipped(tmp_path, full):
    archive = tmp_path / "export.zip"
    text = nbformat.writes(full)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("jsmith_12345_67890_01_convolution.ipynb", text)
        zf.writestr("adoe_late_222_333_01_convolution-1.ipynb", text)
        zf.writestr("Jane Roe_4444_assignsubmission_file_/01_convolution.ipynb", text)
        zf.writestr("../../escape_1_2_evil.ipynb", text)
        zf.writestr("__MACOSX/jsmith_1_2_x.ipynb", text)
    entries = student_entries(archive, tmp_path / "work")
    assert [e.name for e in entries] == ["Jane Roe_4444", "adoe_222", "jsmith_12345"]
    assert all(e.error is None and e.folder.is_dir() for e in entries)
    assert not (tmp_path / "escape_1_2_evil.ipynb").exists()
    assert sorted(p.name for p in (tmp_path / "work").rglob("*evil*")) == []


def test_zip_of_student_folders(tmp_path, full):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("class/alice/01_convolution.ipynb", nbformat.writes(full))
        zf.writestr("class/bob/01_convolution.ipynb", nbformat.writes(full))
    assert [e.name for e in student_entries(archive, tmp_path / "w")] == ["alice", "bob"]
