"""The assignment spec: every check, hint, point and rule of an assignment, written once.

An instructor writes ``solutions/<assignment>/<assignment>.ipynb`` (text and answer
cells with their solutions) and ``solutions/<assignment>/spec.py``, which defines
``SPEC = Assignment(...)``. Everything else is generated from the two:

- the notebook's test cells (``check("<test id>")``, hidden ones inside nbgrader's
  hidden-test markers) and its header with parts, points, lectures and rules;
- the visible checks that the student's ``check()`` runs (shipped with the library);
- the trusted verdicts, computed outside the student's process from every case;
- the demo's example submissions and the scores they must earn.

A *case* is one call of student code and the reference outcome: :func:`call` calls a
student function, :func:`run` runs grader-written code with the student's names in
scope (modules, training, structure), and :class:`Metric` scores predictions against
labels that only the grader holds.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@contextmanager
def _one_torch_thread():
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class SpecError(ValueError):
    """A spec that cannot be right (duplicate ids, a test without cases, ...)."""


@dataclass(frozen=True)
class Metric:
    """Score predictions against ``labels`` (never sent to the student's code)."""

    name: str  # "accuracy" or "mean_iou"
    labels: Any
    at_least: float
    num_classes: int | None = None

    def expectation(self) -> dict:
        metric = {"name": self.name, "labels": np.asarray(self.labels),
                  "at_least": float(self.at_least)}
        if self.num_classes is not None:
            metric["num_classes"] = int(self.num_classes)
        return {"metric": metric}


@dataclass
class Case:
    """One call of student code (``call``) and what the grader expects (``expect``)."""

    call: dict  # {"func", "args", "kwargs"} or {"code", "inputs"}; values not encoded
    expect: dict
    label: str = ""
    cpu_seconds: float | None = None  # this call's CPU budget (default: the spec's)
    key: str | None = None  # cases with one key run once and share the outcome
    # The in-notebook check watches this call for shortcuts with a profiler, which
    # slows Python code 2-5x: a call that trains for a CPU budget turns it off (the
    # grader's sandbox forbids the shortcuts anyway).
    watch: bool = True


_EXPECT_KEYS = ("rtol", "atol", "shape_only", "index", "exact_type", "shape_hints", "hint")


def _expectation(expect: Any, raises: str | None, metric: Metric | None, options: dict
                 ) -> dict:
    if sum(x is not None for x in (expect, raises, metric)) != 1:
        raise SpecError("a case needs exactly one of expect=, raises= or metric=")
    if isinstance(options.get("shape_hints"), dict):
        options = {**options, "shape_hints": list(options["shape_hints"].items())}
    out = {k: v for k, v in options.items() if v is not None and k in _EXPECT_KEYS}
    if raises is not None:
        out["raises"] = raises
    elif metric is not None:
        out.update(metric.expectation())
    else:
        out["value"] = expect
    if "shape_hints" in out:
        out["shape_hints"] = [[list(s), h] for s, h in out["shape_hints"]]
    return out


def call(func: str, *args: Any, kwargs: dict | None = None, expect: Any = None,
         raises: str | None = None, label: str = "", cpu_seconds: float | None = None,
         **options: Any) -> Case:
    """Call the student's ``func(*args, **kwargs)``; compare with ``expect``.

    ``options``: ``rtol``, ``atol``, ``shape_only``, ``index``, ``exact_type``,
    ``shape_hints`` (``{shape: hint}``) and ``hint``.
    """
    return Case({"func": func, "args": list(args), "kwargs": dict(kwargs or {})},
                _expectation(expect, raises, None, options), label, cpu_seconds)


def run(code: str, inputs: dict | None = None, *, expect: Any = None,
        raises: str | None = None, metric: Metric | None = None, label: str = "",
        cpu_seconds: float | None = None, key: str | None = None, watch: bool = True,
        **options: Any) -> Case:
    """Run grader-written ``code`` with the student's names and ``inputs`` in scope.

    The code sets ``result``; e.g. build the student's module, load the grader's
    weights by the parameter names the assignment fixes, and return its outputs.
    """
    return Case({"code": code, "inputs": dict(inputs or {})},
                _expectation(expect, raises, metric, options), label, cpu_seconds, key,
                watch)


@dataclass
class Test:
    """One graded test cell: its points, what it checks, and its cases."""

    id: str
    points: float
    doc: str  # one line: what the cell checks (the cell's docstring)
    cases: Callable[[np.random.Generator], Iterable[Case]]
    hidden: bool = False
    fresh: bool = False  # draw its random inputs anew in every grading session


@dataclass
class Part:
    """One part of the assignment: the answer cells it examines and their tests."""

    name: str
    title: str
    answers: tuple[str, ...]  # grade_ids of the answer cells, in notebook order
    tests: list[Test] = field(default_factory=list)
    manual: float = 0  # points of a written answer (its one answer cell) graded by hand

    @property
    def points(self) -> float:
        return sum(t.points for t in self.tests) + self.manual


SOLUTION = "<the solution>"  # Example answers: take the solution notebook's code


@dataclass
class Example:
    """An example submission for the demo and the tests, with the score it earns."""

    name: str
    description: str
    score: float
    answers: dict[str, str] | str = SOLUTION  # answer grade_id -> code, or SOLUTION
    tests: dict[str, str] = field(default_factory=dict)  # tampered test cells
    status: str = "graded"
    reason: str = ""  # a phrase the CSV reason must contain


@dataclass(frozen=True)
class Limits:
    """CPU seconds: per call of a student function, per notebook cell."""

    call_cpu: float = 10.0
    cell_cpu: float = 30.0


@dataclass
class Assignment:
    name: str
    title: str
    lectures: tuple[str, ...]
    parts: list[Part]
    allow: tuple[str, ...] = ("numpy", "matplotlib")
    forbid: tuple[str, ...] = ()
    rtol: float = 1e-5  # default tolerances of value cases, stated in the header
    atol: float = 1e-5
    tolerance_note: str = ""  # e.g. "float32 results are fine"
    limits: Limits = Limits()
    helpers: str = ""  # code run after the answer cells, visible to students
    examples: list[Example] = field(default_factory=list)
    seed: int = 0

    def __post_init__(self) -> None:
        ids = [t.id for p in self.parts for t in p.tests]
        if len(set(ids)) != len(ids):
            raise SpecError(f"{self.name}: duplicate test ids {sorted(ids)}")
        answers = [a for p in self.parts for a in p.answers]
        if len(set(answers)) != len(answers):
            raise SpecError(f"{self.name}: an answer cell belongs to two parts")
        for part in self.parts:
            if part.manual and (len(part.answers) != 1 or part.tests):
                raise SpecError(f"{self.name}: the written part {part.name} has one answer "
                                "cell and no tests")
            if not part.manual and not part.tests:
                raise SpecError(f"{self.name}: part {part.name} has no tests")
        if len({e.name for e in self.examples}) != len(self.examples):
            raise SpecError(f"{self.name}: duplicate example names")

    @property
    def tests(self) -> list[Test]:
        return [t for p in self.parts for t in p.tests]

    @property
    def points(self) -> float:
        return sum(p.points for p in self.parts)

    def call_budget(self) -> float:
        """The largest CPU budget of any single call (training calls may have more)."""
        return max([self.limits.call_cpu] + [c.cpu_seconds or 0 for t in self.tests
                                              for c in self.cases(t)])

    def part_of(self, test_id: str) -> Part:
        for part in self.parts:
            if any(t.id == test_id for t in part.tests):
                return part
        raise KeyError(test_id)

    def rng_for(self, test: Test, session_seed: int | None = None) -> np.random.Generator:
        """Each test's inputs from its own stream: editing one test moves no other."""
        seed = self.seed if not test.fresh or session_seed is None else session_seed
        digest = hashlib.sha256(f"{seed}:{test.id}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "big"))

    def cases(self, test: Test, session_seed: int | None = None) -> list[Case]:
        """The test's cases, with the spec's default tolerances filled in.

        References are computed with one torch thread, so that a float64 reduction
        gives the same last bits in ``cnn-course release`` and in the tests.
        """
        with _one_torch_thread():
            cases = list(test.cases(self.rng_for(test, session_seed)))
        if not cases:
            raise SpecError(f"{self.name}: test {test.id} has no cases")
        for case in cases:
            if "value" in case.expect:
                case.expect.setdefault("rtol", self.rtol)
                case.expect.setdefault("atol", self.atol)
        return cases


