"""``cnn-course grade``: autograde a class's submissions with nbgrader, safely.

Input: a folder ``DIR/<student_id>/<notebook>.ipynb`` or an LMS zip (see
:mod:`.intake`). Output: one CSV row per student, ``student_id, assignment, score,
max_score, status, reason``, plus feedback HTML per student that shows neither hidden
tests nor their tracebacks. Status is

- ``graded``: the notebook's tests and the grader's own check agree;
- ``flagged``: they disagree, or the notebook did not finish; the score is the
  grader's check, and the reason says what to review;
- ``failed``: nothing could be graded (invalid notebook, another assignment, ...);
  the score is empty, never a silent 0.

Every student is graded in a worker of its own (:mod:`.worker`), several at once with
``jobs``; results are saved as they come, so a killed run resumes where it stopped,
and a re-run skips students whose files have not changed unless ``force``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, fields
from multiprocessing import get_context
from pathlib import Path

from tqdm.auto import tqdm

from .config import DEFAULT_CELL_TIMEOUT, DEFAULT_NOTEBOOK_TIMEOUT
from .intake import IntakeError, student_folders
from .nbgrader_api import make_api, nbgrader_error
from .paths import CourseError, CourseLayout
from .sandbox import probe
from .worker import Outcome, Settings, grade_student

CSV_COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "reason")


@dataclass
class GradeRow:
    """One line of the grades CSV. ``score`` is ``None`` when grading failed."""

    student_id: str
    assignment: str
    score: float | None
    max_score: float
    status: str  # "graded", "flagged" or "failed"
    reason: str = ""


def write_csv(rows: list[GradeRow], path: Path) -> None:
    """Write the CSV atomically: a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[fl.name for fl in fields(GradeRow)])
        writer.writeheader()
        for row in rows:
            record = asdict(row)
            record["score"] = "" if row.score is None else _fmt(row.score)
            record["max_score"] = _fmt(row.max_score)
            writer.writerow(record)
    os.replace(tmp, path)


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


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _folder_bytes(folder: Path) -> bytes:
    items = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            items.append(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes())
    return b"\1".join(items)


class ResultStore:
    """One JSON file per graded student, so a run can stop and resume anywhere."""

    def __init__(self, folder: Path, settings_key: str):
        self.folder = folder
        self.settings_key = settings_key
        folder.mkdir(parents=True, exist_ok=True)

    def key(self, student_folder: Path) -> str:
        return _digest(self.settings_key.encode(), _folder_bytes(student_folder))

    def get(self, student_folder: Path) -> GradeRow | None:
        path = self.folder / f"{student_folder.name}.json"
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if record.get("key") != self.key(student_folder):
            return None
        return GradeRow(**record["row"])

    def put(self, student_folder: Path, row: GradeRow) -> None:
        path = self.folder / f"{student_folder.name}.json"
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps({"key": self.key(student_folder), "row": asdict(row)}))
        os.replace(tmp, path)


def _row(assignment: str, outcome: Outcome) -> GradeRow:
    return GradeRow(outcome.student_id, assignment, outcome.score, outcome.max_score,
                    outcome.status, outcome.reason)


def grade(layout: CourseLayout, assignment: str, submissions: Path, out_csv: Path,
          *, workspace: Path | None = None, cell_timeout: int = DEFAULT_CELL_TIMEOUT,
          notebook_timeout: int = DEFAULT_NOTEBOOK_TIMEOUT, feedback: bool = True,
          progress: bool = True, jobs: int = 1, force: bool = False,
          allow_unsandboxed: bool = False, log=print) -> list[GradeRow]:
    """Grade every student in ``submissions`` (a folder or a zip); write ``out_csv``.

    Feedback HTML goes to ``<out_csv's folder>/feedback/<student_id>/``. Raises
    ``CourseError`` for an unknown assignment, a missing submissions folder, or no
    sandbox without ``allow_unsandboxed``.
    """
    from .verdicts import load_cases

    layout.notebooks(assignment)  # raises CourseError for an unknown assignment
    submissions = Path(submissions)
    if not submissions.exists():
        raise CourseError(f"submissions folder {submissions} does not exist")
    isolation = probe()
    if not isolation.sandboxed and not allow_unsandboxed:
        raise CourseError(
            f"{isolation.description}. Refusing to run student code without a sandbox: "
            "install bubblewrap (e.g. apt-get install bubblewrap), or pass "
            "--allow-unsandboxed to grade code you trust"
        )
    log(f"isolation: {isolation.description}"
        + ("" if isolation.sandboxed else " (UNSANDBOXED, allowed by --allow-unsandboxed)"))
    workspace = Path(workspace) if workspace else layout.course
    work = workspace / ".cnn_course"
    release = work / "release"
    out_csv = Path(out_csv)

    api = make_api(workspace, layout.solutions, release, cell_timeout=cell_timeout,
                   sandboxed=isolation.sandboxed, notebook_timeout=notebook_timeout)
    # Refresh the gradebook from the current solutions: autograde restores the test
    # cells (hidden ones included) from it, never from the student's notebook.
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise CourseError(f"nbgrader could not prepare {assignment}: {nbgrader_error(result)}")
    spec = layout.solutions / assignment / "verdicts.py"
    cases = load_cases(spec) if spec.is_file() else None
    if cases is None:
        log(f"note: {spec} is missing: scores come from the notebook's own tests only")
    settings = Settings(assignment, workspace.resolve(), layout.solutions.resolve(),
                        release.resolve(),
                        (out_csv.parent / "feedback").resolve() if feedback else None,
                        cell_timeout, notebook_timeout, isolation.sandboxed, cases)
    try:
        folders = student_folders(submissions, work / "intake" / assignment)
    except (IntakeError, OSError, ValueError) as err:
        raise CourseError(f"cannot read {submissions}: {err}") from None
    settings_key = _digest(*(p.read_bytes() for p in sorted(
        (layout.solutions / assignment).glob("*")) if p.is_file()),
        json.dumps([cell_timeout, notebook_timeout, isolation.sandboxed, feedback]).encode())
    store = ResultStore(work / "results" / assignment, settings_key)

    rows: dict[str, GradeRow] = {}
    todo = []
    for folder in folders:
        cached = None if force else store.get(folder)
        if cached is not None:
            rows[folder.name] = cached
        else:
            todo.append(folder)
    if rows:
        log(f"{len(rows)} submission(s) unchanged since the last run: kept "
            "(--force grades them again)")

    bar = tqdm(total=len(todo), desc=f"grading {assignment}", unit="sub",
               disable=not progress, file=sys.stderr)

    def finish(folder: Path, outcome: Outcome) -> None:
        row = _row(assignment, outcome)
        rows[folder.name] = row
        store.put(folder, row)
        write_csv(sorted(rows.values(), key=lambda r: r.student_id), out_csv)
        statuses = [r.status for r in rows.values()]
        bar.set_postfix(failed=statuses.count("failed"), flagged=statuses.count("flagged"))
        bar.update(1)

    try:
        if jobs <= 1:
            for folder in todo:
                finish(folder, grade_student(settings, folder))
        else:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(grade_student, settings, f): f for f in todo}
                for future in as_completed(futures):
                    folder = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as err:  # a worker process died
                        outcome = Outcome(folder.name, None, 0.0, "failed",
                                          f"internal error: grading worker died ({err})")
                    finish(folder, outcome)
    finally:
        bar.close()
    ordered = sorted(rows.values(), key=lambda r: r.student_id)
    write_csv(ordered, out_csv)
    return ordered
