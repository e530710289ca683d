"""``cnn-course grade``: autograde a class's submissions with nbgrader, safely.

Input: a folder ``DIR/<student>/<notebook>.ipynb`` or an LMS zip (see :mod:`.intake`).
Output: one CSV row per submission, ``student_id, gradebook_id, assignment, score,
max_score, status, reason``, and feedback HTML per student that shows neither hidden
tests nor their outputs. Status is

- ``graded``: the notebook's own tests and the grader's check agree;
- ``flagged``: they disagree, the notebook did not finish, or the answers nearly copy
  another student's or the library's code; the score is the grader's check, and the
  reason says what a human should look at;
- ``failed``: nothing could be graded (a link, invalid JSON, another assignment, a
  clash of ids, ...): the score is empty, never a silent 0.

The scores come from nbgrader's own pipeline (:mod:`.preprocessors`), so the
gradebook, ``nbgrader export`` and the formgrader agree with the CSV. Every
submission is graded in a worker of its own (:mod:`.worker`), several at once with
``jobs``; results are kept as they come, so a killed run resumes where it stopped,
and a re-run skips submissions whose result is still in the gradebook unchanged.
With ``cluster`` (a Dask scheduler) the sandboxed runs of each submission go to the
cluster's workers and everything else stays here (:mod:`.cluster`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from tqdm.auto import tqdm

from .config import DEFAULT_SUBMISSION_CPU, default_db_url
from .escape import csv_cell, printable
from .intake import Entry, IntakeError, student_entries
from .nbgrader_api import make_api, nbgrader_error
from .paths import CourseError, CourseLayout
from .sandbox import Isolation, detect
from .worker import Outcome, Settings, grade_student, warm_up

CSV_COLUMNS = ("student_id", "gradebook_id", "assignment", "score", "max_score", "status",
               "reason")


@dataclass
class GradeRow:
    """One line of the grades CSV. ``score`` is ``None`` when grading failed."""

    student_id: str  # as the submission named the student
    gradebook_id: str
    assignment: str
    score: float | None
    max_score: float
    status: str  # "graded", "flagged" or "failed"
    reason: str = ""


def write_csv(rows: list[GradeRow], path: Path) -> None:
    """Write the CSV atomically; student text cannot start a spreadsheet formula."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for row in rows:
            record = asdict(row)
            record["score"] = "" if row.score is None else _fmt(row.score)
            record["max_score"] = _fmt(row.max_score)
            record["student_id"] = csv_cell(row.student_id)
            record["reason"] = csv_cell(row.reason)
            writer.writerow(record)
    os.replace(tmp, path)


def _fmt(x: float) -> str:
    return f"{x:g}"


def format_table(rows: list[GradeRow], width: int = 70) -> str:
    """A plain-text score table; long reasons wrap at word boundaries, never cut."""
    header = ("student", "score", "status", "reason")
    lines = [(printable(r.student_id)[:40],
              f"{'-' if r.score is None else _fmt(r.score)} / {_fmt(r.max_score)}",
              r.status, printable(r.reason)) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    widths[-1] = min(widths[-1], width)
    out = []
    for cols in [header, ["-" * w for w in widths], *lines]:
        wrapped = textwrap.wrap(cols[-1], widths[-1], break_long_words=True) or [""]
        first = "  ".join(str(c).ljust(w) for c, w in zip(cols[:-1], widths))
        out.append(f"{first}  {wrapped[0]}".rstrip())
        indent = " " * (sum(widths[:-1]) + 2 * (len(widths) - 1))
        out += [f"{indent}{more}" for more in wrapped[1:]]
    return "\n".join(out)


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _folder_bytes(folder: Path | None) -> bytes:
    if folder is None or not folder.is_dir() or folder.is_symlink():
        return b""
    items = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            p = Path(top) / name
            if p.is_file() and not p.is_symlink():
                items.append(os.fsencode(p.relative_to(folder)) + b"\0" + p.read_bytes())
    return b"\1".join(items)


def settings_key(layout: CourseLayout, assignment: str, settings: Settings) -> str:
    """Everything besides the submission that makes a result: the spec, the solution,
    the grading code, the limits, the sandbox and the gradebook's address."""
    import cnn_course.course as machinery

    files = sorted((layout.solutions / assignment).glob("*"))
    code = sorted(Path(machinery.__file__).parent.glob("*/*.py"))
    return _digest(*(p.read_bytes() for p in files + code if p.is_file()),
                   json.dumps([settings.sandboxed, settings.submission_cpu,
                               settings.db_url, settings.feedback_dir is not None]).encode())


class ResultStore:
    """One JSON file per graded student, so a run can stop and resume anywhere.

    A kept result is used only when the submission and the settings are unchanged AND
    the gradebook still holds that student's score (and the feedback still exists):
    after ``make clean`` or against a new gradebook, the student is graded again.
    """

    def __init__(self, folder: Path, settings_key: str, settings: Settings):
        self.folder = folder
        self.settings_key = settings_key
        self.settings = settings
        folder.mkdir(parents=True, exist_ok=True)

    def key(self, entry: Entry) -> str:
        return _digest(self.settings_key.encode(), entry.name.encode("utf-8", "replace"),
                       (entry.error or "").encode(), _folder_bytes(entry.folder))

    def _path(self, entry: Entry) -> Path:
        return self.folder / f"{entry.student_id}.json"

    def get(self, entry: Entry) -> Outcome | None:
        from .cluster import CLUSTER_ERROR

        try:
            record = json.loads(self._path(entry).read_text())
            if record.get("key") != self.key(entry):
                return None
            outcome = Outcome(**record["outcome"])
        except (OSError, ValueError, TypeError, KeyError):
            return None
        if outcome.status == "failed" and CLUSTER_ERROR in outcome.reason:
            return None  # the cluster failed, not the submission: grade it again
        return outcome if self._still_true(outcome) else None

    def _still_true(self, outcome: Outcome) -> bool:
        if outcome.status == "failed":
            return True
        from nbgrader.api import Gradebook, MissingEntry

        try:
            with Gradebook(self.settings.db_url) as gb:
                score = gb.find_submission(self.settings.assignment,
                                           outcome.student_id).score
        except (MissingEntry, Exception):
            return False
        if abs(float(score) - (outcome.score or 0.0)) > 1e-9:
            return False
        feedback = self.settings.feedback_dir
        return feedback is None or (feedback / outcome.student_id).is_dir()

    def put(self, entry: Entry, outcome: Outcome) -> None:
        path = self._path(entry)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps({"key": self.key(entry), "outcome": asdict(outcome)}))
        os.replace(tmp, path)


def prepare(layout: CourseLayout, assignment: str, settings: Settings, work: Path) -> None:
    """Refresh the gradebook and the release from the current solutions and spec.

    Autograde restores the test cells (hidden ones included) from the gradebook, never
    from the student's notebook, so it must hold what the spec generates now. This
    costs seconds, so it is skipped when the gradebook already holds the assignment
    and nothing that shapes it (solution, spec, grading code) changed since. Graders
    that share a gradebook server do this one at a time (:mod:`.gradebook`).
    """
    from .gradebook import gradebook_lock

    with gradebook_lock(settings.db_url):
        _prepare(layout, assignment, settings, work)


def _prepare(layout: CourseLayout, assignment: str, settings: Settings, work: Path) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    from .gradebook import create_tables, prepared_key, set_prepared_key, shared

    marker = work / "prepared" / f"{assignment}.sha256"
    key = settings_key(layout, assignment, settings)
    released = settings.release / assignment
    try:
        create_tables(settings.db_url)
        with Gradebook(settings.db_url) as gb:
            gb.find_assignment(assignment)
        held = True
    except (MissingEntry, OSError, Exception):
        held = False
    try:
        known = held and marker.read_text() == key and any(released.glob("*.ipynb"))
    except OSError:
        known = False
    if known:
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    db_url, version = settings.db_url, None
    if shared(settings.db_url):  # other graders may be grading from this gradebook now
        version = settings_key(layout, assignment, _NO_SETTINGS)
        if held and prepared_key(settings.db_url, assignment) == version:
            scratch = work / "prepared" / "release-only.db"  # the release, nothing else
            scratch.unlink(missing_ok=True)
            db_url = f"sqlite:///{scratch}"
            create_tables(db_url)
    api = make_api(settings.workspace, layout.solutions, settings.release,
                   sandboxed=settings.sandboxed, submission_cpu=settings.submission_cpu,
                   db_url=db_url)
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise CourseError(f"nbgrader could not prepare {assignment}: {nbgrader_error(result)}")
    if version is not None and db_url == settings.db_url:
        set_prepared_key(settings.db_url, assignment, version)
    marker.write_text(key)


# Settings that every grader shares: settings_key of these is what shapes an
# assignment in the gradebook (its solution and spec, the grading code)
_NO_SETTINGS = Settings("", Path(), Path(), Path(), None, True, 0.0, "")


def _row(assignment: str, outcome: Outcome) -> GradeRow:
    return GradeRow(outcome.name, outcome.student_id, assignment, outcome.score,
                    outcome.max_score, outcome.status, outcome.reason)


def _failed(entry: Entry, max_score: float, why: str) -> Outcome:
    return Outcome(entry.student_id, entry.name, None, max_score, "failed", why)


def grade(layout: CourseLayout, assignment: str, submissions: Path, out_csv: Path,
          *, workspace: Path | None = None, submission_cpu: float = DEFAULT_SUBMISSION_CPU,
          feedback: bool = True, progress: bool = True, jobs: int | None = None,
          force: bool = False, allow_unsandboxed: bool = False, db_url: str | None = None,
          similarity: bool = True, cluster: str | None = None, log=print) -> list[GradeRow]:
    """Grade every submission in ``submissions`` (a folder or a zip); write ``out_csv``.

    Feedback HTML goes to ``<out_csv's folder>/feedback/<gradebook id>/``. Raises
    ``CourseError`` for an unknown assignment, a missing submissions folder, or no
    sandbox without ``allow_unsandboxed``. ``jobs``: submissions graded at once
    (default 1; with ``cluster``, the workers' threads, at most 4 per core here).
    """
    layout.notebooks(assignment)  # raises CourseError for an unknown assignment
    submissions = Path(submissions)
    if not submissions.exists():
        raise CourseError(f"submissions folder {submissions} does not exist")
    if cluster:  # student code runs on the workers: their sandbox is the one that counts
        from .cluster import check_cluster

        info = check_cluster(cluster)
        isolation = Isolation(info.sandboxed, info.description)
        jobs = jobs or max(1, min(info.threads, 4 * (os.cpu_count() or 1)))
        where = "on every worker"
    else:
        isolation = detect()
        jobs = jobs or 1
        where = ""
    if not isolation.sandboxed and not allow_unsandboxed:
        raise CourseError(
            f"{isolation.description}. Refusing to run student code without a sandbox: "
            f"install bubblewrap{' ' + where if where else ''} (e.g. apt-get install "
            "bubblewrap), or pass --allow-unsandboxed to grade code you trust"
        )
    log(f"isolation: {isolation.description}"
        + ("" if isolation.sandboxed else " (UNSANDBOXED, allowed by --allow-unsandboxed)"))
    workspace = Path(workspace).resolve() if workspace else layout.course
    work = workspace / ".cnn_course"
    release = work / "release"
    out_csv = Path(out_csv)
    db_url = db_url or default_db_url(workspace)

    settings = Settings(assignment, workspace, layout.solutions.resolve(), release.resolve(),
                        (out_csv.parent / "feedback").resolve() if feedback else None,
                        isolation.sandboxed, float(submission_cpu), db_url, cluster)
    if settings.feedback_dir == (workspace / "feedback").resolve():
        raise CourseError(
            f"--out {out_csv} would put the feedback pages in {settings.feedback_dir}, "
            "which is nbgrader's own feedback folder in the workspace: write the CSV to "
            f"another folder (e.g. {out_csv.parent / 'grades' / out_csv.name}), or pass "
            "--no-feedback")
    if cluster:
        log(f"cluster: {jobs} submission(s) at once; kernels and runners on the workers, "
            "judging, gradebook and feedback here")
    with ExitStack() as stack:
        pool = None
        if jobs > 1:  # its workers start up while the gradebook is prepared
            pool = stack.enter_context(ProcessPoolExecutor(
                max_workers=jobs, mp_context=get_context("spawn"), initializer=warm_up,
                initargs=(settings,)))
            for _ in range(jobs):
                pool.submit(int)  # spawns a worker now rather than at the first submission
        prepare(layout, assignment, settings, work)
        return _grade_all(layout, assignment, submissions, out_csv, settings, work,
                          force=force, progress=progress, similarity=similarity,
                          pool=pool, log=log)


def _grade_all(layout: CourseLayout, assignment: str, submissions: Path, out_csv: Path,
               settings: Settings, work: Path, *, force: bool, progress: bool,
               similarity: bool, pool: ProcessPoolExecutor | None, log) -> list[GradeRow]:
    try:
        entries = student_entries(submissions, work / "intake" / assignment)
    except (IntakeError, OSError, ValueError) as err:
        raise CourseError(f"cannot read {submissions}: {err}") from None
    from .worker import points_of, releases_of

    max_score = sum(points_of(nb) for nb in releases_of(settings).values())
    store = ResultStore(work / "results" / assignment,
                        settings_key(layout, assignment, settings), settings)

    outcomes: dict[str, Outcome] = {}
    todo = []
    for entry in entries:
        cached = None if force else store.get(entry)
        if cached is not None:
            outcomes[entry.student_id] = cached
        else:
            todo.append(entry)
    if outcomes:
        log(f"{len(outcomes)} submission(s) unchanged since the last run and still in the "
            "gradebook: kept (--force grades them again)")

    bar = tqdm(total=len(todo), desc=f"grading {assignment}", unit="sub",
               disable=not progress, file=sys.stderr)

    def ordered() -> list[Outcome]:
        return sorted(outcomes.values(), key=lambda o: (o.name, o.student_id))

    def finish(entry: Entry, outcome: Outcome) -> None:
        outcomes[entry.student_id] = outcome
        store.put(entry, outcome)
        write_csv([_row(assignment, o) for o in ordered()], out_csv)
        statuses = [o.status for o in outcomes.values()]
        bar.set_postfix(failed=statuses.count("failed"), flagged=statuses.count("flagged"))
        bar.update(1)

    try:
        if pool is None:
            for entry in todo:
                finish(entry, grade_student(settings, entry))
        else:
            futures = {pool.submit(grade_student, settings, e): e for e in todo}
            for future in as_completed(futures):
                entry = futures[future]
                try:
                    outcome = future.result()
                except Exception as err:  # a worker process died
                    outcome = _failed(entry, max_score,
                                      f"internal error: grading worker died ({err})")
                finish(entry, outcome)
    finally:
        bar.close()
    final = ordered()
    if similarity:
        from .copies import flag_copies

        flag_copies(layout, assignment, final, settings, out_csv.parent, log=log)
    rows = [_row(assignment, o) for o in final]
    write_csv(rows, out_csv)
    return rows
