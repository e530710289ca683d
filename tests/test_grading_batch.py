"""Batch mechanics of `cnn-course grade`: resume, --force, a new gradebook, a killed run,
any student name, LMS exports, escaping, and CPU-time limits.

The per-student work is replaced by a stand-in here (the real one is exercised in
test_grading.py and test_grading_hostile.py), so these tests take seconds.
"""

import csv
import os
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import cnn_course.course.grading.grade as grade_module
from cnn_course.course.grading.grade import format_table, grade
from cnn_course.course.grading.worker import Outcome

A, NB = "01_convolution", "01_convolution.ipynb"


@pytest.fixture
def full(layout):
    return (layout.assignments / A / NB).read_bytes()


@pytest.fixture
def submissions(full, tmp_path):
    for student in ("ann", "bob", "cat", "dan"):
        (tmp_path / "subs" / student).mkdir(parents=True)
        (tmp_path / "subs" / student / NB).write_bytes(full)
    return tmp_path / "subs"


class Calls(list):
    """The students the stand-in worker was asked to grade, in order."""

    fake = None


@pytest.fixture
def calls(monkeypatch):
    from nbgrader.api import Gradebook

    seen = Calls()

    def fake(settings, entry):
        seen.append(entry.name)
        if entry.name == "cat" and getattr(fake, "crash", False):
            raise KeyboardInterrupt  # the instructor pressed Ctrl-C, or the machine died
        if entry.error:
            return Outcome(entry.student_id, entry.name, None, 16.0, "failed", entry.error)
        with Gradebook(settings.db_url) as gb:  # what autograde would leave behind
            gb.update_or_create_student(entry.student_id)
            gb.update_or_create_submission(settings.assignment, entry.student_id)
        (settings.feedback_dir / entry.student_id).mkdir(parents=True, exist_ok=True)
        return Outcome(entry.student_id, entry.name, 0.0, 16.0, "graded", "")

    monkeypatch.setattr(grade_module, "grade_student", fake)
    seen.fake = fake
    return seen


def _run(layout, submissions, tmp_path, **kw):
    messages = []
    rows = grade(layout, A, submissions, tmp_path / "out" / "g.csv",
                 workspace=tmp_path / "ws", progress=False, allow_unsandboxed=True,
                 similarity=False, log=messages.append, **kw)
    return rows, messages


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_rerun_skips_unchanged_submissions_unless_forced(layout, submissions, tmp_path, calls):
    _run(layout, submissions, tmp_path)
    assert calls == ["ann", "bob", "cat", "dan"]
    calls.clear()
    rows, messages = _run(layout, submissions, tmp_path)
    assert calls == [] and len(rows) == 4
    assert any("4 submission(s) unchanged" in m for m in messages)
    # a student who hands in again is graded again
    path = submissions / "bob" / NB
    path.write_text(path.read_text().replace("Valid 2-D", "Valid two-D"))
    _run(layout, submissions, tmp_path)
    assert calls == ["bob"]
    calls.clear()
    _run(layout, submissions, tmp_path, force=True)
    assert calls == ["ann", "bob", "cat", "dan"]


def test_a_new_gradebook_means_grading_again(layout, submissions, tmp_path, calls):
    """After `make clean` (the gradebook deleted) nothing is 'unchanged: kept'."""
    _run(layout, submissions, tmp_path)
    calls.clear()
    (tmp_path / "ws" / "gradebook.db").unlink()
    rows, messages = _run(layout, submissions, tmp_path)
    assert calls == ["ann", "bob", "cat", "dan"]
    assert not any("unchanged" in m for m in messages)


def test_a_killed_run_resumes_without_losing_what_was_graded(layout, submissions, tmp_path,
                                                              calls):
    calls.fake.crash = True
    with pytest.raises(KeyboardInterrupt):
        _run(layout, submissions, tmp_path)
    assert calls == ["ann", "bob", "cat"]
    assert [r["student_id"] for r in _csv(tmp_path / "out" / "g.csv")] == ["ann", "bob"]
    calls.clear()
    calls.fake.crash = False
    rows, _ = _run(layout, submissions, tmp_path)
    assert calls == ["cat", "dan"]
    assert [r.student_id for r in rows] == ["ann", "bob", "cat", "dan"]


def test_refuses_to_grade_unsandboxed_without_the_flag(layout, submissions, tmp_path,
                                                       monkeypatch, calls):
    from cnn_course.course.grading.paths import CourseError
    from cnn_course.course.grading.sandbox import Isolation

    monkeypatch.setattr(grade_module, "detect",
                        lambda: Isolation(False, "no sandbox: bubblewrap is not installed"))
    with pytest.raises(CourseError, match="Refusing to run student code without a sandbox"):
        grade(layout, A, submissions, tmp_path / "g.csv", workspace=tmp_path / "ws",
              progress=False)
    _, messages = _run(layout, submissions, tmp_path)
    assert "UNSANDBOXED" in messages[0]


def test_every_student_gets_a_row_whatever_the_name(layout, full, tmp_path, calls):
    """Long, odd-byte, leading '-' or '=' names, links: a row each, escaped."""
    subs = tmp_path / "subs"
    names = ["a" * 250, "=1+1", "-rf", "@SUM(A1)", "\x1b[31mred\x1b[0m", "ok"]
    for name in names:
        (subs / name).mkdir(parents=True)
        (subs / name / NB).write_bytes(full)
    odd = os.fsdecode(b"caf\xe9")  # not UTF-8
    os.mkdir(os.fsencode(subs) + b"/caf\xe9")
    (subs / odd / NB).write_bytes(full)
    (subs / "link").symlink_to(subs / "ok")  # a folder that is a link
    (subs / "nb_link").mkdir()
    (subs / "nb_link" / NB).symlink_to(subs / "ok" / NB)  # a notebook that is a link
    rows, _ = _run(layout, subs, tmp_path)
    by_name = {r.student_id: r for r in rows}
    assert len(rows) == len(names) + 3
    assert by_name["link"].status == "failed" and "is a link" in by_name["link"].reason
    assert {r.gradebook_id for r in rows}.__len__() == len(rows)
    assert all(len(r.gradebook_id) <= 64 for r in rows)
    records = {r["gradebook_id"]: r for r in _csv(tmp_path / "out" / "g.csv")}
    shown = {r["student_id"] for r in records.values()}
    assert "'=1+1" in shown and "'-rf" in shown and "'@SUM(A1)" in shown
    assert not any("\x1b" in s for s in shown)
    assert "\\x1b[31mred" in format_table(rows)


def test_two_canvas_students_with_one_name_stay_apart(layout, full, tmp_path, calls):
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("smithjohn_1001_2001_01_convolution.ipynb", full)
        zf.writestr("smithjohn_1002_2002_01_convolution.ipynb", full)
        zf.writestr("adoe_late_1003_2003_01_convolution-1.ipynb", full)
        zf.writestr("Jane Roe_1004_assignsubmission_file_/01_convolution.ipynb", full)
    rows, _ = _run(layout, archive, tmp_path)
    assert sorted(r.student_id for r in rows) == [
        "Jane Roe_1004", "adoe_1003", "smithjohn_1001", "smithjohn_1002"]
    assert all(r.status == "graded" for r in rows)


def test_a_clash_of_ids_fails_both_rows_and_names_both(tmp_path):
    from cnn_course.course.grading.intake import Entry, _refuse_clashes

    entries = _refuse_clashes([Entry("Ann", "ann", tmp_path), Entry("ann ", "ann", tmp_path),
                               Entry("bob", "bob", tmp_path)])
    assert entries[0].error and "'ann '" in entries[0].error
    assert entries[1].error and "'Ann'" in entries[1].error
    assert entries[2].error is None


def test_reasons_wrap_at_words_in_the_table():
    from cnn_course.course.grading.grade import GradeRow

    reason = "the notebook's tests and the grader's check disagree on " * 4
    table = format_table([GradeRow("ann", "ann", A, 3, 16, "flagged", reason)])
    body = [line.strip() for line in table.splitlines()[2:]]
    assert len(body) > 1 and all(len(line) <= 110 for line in body)
    assert " ".join(" ".join(body).split()[5:]) == " ".join(reason.split())


def _execute(tmp_path, *sources, sandboxed=None):
    """Run cells of ``sources`` through the grader's kernel step with a 1.5 s CPU limit
    per cell; return the notebook and the step's resources."""
    from nbformat.v4 import new_code_cell, new_notebook

    from cnn_course.course.grading.execute import SandboxedExecute
    from cnn_course.course.grading.sandbox import detect

    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    sandboxed = detect().sandboxed if sandboxed is None else sandboxed
    resources = {"metadata": {"path": str(tmp_path)}}
    SandboxedExecute(sandboxed=sandboxed, cell_cpu=1.5).preprocess(nb, resources)
    return nb, resources


def test_a_cell_is_limited_by_cpu_time_not_wall_time(tmp_path):
    """A sleeping cell (no CPU) runs past the limit; a spinning one is stopped and the
    notebook goes on, keeping what the cell defined before it was stopped."""
    nb, resources = _execute(tmp_path, "import time; time.sleep(2.5); slept = True",
                             "kept = 1\nwhile True:\n    pass", "print(slept, kept)")
    assert not [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert nb.cells[1].outputs[-1].ename == "TimeoutError"
    assert "CPU time" in nb.cells[1].outputs[-1].evalue
    assert nb.cells[2].outputs[0].text.strip() == "True 1"
    assert "notebook_error" not in resources["cnn_course"]


def test_a_kernel_that_stops_answering_is_stopped_not_waited_for(tmp_path, monkeypatch):
    """A kernel that hangs where no CPU limit reaches (here it stops itself; a
    submission that patches builtins hangs IPython's own shutdown the same way) is
    stopped once its heartbeat has been silent for the grace period, not after the
    cell's wall-clock backstop. A cell that sleeps longer than the grace, with the
    heartbeat beating, is left alone."""
    import cnn_course.course.grading.execute as execute
    from cnn_course.course.grading.sandbox import detect

    if not detect().sandboxed:
        pytest.skip("the watchdog reads the sandbox's CPU and needs bubblewrap")
    monkeypatch.setattr(execute, "HEARTBEAT_GRACE", 3.0)
    nb, resources = _execute(tmp_path, "import time; time.sleep(6); slept = True",
                             "import os, signal; os.kill(os.getpid(), signal.SIGSTOP)",
                             "print('after')", sandboxed=True)
    assert not [o for o in nb.cells[0].outputs if o.output_type == "error"]
    # the watchdog's reason, not the backstop's CellTimeoutError
    assert "no heartbeat for 3 s" in resources["cnn_course"]["notebook_error"]
    assert nb.cells[2].outputs[0].ename == "NotRun"


def test_the_gradebook_is_made_in_process_as_nbgrader_would_make_it(layout, submissions,
                                                                   tmp_path, calls,
                                                                   monkeypatch):
    """`create_tables` gives the tables and migration stamp that nbgrader's own fresh
    gradebook gets (its `alembic heads` subprocess), and grading never runs that."""
    import nbgrader.api
    from sqlalchemy import create_engine, inspect, text

    from cnn_course.course.grading.gradebook import create_tables

    def schema(url):
        engine = create_engine(url)
        try:
            tables = inspect(engine)
            shape = {t: sorted(c["name"] for c in tables.get_columns(t))
                     for t in tables.get_table_names()}
            with engine.connect() as conn:
                stamp = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            return shape, stamp
        finally:
            engine.dispose()

    theirs, ours = (f"sqlite:///{tmp_path / name}.db" for name in ("theirs", "ours"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    nbgrader.api.Gradebook(theirs).close()  # nbgrader's way, subprocess and all
    assert create_tables(ours) is True
    assert schema(ours) == schema(theirs) and len(schema(ours)[1]) == 1
    assert create_tables(ours) is False  # a gradebook with tables is left alone

    def no_subprocess():
        raise AssertionError("nbgrader ran `alembic heads`")

    monkeypatch.setattr(nbgrader.api, "get_alembic_version", no_subprocess)
    rows, _ = _run(layout, submissions, tmp_path)
    assert [r.status for r in rows] == ["graded"] * 4
    assert schema(f"sqlite:///{tmp_path / 'ws' / 'gradebook.db'}") == schema(theirs)


def test_a_finished_kernel_is_killed_not_asked_to_exit(tmp_path):
    """Its sandbox is thrown away, so nothing waits for the kernel's own exit: an exit
    handler that a notebook registers (here, one that writes a file) never runs."""
    marker = tmp_path / "exit-handler-ran"
    nb, resources = _execute(tmp_path, "import atexit, pathlib\n"
                             f"atexit.register(pathlib.Path({str(marker)!r}).touch)",
                             "print('done')", sandboxed=False)
    assert nb.cells[1].outputs[0].text.strip() == "done"
    assert not marker.exists()


def test_workers_start_up_while_the_gradebook_is_prepared(layout, submissions, tmp_path,
                                                          monkeypatch):
    """With --jobs N the N worker processes exist before `prepare` runs, so their
    imports overlap it; a worker whose warm-up fails still grades (and reports)."""
    import multiprocessing

    from cnn_course.course.grading.paths import CourseError
    from cnn_course.course.grading.worker import Settings, warm_up

    seen = []

    def prepare(*args):
        seen.append(len(multiprocessing.active_children()))
        raise CourseError("stop here")

    monkeypatch.setattr(grade_module, "prepare", prepare)
    with pytest.raises(CourseError, match="stop here"):
        _run(layout, submissions, tmp_path, jobs=2)
    assert seen == [2]
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    broken = Settings(A, blocked / "ws", blocked, blocked, None, False, 1.0, "sqlite://")
    assert warm_up(broken) is None  # the error comes back with the first submission


def test_feedback_that_would_land_in_nbgraders_own_folder_is_refused(layout, submissions,
                                                                      tmp_path, calls):
    """A CSV written into the workspace would put its feedback pages in nbgrader's own
    feedback folder, where each would delete its own source: refused before grading,
    with what to do instead; elsewhere in the workspace is fine."""
    from cnn_course.course.grading.paths import CourseError

    with pytest.raises(CourseError, match="nbgrader's own feedback folder.*another folder"):
        grade(layout, A, submissions, tmp_path / "ws" / "g.csv", workspace=tmp_path / "ws",
              progress=False, allow_unsandboxed=True, similarity=False, log=print)
    assert calls == []
    rows = grade(layout, A, submissions, tmp_path / "ws" / "grades" / "g.csv",
                 workspace=tmp_path / "ws", progress=False, allow_unsandboxed=True,
                 similarity=False, log=print)
    assert [r.status for r in rows] == ["graded"] * 4
