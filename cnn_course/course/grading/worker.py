"""Grade one student: intake, nbgrader's autograde (the course's pipeline), feedback.

Runs in a worker process of ``cnn-course grade`` (several at once with ``--jobs``).
Everything that decides the score happens inside nbgrader's own pipeline (see
:mod:`.preprocessors`); this module puts the student's notebook where nbgrader looks
for it, runs ``autograde`` and ``generate_feedback`` in-process, and reads the row for
the CSV back from the gradebook.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .intake import Entry, read_submission
from .nbgrader_api import make_api, nbgrader_error
from .preprocessors import NOTES_PREFIX


@dataclass
class Settings:
    """What every worker needs to know; plain data, so it pickles to subprocesses."""

    assignment: str
    workspace: Path
    solutions: Path
    release: Path  # the release folder nbgrader generated for this run
    feedback_dir: Path | None
    sandboxed: bool
    submission_cpu: float
    db_url: str
    cluster: str | None = None  # a Dask scheduler: the sandboxed runs go to its workers


@dataclass
class Outcome:
    """One CSV row, plus what the feedback and the similarity check need."""

    student_id: str  # the gradebook's id
    name: str  # as the submission named the student
    score: float | None
    max_score: float
    status: str  # graded, flagged or failed
    reason: str = ""
    answers: str = ""  # the student's answer cells, for the similarity check
    notes: list[str] = field(default_factory=list)


_API = {}


def _api(s: Settings):
    """One nbgrader API per worker process (building it costs about a second)."""
    key = (str(s.workspace), s.sandboxed, s.submission_cpu, s.db_url, str(s.release),
           s.cluster)
    if key not in _API:
        _API[key] = make_api(s.workspace, s.solutions, s.release, sandboxed=s.sandboxed,
                             submission_cpu=s.submission_cpu, db_url=s.db_url,
                             cluster=s.cluster)
    return _API[key]


def warm_up(s: Settings) -> None:
    """A pool worker's start: import the grading pipeline and build its nbgrader API
    while the grader is still preparing the gradebook, so the first submission does
    not wait for them. Nothing here touches the gradebook or the release. It never
    raises (that would break the pool): a failure here happens again, and is reported
    in the rows, when the first submission is graded."""
    try:
        from . import execute, preprocessors, trusted  # noqa: F401  (imported, not used)

        _api(s)
    except Exception:
        pass


def points_of(release: nbformat.NotebookNode) -> float:
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in release.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("grade"))


def releases_of(s: Settings) -> dict[str, nbformat.NotebookNode]:
    folder = s.release / s.assignment
    return {p.name: nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))}


def grade_student(s: Settings, entry: Entry) -> Outcome:
    """Grade one submission. Never raises: errors become rows."""
    releases = releases_of(s)
    max_score = sum(points_of(nb) for nb in releases.values())
    try:
        return _grade(s, entry, releases, max_score)
    except Exception as err:  # never let one student stop the batch
        first = (str(err).strip().splitlines() or [""])[0][:200]
        return Outcome(entry.student_id, entry.name, None, max_score, "failed",
                       f"internal error: {type(err).__name__}: {first}")


def answers_text(notebooks: dict[str, nbformat.NotebookNode],
                 releases: dict[str, nbformat.NotebookNode]) -> str:
    """The student's answer cells (by the release's grade_ids), for the copy check."""
    parts = []
    for name, release in releases.items():
        wanted = {c.metadata["nbgrader"]["grade_id"] for c in release.cells
                  if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
        for cell in notebooks.get(name, nbformat.v4.new_notebook()).cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in wanted and isinstance(cell.get("source"), str):
                parts.append(cell.source)
    return "\n\n".join(parts)


# What `nbgrader submit` adds next to the notebooks, and `nbgrader collect` brings
# back: autograde reads the time (late penalties), release_feedback the secret (the
# name of the student's feedback in the exchange).
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


def exchange_files(folder: Path, assignment: str) -> dict[str, bytes]:
    """nbgrader's files of a collected submission (``<student>/<assignment>/``, as
    ``nbgrader collect`` lays it out, or ``<student>/``); none for other folders."""
    found: dict[str, bytes] = {}
    for where in (folder / assignment, folder):
        for name in EXCHANGE_FILES:
            path = where / name
            if name not in found and path.is_file() and not path.is_symlink() \
                    and path.stat().st_size <= 4096:
                found[name] = path.read_bytes()
    return found


def _grade(s: Settings, entry: Entry, releases: dict, max_score: float) -> Outcome:
    sid = entry.student_id
    if entry.error:
        return Outcome(sid, entry.name, None, max_score, "failed", entry.error)
    sub = read_submission(entry.folder, releases, s.assignment)
    if sub.error:
        return Outcome(sid, entry.name, None, max_score, "failed", sub.error)
    kept = exchange_files(entry.folder, s.assignment)  # before the folder may go
    for part in ("submitted", "autograded", "feedback"):
        shutil.rmtree(s.workspace / part / sid / s.assignment, ignore_errors=True)
    target = s.workspace / "submitted" / sid / s.assignment
    target.mkdir(parents=True)
    for name, nb in sub.notebooks.items():
        nbformat.write(nb, target / name)
    for name, data in kept.items():
        (target / name).write_bytes(data)
    answers = answers_text(sub.notebooks, releases)
    result = _api(s).autograde(s.assignment, sid, force=True, create=True)
    if not result["success"]:
        return Outcome(sid, entry.name, None, max_score, "failed",
                       f"nbgrader could not grade it: {nbgrader_error(result)}",
                       answers, list(sub.notes))
    outcome = read_gradebook_row(s, entry, max_score)
    outcome.answers = answers
    outcome.notes = list(sub.notes)
    if sub.notes:
        outcome.reason = "; ".join(filter(None, [outcome.reason, *sub.notes]))
    if s.feedback_dir is not None:
        fb = _api(s).generate_feedback(s.assignment, sid, force=True)
        source = s.workspace / "feedback" / sid / s.assignment
        if fb["success"] and source.is_dir():
            dest = s.feedback_dir / sid
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(source, dest)
        else:
            outcome.reason = "; ".join(filter(None, [outcome.reason,
                                                     "no feedback: " + nbgrader_error(fb)]))
    return outcome


def read_gradebook_row(s: Settings, entry: Entry, max_score: float) -> Outcome:
    """The CSV row of one student, as the gradebook holds it (scores, verdicts, flags)."""
    from nbgrader.api import Gradebook

    failed, notes, flagged = [], [], False
    n_tests = 0
    with Gradebook(s.db_url) as gb:
        submission = gb.find_submission(s.assignment, entry.student_id)
        score = float(submission.score)
        for notebook in submission.notebooks:
            flagged |= bool(notebook.flagged)
            for grade in notebook.grades:
                if grade.cell.cell_type == "code":
                    n_tests += 1
            for comment in notebook.comments:
                for line in (comment.auto_comment or "").splitlines():
                    if line.startswith(NOTES_PREFIX):
                        notes.append(line.removeprefix(NOTES_PREFIX))
                    elif ": [" in line:
                        failed.append(line)
    reason = []
    if failed:
        kinds = Counter(line.split(": [", 1)[1].split("]", 1)[0] for line in failed)
        counts = ", ".join(f"{k}: {n}" for k, n in kinds.most_common())
        reason.append(f"{len(failed)} of {n_tests} tests failed ({counts}); first: "
                      f"{failed[0]}")
    reason += notes
    return Outcome(entry.student_id, entry.name, score, max_score,
                   "flagged" if flagged else "graded", "; ".join(reason))
