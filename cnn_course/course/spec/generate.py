"""What the spec generates: test cells, the notebook header, visible checks, examples.

- :func:`insert_tests` runs inside ``nbgrader generate_assignment`` (the
  :class:`~cnn_course.course.grading.preprocessors.InsertSpecTests` step): it adds the
  header and, after each part's last answer cell, one test cell per test. Hidden
  tests sit between nbgrader's hidden-test markers, so the release shows only their
  docstring while the gradebook keeps the whole cell.
- :func:`visible_checks` is the JSON that the student's ``check()`` runs.
- :func:`example_notebooks` builds the example submissions from the release.
"""

from __future__ import annotations

import copy
import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from cnn_course.course.testing.check import case_record
from cnn_course.course.testing.shortcuts import IMPLEMENTATIONS

from .model import SOLUTION, Assignment, SpecError, Test

GENERATED = "cnn_course_generated"  # cell metadata key of every generated cell
CHECK_SETUP_ID = "check_setup"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
DEFAULT_SUBMISSION_CPU = 300  # seconds; cnn-course grade --notebook-timeout


def _nbgrader(grade_id: str, *, grade: bool, points: float = 0, locked: bool = True) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": 3, "solution": False}
    if grade:
        meta["points"] = points
    return meta


def test_cell(test: Test) -> nbformat.NotebookNode:
    """The test cell of ``test``: its docstring, and the check (hidden when asked)."""
    if test.hidden:
        source = (f'"""Hidden: {test.doc}"""\n{HIDDEN_BEGIN}\ncheck("{test.id}")\n'
                  f"{HIDDEN_END}")
    else:
        source = f'"""{test.doc}"""\ncheck("{test.id}")'
    cell = new_code_cell(source, id=_cell_id(test.id))
    cell.metadata["nbgrader"] = _nbgrader(test.id, grade=True, points=test.points)
    cell.metadata[GENERATED] = True
    return cell


def _cell_id(name: str) -> str:
    """A stable cell id, so that a release is byte-identical when nothing changed."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"gen-{name}")[:64]


def _lecture(name: str) -> str:
    number, _, slug = name.partition("_")
    return f"{number} ({slug.replace('_', ' ')})"


def _names(items) -> str:
    items = [f"`{i}`" for i in items]
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1] if items else ""


def rules_text(spec: Assignment) -> str:
    """The header's markdown: lectures, parts and points, and how grading works."""
    lectures = [_lecture(n) for n in spec.lectures]
    lines = [
        f"# Assignment {spec.name.split('_')[0]}: {spec.title}",
        "",
        f"This assignment examines lecture{'s' if len(lectures) > 1 else ''} "
        f"{', '.join(lectures[:-1]) + (' and ' if len(lectures) > 1 else '') + lectures[-1]}.",
        "",
        "| part | what you write | points |",
        "| --- | --- | --- |",
    ]
    for i, part in enumerate(spec.parts, 1):
        by_hand = " (graded by hand)" if part.manual else ""
        lines.append(f"| {i} | {part.title}{by_hand} | {part.points:g} |")
    lines.append(f"| | total | {spec.points:g} |")
    packages = [n for n in spec.forbid if n not in IMPLEMENTATIONS]
    functions = [n for n in spec.forbid if n in IMPLEMENTATIONS]
    allowed = [a for a in spec.allow if a != "matplotlib"]
    lines += [
        "",
        "**How it is graded.**",
        "- Write your code only in the cells that say `# YOUR CODE HERE` (delete the "
        "`raise NotImplementedError()` line). Only those cells are graded: the grader "
        "rebuilds your notebook from the original and keeps just your answer cells, so "
        "code elsewhere, new cells and edits to test cells are ignored.",
        "- Each part has visible tests and hidden tests. Run `check()` in a cell at any "
        "time (or `check(\"<part>\")` for one part) to see PASS or FAIL with a hint; "
        "the hidden tests run only at grading.",
        "- The grader also runs your functions itself, in a separate process, on its "
        "own inputs: that decides your score. There, graded code can use "
        f"{_names(allowed) or 'only the standard library'} and the standard library"
        + (" (matplotlib too, for plots)" if "matplotlib" in spec.allow else "") + ".",
    ]
    if packages or functions:
        lines.append(
            "- Not allowed in graded code: " + _names(packages + functions) + ". A part "
            "that calls one of them earns no points, and the feedback names the call.")
    longest = spec.call_budget()
    longer = (f" (the calls that train a model up to {longest:g} s, as their part says)"
              if longest > spec.limits.call_cpu else "")
    lines += [
        f"- Limits: each call of one of your functions may use {spec.limits.call_cpu:g} s "
        f"of CPU time{longer}, each cell {spec.limits.cell_cpu:g} s, and the whole submission "
        f"(notebook and the grader's checks) {DEFAULT_SUBMISSION_CPU} s. These are CPU "
        "seconds, so a busy grading server does not count against you.",
        f"- Numbers are compared with a relative tolerance of {spec.rtol:g} and an "
        f"absolute one of {spec.atol:g}"
        + (f"; {spec.tolerance_note}" if spec.tolerance_note else "") + ".",
        f"- Before you submit: *Kernel → Restart and Run All*, or in a terminal "
        f"`cnn-course check {spec.name}.ipynb`. Submit the `.ipynb` file as it is.",
    ]
    return "\n".join(lines)


def header_cells(spec: Assignment) -> list[nbformat.NotebookNode]:
    text = new_markdown_cell(rules_text(spec), id=_cell_id("header"))
    setup = new_code_cell("from cnn_course.course.testing import check_for\n\n"
                          f'check = check_for("{spec.name}")', id=_cell_id(CHECK_SETUP_ID))
    setup.metadata["nbgrader"] = _nbgrader(CHECK_SETUP_ID, grade=False)
    for cell in (text, setup):
        cell.metadata[GENERATED] = True
    return [text, setup]


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def insert_tests(nb: nbformat.NotebookNode, spec: Assignment) -> nbformat.NotebookNode:
    """``nb`` (a solution notebook without test cells) with the generated cells added."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get(GENERATED)]
    written = {p.answers[0] for p in spec.parts if p.manual}
    graded = [_grade_id(c) for c in nb.cells
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")
              and _grade_id(c) not in written]
    if graded:
        raise SpecError(f"{spec.name}: the solution notebook has test cells {graded}; "
                        "tests come from the spec, delete them from the notebook")
    position = {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c)}
    after: dict[int, list] = {}
    for part in spec.parts:
        missing = [a for a in part.answers if a not in position]
        if missing:
            raise SpecError(f"{spec.name}: part {part.name} names answer cells {missing} "
                            "that the notebook does not have")
        if part.manual:  # a written answer: nbgrader's manually graded answer cell
            cell = nb.cells[position[part.answers[0]]]
            cell.metadata["nbgrader"].update(grade=True, solution=True, points=part.manual)
            continue
        last = max(position[a] for a in part.answers)
        after.setdefault(last, []).extend(test_cell(t) for t in part.tests)
    cells = []
    for i, cell in enumerate(nb.cells):
        cells.append(cell)
        cells.extend(after.get(i, []))
    nb.cells = header_cells(spec) + cells
    return nb


def visible_checks(spec: Assignment) -> dict:
    """The JSON of the student's ``check()``: visible cases only, hidden ones named."""
    tests = []
    for part in spec.parts:
        for test in part.tests:
            record = {"id": test.id, "part": part.name, "points": test.points,
                      "hidden": test.hidden, "doc": test.doc}
            if not test.hidden:
                record["cases"] = [
                    case_record(c.call, c.expect, c.label, c.cpu_seconds, c.watch)
                    for c in spec.cases(test)
                ]
            tests.append(record)
    return {"assignment": spec.name, "tests": tests, "helpers": spec.helpers,
            "forbid": list(spec.forbid),
            "limits": {"call_cpu": spec.limits.call_cpu, "cell_cpu": spec.limits.cell_cpu}}


_MARKERS = re.compile(r"\n? *### (BEGIN|END) SOLUTION *")


def solution_answers(solution: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the solution's answer code, without nbgrader's markers."""
    return {_grade_id(c): _MARKERS.sub("", c.source).strip("\n") + "\n"
            for c in solution.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def _fill(gid: str, code: str, full: dict[str, str]) -> str:
    """SOLUTION is the solution's answer; ``<grade_id>`` inside code is that answer's code."""
    if code == SOLUTION:
        return full[gid]
    for gid, source in full.items():
        code = code.replace(f"<{gid}>", source)
    return code


def example_notebooks(spec: Assignment, release: nbformat.NotebookNode,
                      solution: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """Each example of the spec as a student would hand it in (the release, filled in)."""
    full = solution_answers(solution)
    out = {}
    for example in spec.examples:
        answers = full if example.answers == SOLUTION else {
            gid: _fill(gid, code, full) for gid, code in example.answers.items()}
        nb = copy.deepcopy(release)
        for cell in nb.cells:
            gid = _grade_id(cell)
            if gid in answers:
                cell.source = answers[gid]
            elif gid in example.tests:
                cell.source = example.tests[gid]
        out[example.name] = nb
    return out
