"""``cnn-course grade``: autograde a folder of submissions with nbgrader.

Input: ``DIR/<student_id>/<notebook>.ipynb``. Output: one CSV row per student,
``student_id, assignment, score, max_score, status, reason``, plus feedback HTML per
student that shows neither hidden tests nor their tracebacks.

A submission that cannot be graded (invalid JSON, a wrongly named file, a dead
kernel) gets ``status=failed`` and a reason, never a silent 0, and one bad submission
never stops the batch: every student is graded inside its own ``try``.
"""

from __future__ import annotations

import csv
from collections import Counter
import re
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from .config import DEFAULT_CELL_TIMEOUT
from .feedback import failure_kind
from .nbgrader_api import make_api, nbgrader_error
from .paths import CourseError, CourseLayout

CSV_COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "reason")
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")


@dataclass
class GradeRow:
    """One line of the grades CSV. ``score`` is ``None`` when grading failed."""

    student_id: str
    assignment: str
    score: float | None
    max_score: float
    status: str  # "graded" or "failed"
    reason: str = ""


def write_csv(rows: list[GradeRow], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[fl.name for fl in fields(GradeRow)])
        writer.writeheader()
        for row in rows:
            record = asdict(row)
            record["score"] = "" if row.score is None else _fmt(row.score)
            record["max_score"] = _fmt(row.max_score)
            writer.writerow(record)


def read_csv(path: Path) -> list[GradeRow]:
    with open(path, newline="", encoding="utf-8") as f:
        return [
            GradeRow(r["student_id"], r["assignment"],
                     float(r["score"]) if r["score"] else None, float(r["max_score"]),
                     r["status"], r["reason"])
            for r in csv.DictReader(f)
        ]


def _fmt(x: float) -> str:
    return f"{x:g}"


def format_table(rows: list[GradeRow]) -> str:
    """A plain-text score table for the terminal."""
    header = ("student", "score", "status", "reason")
    lines = [
        (r.student_id, f"{'-' if r.score is None else _fmt(r.score)} / {_fmt(r.max_score)}",
         r.status, r.reason)
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    widths[-1] = min(widths[-1], 70)

    def fmt(cols):
        return "  ".join(str(c)[:w].ljust(w) for c, w in zip(cols, widths)).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(x) for x in lines])


class SubmissionError(Exception):
    """This student's submission cannot be graded; the message is the CSV reason."""


def _intake(student_dir: Path, notebooks: list[str]) -> dict[str, nbformat.NotebookNode]:
    """Read the expected notebooks of one student, or explain what is wrong."""
    if not _STUDENT_ID.match(student_dir.name):
        raise SubmissionError(
            f"student id {student_dir.name!r} must be letters, digits and . _ @ + - only"
        )
    found = sorted(p.name for p in student_dir.glob("*.ipynb"))
    result = {}
    for name in notebooks:
        path = student_dir / name
        if not path.is_file():
            raise SubmissionError(
                f"expected {name}, found {', '.join(found) if found else 'no notebook'}"
            )
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as err:  # JSON errors, wrong nbformat, binary junk
            raise SubmissionError(f"{name} is not a valid notebook: {_first_line(err)}")
        result[name] = nb
    return result


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


@dataclass
class RunReport:
    """What went wrong while the autograder ran one student's notebooks."""

    n_tests: int = 0
    failed_tests: list[tuple[str, str]] = field(default_factory=list)  # (grade_id, kind)
    timeouts: list[str] = field(default_factory=list)  # grade_ids of cut-off cells
    answer_errors: list[str] = field(default_factory=list)  # "pad2d: ImportError: ..."

    def summary(self, cell_timeout: int) -> str:
        """E.g. "timed out after 10 s in correlate2d; 4 of 15 tests failed (not defined: 4)"."""
        parts = []
        if self.timeouts:
            parts.append(f"timed out after {cell_timeout} s in {', '.join(self.timeouts)}")
        parts += [f"error in {e}" for e in self.answer_errors[:2]]
        if self.failed_tests:
            kinds = Counter(kind for _, kind in self.failed_tests)
            counts = ", ".join(f"{kind}: {n}" for kind, n in kinds.most_common())
            text = f"{len(self.failed_tests)} of {self.n_tests} tests failed ({counts})"
            if len(self.failed_tests) <= 3:
                text += ": " + ", ".join(gid for gid, _ in self.failed_tests)
            parts.append(text)
        return "; ".join(parts)


def _run_report(autograded: Path) -> RunReport:
    """Read the autograded notebooks: failed tests, timeouts, errors in answer cells."""
    report = RunReport()
    for path in sorted(autograded.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            gid = meta.get("grade_id") or "an ungraded cell"
            report.n_tests += bool(meta.get("grade"))
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if not errors:
                continue
            kind = failure_kind(errors[0].ename, errors[0].evalue)
            if kind == "timeout":
                report.timeouts.append(gid)
            elif meta.get("grade"):
                report.failed_tests.append((gid, kind))
            elif meta.get("solution"):
                report.answer_errors.append(
                    f"{gid}: {errors[0].ename}: {errors[0].evalue}"[:120]
                )
    return report


def _score(workspace: Path, assignment: str, student: str) -> tuple[float, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}?timeout=120") as gb:
        sub = gb.find_submission(assignment, student)
        return float(sub.score), float(sub.max_score)


def _assignment_max(workspace: Path, assignment: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}?timeout=120") as gb:
        return float(gb.find_assignment(assignment).max_score)


def grade(layout: CourseLayout, assignment: str, submissions: Path, out_csv: Path,
          *, workspace: Path | None = None, cell_timeout: int = DEFAULT_CELL_TIMEOUT,
          feedback: bool = True, progress: bool = True) -> list[GradeRow]:
    """Grade every ``submissions/<student_id>/`` folder; write ``out_csv`` and feedback.

    Feedback HTML goes to ``<out_csv's folder>/feedback/<student_id>/``. Raises
    ``CourseError`` for an unknown assignment or a missing submissions folder.
    """
    notebooks = layout.notebooks(assignment)
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise CourseError(f"submissions folder {submissions} does not exist")
    workspace = Path(workspace) if workspace else layout.course
    out_csv = Path(out_csv)
    feedback_dir = out_csv.parent / "feedback"

    api = make_api(workspace, layout.solutions, workspace / ".work" / "release",
                   cell_timeout=cell_timeout)
    # Refresh the gradebook from the current solutions: autograde restores the test
    # cells (hidden ones included) from it, never from the student's notebook.
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise CourseError(f"nbgrader could not prepare {assignment}: {nbgrader_error(result)}")
    max_score = _assignment_max(workspace, assignment)

    students = sorted(p for p in submissions.iterdir() if p.is_dir()
                      and not p.name.startswith("."))
    rows: list[GradeRow] = []
    bar = tqdm(students, desc=f"grading {assignment}", unit="sub", disable=not progress)
    for student_dir in bar:
        sid = student_dir.name
        try:
            row = _grade_one(api, workspace, assignment, student_dir, notebooks,
                             max_score, cell_timeout)
        except SubmissionError as err:
            row = GradeRow(sid, assignment, None, max_score, "failed", str(err))
        except Exception as err:  # never let one student stop the batch
            row = GradeRow(sid, assignment, None, max_score, "failed",
                           f"internal error: {type(err).__name__}: {_first_line(err)}")
        if feedback and row.status == "graded":
            _feedback(api, workspace, assignment, sid, feedback_dir, row)
        rows.append(row)
        bar.set_postfix(failed=sum(r.status == "failed" for r in rows))
    write_csv(rows, out_csv)
    return rows


def _grade_one(api, workspace: Path, assignment: str, student_dir: Path,
               notebooks: list[str], max_score: float, cell_timeout: int) -> GradeRow:
    sid = student_dir.name
    nbs = _intake(student_dir, notebooks)
    for sub in ("submitted", "autograded", "feedback"):
        target = workspace / sub / sid / assignment
        if target.exists():
            shutil.rmtree(target)
    target = workspace / "submitted" / sid / assignment
    target.mkdir(parents=True)
    for name, nb in nbs.items():
        nbformat.write(nb, target / name)
    result = api.autograde(assignment, sid, force=True, create=True)
    if not result["success"]:
        raise SubmissionError(f"nbgrader could not grade it: {nbgrader_error(result)}")
    score, _ = _score(workspace, assignment, sid)
    report = _run_report(workspace / "autograded" / sid / assignment)
    return GradeRow(sid, assignment, score, max_score, "graded",
                    report.summary(cell_timeout))


def _feedback(api, workspace: Path, assignment: str, sid: str, feedback_dir: Path,
              row: GradeRow) -> None:
    """Generate the student's feedback HTML; a failure here is noted, not fatal."""
    result = api.generate_feedback(assignment, sid, force=True)
    source = workspace / "feedback" / sid / assignment
    if not result["success"] or not source.is_dir():
        row.reason = "; ".join(filter(None, [row.reason, "no feedback: " + nbgrader_error(result)]))
        return
    target = feedback_dir / sid
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
