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
