"""Grade one student: intake, sanitise, in-kernel autograde, trusted verdict, feedback.

Runs in a worker process of ``cnn-course grade`` (several at once with ``--jobs``).
The in-kernel run (nbgrader autograde, kernel in the sandbox) gives the student the
usual test output and feedback; the trusted verdict (:mod:`.verdicts`) decides the
score, and a disagreement between the two flags the row for the instructor.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .feedback import VERDICTS_FILE, failure_kind
from .intake import read_submission
from .nbgrader_api import make_api, nbgrader_error
from .sanitise import sanitise
from .verdicts import Case, CaseResult, run_verdicts


@dataclass
class Settings:
    """What every worker needs to know; plain data, so it pickles to subprocesses."""

    assignment: str
    workspace: Path
    solutions: Path
    release: Path  # the release folder nbgrader generated for this run
    feedback_dir: Path | None
    cell_timeout: int
    notebook_timeout: int
    sandboxed: bool
    cases: list[Case] | None = None


@dataclass
class Outcome:
    """One CSV row, plus detail for the feedback."""

    student_id: str
    score: float | None
    max_score: float
    status: str  # graded, failed or flagged
    reason: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class InKernel:
    """What the autograder saw inside the student's (sandboxed) kernel."""

    ok: bool
    error: str = ""
    passed: dict[str, bool] = field(default_factory=dict)  # grade_id -> passed
    n_tests: int = 0
    timeouts: list[str] = field(default_factory=list)
    answer_errors: list[str] = field(default_factory=list)


_API = {}


def _api(s: Settings):
    """One nbgrader API per worker process (building it costs about a second)."""
    key = (str(s.workspace), s.cell_timeout, s.sandboxed, s.notebook_timeout)
    if key not in _API:
        _API[key] = make_api(s.workspace, s.solutions, s.release, cell_timeout=s.cell_timeout,
                             sandboxed=s.sandboxed, notebook_timeout=s.notebook_timeout)
    return _API[key]


def _points(release: nbformat.NotebookNode) -> dict[str, float]:
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
            for c in release.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")}


def _read_in_kernel(autograded: Path) -> InKernel:
    result = InKernel(ok=True)
    for path in sorted(autograded.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta:
                continue
            gid = meta.get("grade_id", "?")
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            kind = failure_kind(errors[0].ename, errors[0].evalue) if errors else ""
            if kind == "timeout":
                result.timeouts.append(gid)
            if meta.get("grade"):
                result.n_tests += 1
                result.passed[gid] = not errors
            elif errors and meta.get("solution") and kind != "timeout":
                result.answer_errors.append(f"{gid}: {errors[0].ename}: {errors[0].evalue}"[:120])
    return result


def _set_gradebook_scores(s: Settings, student: str, notebook: str,
                          scores: dict[str, float]) -> None:
    """Write the trusted scores into nbgrader's gradebook (export, formgrader, feedback)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{s.workspace / 'gradebook.db'}?timeout=120") as gb:
        # present when autograde succeeded; created when the notebook did not finish
        gb.update_or_create_student(student)
        gb.update_or_create_submission(s.assignment, student)
        for gid, score in scores.items():
            grade = gb.find_grade(gid, notebook.removesuffix(".ipynb"), s.assignment, student)
            grade.auto_score = score
        gb.db.commit()


def _describe(results: list[CaseResult]) -> tuple[str, str]:
    bad = [r for r in results if not r.ok]
    return bad[0].kind, bad[0].detail


def grade_student(s: Settings, folder: Path) -> Outcome:
    """Grade ``folder`` (one student's files). Never raises: errors become rows."""
    sid = folder.name
    release_dir = s.release / s.assignment
    releases = {p.name: nbformat.read(p, as_version=4) for p in sorted(release_dir.glob("*.ipynb"))}
    max_score = sum(sum(_points(nb).values()) for nb in releases.values())
    try:
        return _grade(s, folder, releases, max_score)
    except Exception as err:  # never let one student stop the batch
        first = (str(err).strip().splitlines() or [""])[0][:200]
        return Outcome(sid, None, max_score, "failed",
                       f"internal error: {type(err).__name__}: {first}")


def _grade(s: Settings, folder: Path, releases: dict, max_score: float) -> Outcome:
    sid = folder.name
    sub = read_submission(folder, releases, s.assignment)
    if sub.error:
        return Outcome(sid, None, max_score, "failed", sub.error)
    notes = list(sub.notes)

    # 1. Sanitise: the release, with only the student's answer cells in it.
    clean = {}
    for name, nb in sub.notebooks.items():
        clean[name], more = sanitise(nb, releases[name])
        notes += more
    for part in ("submitted", "autograded", "feedback"):
        shutil.rmtree(s.workspace / part / sid / s.assignment, ignore_errors=True)
    target = s.workspace / "submitted" / sid / s.assignment
    target.mkdir(parents=True)
    for name, nb in clean.items():
        nbformat.write(nb, target / name)

    # 2. In-kernel: nbgrader autograde, the kernel in the sandbox.
    result = _api(s).autograde(s.assignment, sid, force=True, create=True)
    autograded = s.workspace / "autograded" / sid / s.assignment
    if result["success"]:
        kernel = _read_in_kernel(autograded)
    else:
        kernel = InKernel(ok=False, error=nbgrader_error(result))

    # 3. Trusted verdict, outside the student's process.
    score_cells: dict[str, dict[str, float]] = {}
    failed: dict[str, str] = {}
    disagree: list[str] = []
    for name, nb in clean.items():
        points = _points(releases[name])
        verdicts = (run_verdicts(nb, s.cases, sandboxed=s.sandboxed,
                                 cell_timeout=s.cell_timeout) if s.cases else {})
        scores = {}
        for gid, pts in points.items():
            if gid in verdicts:
                ok = all(r.ok for r in verdicts[gid])
                if not ok:
                    kind, detail = _describe(verdicts[gid])
                    failed[gid] = f"{kind}: {detail}"
            else:  # no trusted check for this cell: the in-kernel result stands
                ok = kernel.passed.get(gid, False)
                if not ok:
                    failed[gid] = "failed in the notebook"
            scores[gid] = pts if ok else 0.0
            if kernel.ok and kernel.passed.get(gid) != ok:
                disagree.append(f"{gid} (notebook: {'pass' if kernel.passed.get(gid) else 'fail'}, "
                                f"grader: {'pass' if ok else 'fail'})")
        score_cells[name] = scores
        _set_gradebook_scores(s, sid, name, scores)
    score = sum(sum(v.values()) for v in score_cells.values())

    # 4. Status and reason.
    reason = []
    status = "graded"
    if not kernel.ok:
        status = "flagged"
        reason.append(f"the notebook did not finish ({kernel.error}); score from the grader's check")
    elif disagree:
        status = "flagged"
        reason.append("notebook and grader disagree on " + ", ".join(disagree[:4])
                      + "; score from the grader's check")
    if kernel.timeouts:
        reason.append(f"timed out after {s.cell_timeout} s in {', '.join(kernel.timeouts)}")
    reason += [f"error in {e}" for e in kernel.answer_errors[:2]]
    if failed:
        kinds = Counter(text.split(":")[0] for text in failed.values())
        counts = ", ".join(f"{k}: {n}" for k, n in kinds.most_common())
        n_tests = sum(len(_points(nb)) for nb in releases.values())
        reason.append(f"{len(failed)} of {n_tests} tests failed ({counts})")
    reason += notes
    outcome = Outcome(sid, score, max_score, status, "; ".join(reason), notes)

    # 5. Feedback, from the in-kernel notebook and the trusted scores.
    if s.feedback_dir is not None and autograded.is_dir():
        summary = {"score": score, "max_score": max_score,
                   "failed": dict(failed)}
        (autograded / VERDICTS_FILE).write_text(json.dumps(summary))
        fb = _api(s).generate_feedback(s.assignment, sid, force=True)
        source = s.workspace / "feedback" / sid / s.assignment
        if fb["success"] and source.is_dir():
            dest = s.feedback_dir / sid
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns(VERDICTS_FILE))
        else:
            outcome.reason = "; ".join(filter(None, [outcome.reason,
                                                     "no feedback: " + nbgrader_error(fb)]))
    return outcome
