"""Feedback that explains a failure without showing hidden test code.

nbgrader's feedback shows each graded cell's full traceback, and a traceback of a
hidden test quotes the hidden lines. :class:`HideGradedTracebacks` keeps only the
error's type and message (the test's hint), and :func:`failure_kind` names the kind
of failure for the CSV and the feedback.
"""

from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor

_KINDS = (
    ("timeout", re.compile(r"CellTimeoutError|KeyboardInterrupt|timed out", re.I)),
    ("shortcut used", re.compile(r"shortcut used", re.I)),
    ("not written yet", re.compile(r"NotImplementedError")),
    ("not defined", re.compile(r"NameError")),
    ("shape", re.compile(r"of shape|shape \(", re.I)),
    ("value", re.compile(r"is wrong at|expected .* got", re.I)),
)


def failure_kind(ename: str, evalue: str) -> str:
    """A short label for a failed test: timeout, shape, value, shortcut, error..."""
    text = f"{ename}: {evalue}"
    for kind, pattern in _KINDS:
        if pattern.search(text):
            return kind
    return "error" if ename != "AssertionError" else "assertion"


class HideGradedTracebacks(NbGraderPreprocessor):
    """Replace each graded cell's traceback by one line: kind, type and message."""

    def preprocess_cell(self, cell, resources, cell_index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    kind = failure_kind(output.ename, output.evalue)
                    output.traceback = [f"[{kind}] {output.ename}: {output.evalue}"]
        return cell, resources


VERDICTS_FILE = "cnn_course_verdicts.json"


class AddVerdictSummary(NbGraderPreprocessor):
    """Open the feedback with the grader's own check: one line per failed test.

    Reads ``cnn_course_verdicts.json``, written next to the autograded notebook by the
    grader: the kind of each failure (shape, dtype, value, timeout, shortcut used, ...)
    and a short, hidden-test-free explanation.
    """

    def preprocess(self, nb, resources):
        import json
        from pathlib import Path

        from nbformat.v4 import new_markdown_cell

        path = Path(resources.get("metadata", {}).get("path", ".")) / VERDICTS_FILE
        if not path.is_file():
            return nb, resources
        summary = json.loads(path.read_text())
        lines = [
            "## The grader's check",
            "",
            f"Your score, **{summary['score']:g} of {summary['max_score']:g}**, comes from "
            "the grader's own check of your functions, run outside your notebook on the "
            "grader's inputs. The test cells below show the same tests as you saw them.",
            "",
        ]
        failed = summary.get("failed", {})
        if failed:
            lines += ["| test | what went wrong |", "| --- | --- |"]
            lines += [f"| `{gid}` | {text} |" for gid, text in failed.items()]
        else:
            lines.append("Every test passed.")
        nb.cells.insert(0, new_markdown_cell("\n".join(lines)))
        return nb, resources
