"""Sanitise: rebuild a submission from the release, keeping only the student's answers.

Students can edit, delete, duplicate, re-order or re-type any cell and its nbgrader
metadata (grade_id, points, locked, solution). None of that matters here: the graded
notebook is the release notebook, cell for cell, where each answer cell's source is
replaced by the student's cell with the same ``grade_id``. Test cells, setup cells,
points and flags all come from the release; code outside answer cells is not graded
(the assignment says so).
"""

from __future__ import annotations

import copy

import nbformat

MAX_ANSWER_CHARS = 200_000


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def sanitise(student: nbformat.NotebookNode,
             release: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """Return the rebuilt notebook and notes about what was ignored."""
    notes: list[str] = []
    answers: dict[str, str] = {}
    for cell in student.get("cells", []):
        gid = _grade_id(cell)
        if gid is None:
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        if not isinstance(source, str):
            continue
        if gid in answers:
            if source != answers[gid]:
                notes.append(f"cell {gid} appears twice: the first copy was graded")
            continue
        answers[gid] = source

    rebuilt = copy.deepcopy(release)
    missing = []
    for cell in rebuilt.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        if not meta.get("solution"):
            continue
        gid = meta["grade_id"]
        if gid not in answers:
            missing.append(gid)
            continue
        source = answers[gid]
        if len(source) > MAX_ANSWER_CHARS:
            notes.append(f"answer {gid} is longer than {MAX_ANSWER_CHARS} characters: "
                         "the release version was graded")
            continue
        cell.source = source
    if missing:
        notes.append(f"answer cells not found (deleted or re-typed): {', '.join(missing)}")
    return rebuilt, notes
