"""Every assignment, generically, against its one spec (``solutions/<name>/spec.py``).

Adding an assignment means writing its solution notebook and its spec; these tests
then check, for each assignment, that:

- the committed release and visible checks are what the spec generates, and leak no
  solution or hidden test;
- every graded cell has trusted cases and every test of the spec has a cell;
- hidden cases never reuse an input that students see;
- the solution (full marks in the kernel and in the trusted check) and the blank
  release (0) are among the examples;
- every forbidden numpy function has an example submission that uses it;
- and that exactly one test file grades its examples: every example submission earns
  its declared score, status and reason through ``cnn-course grade`` (nbgrader's
  pipeline, sandboxed, trusted), and plain ``nbgrader autograde`` agrees. That file is
  the assignment's own ``test_assignment_<NN>.py`` (01's: ``test_grading.py``, with
  the other tests that read its graded examples), or ``test_examples.py`` for an
  assignment that has none yet.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re

import nbformat
import numpy as np
import pytest

from assignment_helpers import ASSIGNMENTS
from conftest import ROOT
from cnn_course.course.grading.release import checks_json, release
from cnn_course.course.spec import SOLUTION, load_spec
from cnn_course.course.spec.generate import insert_tests
from cnn_course.course.testing.codec import decode
from cnn_course.course.testing.shortcuts import IMPLEMENTATIONS



def _notebook(layout, name: str, folder) -> nbformat.NotebookNode:
    (nb,) = layout.notebooks(name)
    return nbformat.read(folder / name / nb, as_version=4)


def _solution(layout, name):
    return insert_tests(_notebook(layout, name, layout.solutions),
                        load_spec(layout.solutions, name))


@pytest.fixture(scope="module")
def fresh_release(layout, tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    release(layout, ASSIGNMENTS, out=out, checks_dir=out / "checks")
    return out


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_and_visible_checks_are_in_sync(layout, fresh_release, name):
    fresh = _notebook(layout, name, fresh_release).cells
    committed = _notebook(layout, name, layout.assignments).cells
    assert [(c.source, c.metadata) for c in fresh] == \
        [(c.source, c.metadata) for c in committed], \
        f"assignments/{name} is out of date: run `cnn-course release`"
    shipped = ROOT / "cnn_course" / "course" / "checks" / f"{name}.json"
    stale = _differences(json.loads(shipped.read_text()),
                         json.loads(checks_json(layout, name)))
    assert not stale, f"{shipped} is out of date at {stale[:5]}: run `cnn-course release`"


def _differences(shipped, fresh, where="") -> list[str]:
    """Where two visible-check files differ. Float references may differ in their last
    bits between BLAS builds (torch's float64 reductions), more in central differences,
    which divide them by a small step: floats compare to 1e-7 relative."""
    if isinstance(shipped, dict) and "__ndarray__" in shipped and isinstance(fresh, dict):
        a, b = decode(shipped), decode(fresh)
        same = (a.dtype == b.dtype and a.shape == b.shape
                and (np.array_equal(a, b) if a.dtype.kind not in "fc"
                     else np.allclose(a, b, rtol=1e-7, atol=1e-10, equal_nan=True)))
        return [] if same else [where]
    if isinstance(shipped, dict) and isinstance(fresh, dict):
        if shipped.keys() != fresh.keys():
            return [f"{where}: keys {sorted(shipped.keys() ^ fresh.keys())}"]
        return [d for k in shipped for d in _differences(shipped[k], fresh[k], f"{where}/{k}")]
    if isinstance(shipped, list) and isinstance(fresh, list) and len(shipped) == len(fresh):
        return [d for i, (a, b) in enumerate(zip(shipped, fresh))
                for d in _differences(a, b, f"{where}[{i}]")]
    if isinstance(shipped, float) and isinstance(fresh, float):
        return [] if np.isclose(shipped, fresh, rtol=1e-7, atol=1e-10) else [where]
    return [] if shipped == fresh else [where]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_leaks_no_solution_or_hidden_test(layout, fresh_release, name):
    released = "\n".join(c.source for c in _notebook(layout, name, fresh_release).cells)
    assert "BEGIN SOLUTION" not in released and "HIDDEN TESTS" not in released
    block = re.compile(r"### BEGIN SOLUTION\n(.*?)### END", re.S)
    secret = {ln.strip() for c in _notebook(layout, name, layout.solutions).cells
              for s in block.findall(c.source) for ln in s.splitlines() if len(ln.strip()) > 25}
    assert secret, "the solution should have solution code"
    assert not [ln for ln in secret if ln in released]
    visible = json.loads((ROOT / "cnn_course" / "course" / "checks" / f"{name}.json")
                         .read_text())
    assert all("cases" not in t for t in visible["tests"] if t["hidden"])


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_graded_cell_has_trusted_cases(layout, name):
    spec = load_spec(layout.solutions, name)
    written = {p.answers[0] for p in spec.parts if p.manual}  # graded by hand
    cells = [c.metadata["nbgrader"]["grade_id"] for c in _solution(layout, name).cells
             if c.metadata.get("nbgrader", {}).get("grade")
             and c.metadata["nbgrader"]["grade_id"] not in written]
    assert cells == [t.id for t in spec.tests]
    for test in spec.tests:
        assert spec.cases(test), test.id
    answers = {c.metadata["nbgrader"]["grade_id"] for c in _solution(layout, name).cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    assert {a for p in spec.parts for a in p.answers} == answers


def _arrays(value):
    if isinstance(value, np.ndarray) and value.size > 4:
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _arrays(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _arrays(v)


def _digests(cases) -> set[str]:
    return {hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
            for c in cases for a in _arrays(c.call)}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_hidden_cases_never_reuse_an_input_students_see(layout, name):
    from skimage import data

    spec = load_spec(layout.solutions, name)
    visible = _digests([c for t in spec.tests if not t.hidden for c in spec.cases(t)])
    photos = set()
    for photo in ("camera", "astronaut", "coins", "coffee", "chelsea", "moon"):
        image = getattr(data, photo)()
        for step in (1, 2, 4):
            for scaled in (image[::step, ::step], image[::step, ::step] / 255):
                photos.add(hashlib.sha256(np.ascontiguousarray(
                    scaled.astype(float)).tobytes()).hexdigest())
    hidden = _digests([c for t in spec.tests if t.hidden for c in spec.cases(t)])
    assert not hidden & visible and not hidden & photos


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_forbidden_function_has_an_example_that_uses_it(layout, name):
    spec = load_spec(layout.solutions, name)
    for forbidden in (f for f in spec.forbid if f in IMPLEMENTATIONS):
        assert any(forbidden in e.reason for e in spec.examples), forbidden


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_examples_hold_the_solution_for_full_marks_and_the_blank_release_for_0(
        layout, name):
    """The solution earning full marks (in the kernel and in the trusted check: status
    graded) and the blank release earning 0 are examples of every spec, so that
    ``test_each_example_earns_its_declared_score`` grades them through nbgrader."""
    spec = load_spec(layout.solutions, name)
    examples = {e.name: e for e in spec.examples}
    autograded = spec.points - sum(p.manual for p in spec.parts)
    full, blank = examples["full_solution"], examples["blank"]
    assert (full.answers, full.tests, full.score, full.status) == (SOLUTION, {}, autograded,
                                                                  "graded")
    assert (blank.answers, blank.tests, blank.score, blank.status) == ({}, {}, 0, "graded")


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_exactly_one_test_file_grades_the_examples(name):
    """The tests made by ``assignment_helpers.example_tests(name)`` are bound in one
    test file: none would leave the examples ungraded, two would grade them twice.
    (The test modules are imported as pytest imports them: a full run has them all.)"""
    files = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        module = importlib.import_module(path.stem)
        if any(getattr(value, "assignment", None) == name for value in vars(module).values()
               if callable(value)):
            files.append(path.name)
    assert len(files) == 1, (
        f"{name}'s examples are graded by {files or 'no test file'}: bind "
        f"example_tests({name!r}) in tests/test_assignment_{name[:2]}.py, once")
