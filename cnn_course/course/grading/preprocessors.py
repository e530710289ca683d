"""The course's steps inside nbgrader's own pipeline, configured in ``nbgrader_config.py``.

nbgrader converts notebooks through lists of small preprocessors; grading here adds
a few more, so that ``cnn-course grade``, ``nbgrader autograde`` and the formgrader's
Autograde button all give the same trusted scores:

- generate_assignment: :class:`InsertSpecTests` adds the spec's header and test cells;
- autograde, sanitising pass: :class:`RebuildFromRelease` keeps only the student's
  answer cells (matched by grade_id) in a copy of the release;
- autograde, grading pass: ``SandboxedExecute`` (in :mod:`.execute`) runs the notebook
  in the sandbox for the feedback; :class:`TrustedVerdicts` runs the grader's own
  check outside the student's kernel and writes each test cell's verdict into its
  outputs, which nbgrader's ``SaveAutoGrades`` then scores (with ``cluster`` set, the
  two sandboxed runs happen on a Dask worker and everything else here, see
  :mod:`.cluster`); :class:`SaveVerdicts`
  writes each failure's kind, message and hint into the gradebook as the answer
  cell's comment, and flags the notebook when the notebook's own tests and the
  grader disagree;
- generate_feedback: :class:`ClearHiddenOutputs`, :class:`HideGradedTracebacks` and
  :class:`VerdictSummary`, which reads the verdicts back from the gradebook.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Unicode

from cnn_course.course.spec.generate import HIDDEN_BEGIN, insert_tests
from cnn_course.course.spec.load import load_spec
from cnn_course.course.testing.judge import Verdict

from .sanitise import sanitise

NOTES_PREFIX = "Grader's notes: "
VERDICT_ENAME = "GraderCheck"  # the error a failed trusted verdict shows in its cell
STARTED_CHECK = "started_check"  # resources["cnn_course"] key: BeginTrustedVerdicts' check


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


class _SpecStep(NbGraderPreprocessor):
    solutions = Unicode("", help="the folder of solutions/<assignment>/spec.py").tag(
        config=True)

    def spec(self, resources):
        return load_spec(Path(self.solutions), resources["nbgrader"]["assignment"])


class InsertSpecTests(_SpecStep):
    """generate_assignment: the spec's header and test cells, before nbgrader's steps."""

    def preprocess(self, nb, resources):
        return insert_tests(nb, self.spec(resources)), resources


class RebuildFromRelease(NbGraderPreprocessor):
    """Sanitise: the release notebook, with only the student's answer cells in it."""

    release = Unicode("", help="the release folder (release/<assignment>/<nb>.ipynb)").tag(
        config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        path = Path(self.release) / info["assignment"] / f"{info['notebook']}.ipynb"
        release = nbformat.read(path, as_version=4)
        clean, notes = sanitise(nb, release)
        clean.metadata.setdefault("cnn_course", {})["notes"] = notes
        return clean, resources


class TrustedVerdicts(_SpecStep):
    """Decide every test cell by the grader's own check, outside the student's kernel.

    Each graded cell keeps what the student's kernel printed, for the feedback, but
    its error outputs are replaced by the trusted verdict: an error naming the
    failure's kind and hint when the grader's check failed, none when it passed.
    ``SaveAutoGrades``, next in the pipeline, scores the cells from these outputs.
    """

    sandboxed = Bool(True).tag(config=True)
    submission_cpu = Float(300.0, help="CPU seconds for the notebook and the checks").tag(
        config=True)
    cluster = Unicode("", help="a Dask scheduler (tcp://host:8786): the runner runs on "
                      "one of its workers, the judging stays here; empty: all here").tag(
        config=True)
    session_seed = None  # "fresh" tests draw new inputs in every grading session

    @staticmethod
    def _session_seed() -> int:
        if TrustedVerdicts.session_seed is None:
            TrustedVerdicts.session_seed = secrets.randbits(63)
        return TrustedVerdicts.session_seed

    def preprocess(self, nb, resources):
        from .trusted import run_trusted

        spec = self.spec(resources)
        state = resources.setdefault("cnn_course", {})
        state["notes"] = list(nb.metadata.get("cnn_course", {}).get("notes", []))
        started = state.pop(STARTED_CHECK, None)
        if started is not None:  # BeginTrustedVerdicts started it before the notebook ran
            result = started.result(spec)
        else:
            used = state.get("kernel_cpu") or 0.0
            budget = max(self.submission_cpu - used, 0.0)
            executor = None
            if self.cluster:  # only the runner's inputs travel (see trusted.runner_payload)
                from .cluster import sandbox_for

                executor = sandbox_for(self.cluster).runner(
                    resources["nbgrader"].get("student"))
            result = run_trusted(spec, nb, sandboxed=self.sandboxed, total_cpu=budget,
                                 session_seed=self._session_seed(), executor=executor)
        disagree = []
        spec_tests = {t.id: t for t in spec.tests}  # hidden tests run only here
        for cell in nb.cells:
            meta = _meta(cell)
            if cell.cell_type != "code" or not meta.get("grade"):
                continue
            verdict = result.tests.get(meta.get("grade_id"))
            if verdict is None:  # not in the spec: the notebook's own result stands
                continue
            in_kernel_ok = not any(o.get("output_type") == "error" for o in cell.outputs)
            # what the kernel printed stays; errors, stderr and results (a bare number
            # would be read as partial credit) give way to the verdict
            kept = [o for o in cell.outputs if o.get("output_type") in ("stream",
                    "display_data") and o.get("name") != "stderr"]
            if verdict.ok:
                cell.outputs = kept
            else:
                kind, message = verdict.failure()
                cell.outputs = kept + [NotebookNode(
                    output_type="error", ename=VERDICT_ENAME, evalue=f"[{kind}] {message}",
                    traceback=[f"[{kind}] {message}"])]
            hidden = spec_tests.get(verdict.id) is not None and spec_tests[verdict.id].hidden
            if in_kernel_ok != verdict.ok and not hidden and not state.get("notebook_error"):
                disagree.append(f"{verdict.id} (notebook: "
                                f"{'pass' if in_kernel_ok else 'fail'}, grader: "
                                f"{'pass' if verdict.ok else 'fail'})")
        state["trusted"] = result
        state["disagree"] = disagree
        return nb, resources


class BeginTrustedVerdicts(TrustedVerdicts):
    """Before ``SandboxedExecute``: start the grader's check, so that it runs while the
    notebook does; :class:`TrustedVerdicts`, after it, waits for it and judges.

    Each runs in its own sandbox, as before; only the waiting overlaps (README, grading
    speed). The two share the submission's CPU budget: the runner may use what the
    kernel has not (:func:`.trusted.start_trusted`), and the notebook stops once the
    two together have spent it (``SandboxedExecute``). It reads ``TrustedVerdicts``'
    settings. With ``cluster`` set it does nothing: the worker runs the check after
    the notebook, with what the notebook left.
    """

    def preprocess(self, nb, resources):
        from .trusted import start_trusted

        if self.cluster:
            return nb, resources
        state = resources.setdefault("cnn_course", {})
        state[STARTED_CHECK] = start_trusted(
            self.spec(resources), nb, sandboxed=self.sandboxed,
            total_cpu=self.submission_cpu, session_seed=self._session_seed(),
            spent_elsewhere=lambda: state.get("kernel_cpu") or 0.0)
        return nb, resources


class SaveVerdicts(_SpecStep):
    """After ``SaveAutoGrades``: verdicts as the answer cells' comments; flag disagreement."""

    def preprocess(self, nb, resources):
        state = resources.get("cnn_course", {})
        result = state.get("trusted")
        if result is None:
            return nb, resources
        spec = self.spec(resources)
        info = resources["nbgrader"]
        comments = {}
        for part in spec.parts:
            lines = []
            for test in part.tests:
                verdict = result.tests.get(test.id)
                if verdict is not None and not verdict.ok:
                    kind, message = verdict.failure()
                    lines.append(f"{test.id}: [{kind}] {message}")
            comments[part.answers[0]] = "\n".join(lines)
        notes = list(state.get("notes", []))
        if state.get("notebook_error"):
            notes.insert(0, f"the notebook did not finish ({state['notebook_error']}); "
                            "the score is the grader's check")
        if state.get("disagree"):
            notes.insert(0, "the notebook's tests and the grader's check disagree on "
                         + ", ".join(state["disagree"][:4]) + "; the score is the grader's")
        notes += [f"cell {c.id} {c.status}: {c.message}" for c in result.cells.values()
                  if c.status in ("timeout", "crashed")]
        first = next((_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("solution")),
                     None)
        if notes and first:
            text = NOTES_PREFIX + "; ".join(notes)
            comments[first] = "\n".join(filter(None, [text, comments.get(first, "")]))
        with Gradebook(info["db_url"]) as gb:
            for grade_id, text in comments.items():
                try:
                    comment = gb.find_comment(grade_id, info["notebook"], info["assignment"],
                                              info["student"])
                except Exception:  # an answer cell the release does not have
                    continue
                comment.auto_comment = text or None
            notebook = gb.find_submission_notebook(info["notebook"], info["assignment"],
                                                   info["student"])
            notebook.flagged = bool(state.get("disagree") or state.get("notebook_error"))
            gb.db.commit()
        return nb, resources


# --- feedback ------------------------------------------------------------------------

class ClearHiddenOutputs(NbGraderPreprocessor):
    """Feedback: a hidden test cell shows nothing it computed, only its verdict."""

    def preprocess_cell(self, cell, resources, cell_index):
        meta = _meta(cell)
        if cell.cell_type == "code" and meta.get("grade") and HIDDEN_BEGIN in cell.source:
            cell.outputs = [o for o in cell.outputs if o.get("output_type") == "error"
                            and o.get("ename") == VERDICT_ENAME]
        return cell, resources


class EscapeComments(NbGraderPreprocessor):
    """Feedback: the gradebook's comments hold student text (error messages); nbgrader's
    template renders comments as markdown, so they are HTML-escaped first."""

    def preprocess_cell(self, cell, resources, cell_index):
        meta = _meta(cell)
        if meta.get("comment"):
            meta["comment"] = _escape_md(meta["comment"]).replace("&#124;", "|")
        return cell, resources


class HideGradedTracebacks(NbGraderPreprocessor):
    """Feedback: each graded cell's traceback becomes one line: kind and message."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and _meta(cell).get("grade"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"
                                        if output.ename != VERDICT_ENAME else output.evalue]
        return cell, resources


def _escape_md(text: str) -> str:
    """Student text inside the summary's markdown table: no HTML, no table breaks."""
    import html

    return html.escape(text, quote=True).replace("|", "&#124;").replace("\n", " ")


class VerdictSummary(NbGraderPreprocessor):
    """Feedback: open with the score and every failed test's verdict, from the gradebook.

    ``GetGrades`` (earlier in the list) copied each answer cell's comment and each
    test cell's score from the gradebook into the cells' metadata.
    """

    def preprocess(self, nb, resources):
        from nbformat.v4 import new_markdown_cell

        info = resources.get("nbgrader", {})
        rows, notes = [], []
        import html

        for cell in nb.cells:
            comment = html.unescape(_meta(cell).get("comment") or "")
            for line in comment.splitlines():
                if line.startswith(NOTES_PREFIX):
                    notes.append(line.removeprefix(NOTES_PREFIX))
                elif ": " in line:
                    test, text = line.split(": ", 1)
                    rows.append((test, text))
        lines = [
            "## The grader's check", "",
            f"Your score, **{info.get('score', 0):g} of {info.get('max_score', 0):g}**, "
            "comes from the grader's own check of your functions, run outside your "
            "notebook on the grader's inputs. Below, each test cell shows its verdict.", "",
        ]
        if rows:
            lines += ["| test | what went wrong |", "| --- | --- |"]
            lines += [f"| `{_escape_md(t)}` | {_escape_md(x)} |" for t, x in rows]
        else:
            lines.append("Every test passed.")
        if notes:
            lines += ["", "**Notes:** " + _escape_md("; ".join(notes))]
        nb.cells.insert(0, new_markdown_cell("\n".join(lines)))
        return nb, resources


__all__ = [
    "ClearHiddenOutputs", "EscapeComments", "HideGradedTracebacks", "InsertSpecTests", "RebuildFromRelease",
    "SaveVerdicts", "TrustedVerdicts", "VerdictSummary", "Verdict",
]
