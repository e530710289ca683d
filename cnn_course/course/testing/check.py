"""``check()``: the assignment's visible tests, run in the student's own notebook.

Each assignment's first code cell does ``check = check_for("01_convolution")``. Then

- ``check("correlate2d_visible")`` (what a test cell runs) prints ``PASS`` or
  ``FAIL`` with the verdict and its hint, and raises ``AssertionError`` on a failure;
- ``check("correlate2d")`` checks one part, and ``check()`` every part, printing one
  line per test cell without raising; hidden test cells say that the grader runs
  them at grading time.

The visible cases come from ``cnn_course/course/checks/<assignment>.json``, which
``cnn-course release`` generates from the assignment's spec (hidden cases are never
in it). The verdicts come from :func:`cnn_course.course.testing.judge.judge`, the
judge the grader uses, and the limits (CPU seconds per call, forbidden shortcuts)
are the grader's own, so a ``PASS`` here means the same check passes at grading.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .codec import decode, encode
from .judge import Verdict, judge
from .shortcuts import Watch

CHECKS_DIR = Path(__file__).resolve().parents[1] / "checks"


class CPUTimeLimit(BaseException):
    """Raised inside a call that used up its CPU seconds (not catchable as Exception)."""


@contextmanager
def cpu_limit(seconds: float | None):
    """Interrupt the block after ``seconds`` of CPU time (main thread, POSIX only).

    CPU time, not wall time: a busy machine slows a call down but does not use up
    its budget. Where no profiling timer exists (Windows, other threads), the block
    runs to the end and the caller compares the CPU time it measured.
    """
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def interrupt(signum, frame):
        raise CPUTimeLimit(f"used more than {seconds:g} s of CPU time")

    previous = signal.signal(signal.SIGPROF, interrupt)
    outer, _ = signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
        if outer:  # an enclosing limit (the grading kernel's per cell) keeps running,
            # but a grader's call does not count against the cell that made it
            signal.setitimer(signal.ITIMER_PROF, max(outer, 0.01))


_WARM: list[bool] = []  # one warm-up per process


def warm_up() -> None:
    """Pay the process's one-time library costs before any call is timed.

    A torch process's first forward, backward and optimiser step import and set up
    machinery (``torch._dynamo`` among it) for seconds of CPU, more on a busy
    machine. Inside a call's CPU budget they would count against the student, and an
    interrupt in the middle of those imports would leave them half-done for every
    later call. The notebook's ``check()`` and the grader's runner both warm up first.
    Does nothing unless torch is already imported.
    """
    torch = sys.modules.get("torch")
    if torch is None or _WARM:
        return
    _WARM.append(True)
    nn = torch.nn
    try:
        with torch.random.fork_rng(devices=[]):  # the notebook's random state is kept
            _warm_steps(torch, nn)
    except Exception:  # torch changed by the notebook: its cases will say how
        pass


def _warm_steps(torch, nn) -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(2, 2))
    for make in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
        step = make(net.parameters(), lr=0.0)
        nn.functional.cross_entropy(net(torch.zeros(2, 1, 4, 4)),
                                    torch.zeros(2, dtype=torch.long)).backward()
        step.step()


def _outcome_of_error(err: BaseException) -> dict:
    return {"status": "error", "ename": type(err).__name__,
            "mro": [c.__name__ for c in type(err).__mro__][:8], "evalue": str(err)[:500]}


def run_case(case: dict, namespace: dict, *, forbidden=(), cpu_seconds: float | None = None
             ) -> dict:
    """Run one case against ``namespace`` (the notebook's variables); return its outcome.

    ``case`` is ``{"func", "args", "kwargs"}`` (call a student function) or
    ``{"code", "inputs"}`` (grader-written code run with the student's names; it
    sets ``result``). Arguments are decoded fresh, so a function that changes its
    input in place cannot spoil the next case.
    """
    try:
        if "code" in case:
            scope = dict(namespace)
            scope.update({k: decode(v) for k, v in case.get("inputs", {}).items()})

            def call():
                exec(compile(case["code"], "<grader's check>", "exec"), scope)  # noqa: S102
                return scope.get("result")
        else:
            fn = namespace.get(case["func"])
            if fn is None:
                return {"status": "error", "ename": "NameError", "mro": ["NameError"],
                        "evalue": f"{case['func']} is not defined: did its cell run "
                                  "without an error?"}
            args = [decode(a) for a in case.get("args", [])]
            kwargs = {k: decode(v) for k, v in case.get("kwargs", {}).items()}

            def call():
                return fn(*args, **kwargs)
    except Exception as err:  # undecodable case data: the grader's problem, say so
        return {"status": "error", "ename": "GraderError", "mro": [],
                "evalue": f"the check itself could not start: {err}"}
    started = time.process_time()
    watch = Watch(forbidden)
    try:
        with cpu_limit(cpu_seconds), watch:
            value = call()
    except CPUTimeLimit as err:
        return {"status": "timeout", "evalue": f"{err}; the grader allows {cpu_seconds:g} s "
                "per call", "cpu": time.process_time() - started}
    except BaseException as err:  # student code may raise anything, SystemExit too
        if isinstance(err, KeyboardInterrupt):
            raise
        outcome = _outcome_of_error(err)
    else:
        outcome = {"status": "ok", "value": value, "type": type(value).__name__}
    cpu = time.process_time() - started
    outcome["cpu"] = cpu
    if watch.hits:
        return {"status": "shortcut", "names": watch.hits, "cpu": cpu}
    if cpu_seconds and cpu > cpu_seconds:
        return {"status": "timeout", "cpu": cpu, "evalue": f"used {cpu:.1f} s of CPU time; "
                f"the grader allows {cpu_seconds:g} s per call"}
    return outcome


@dataclass
class TestResult:
    """The verdict on one test cell."""

    test: str
    points: float
    status: str  # "pass", "fail" or "hidden"
    message: str = ""

    def line(self) -> str:
        mark = {"pass": "PASS  ", "fail": "FAIL  ", "hidden": "hidden"}[self.status]
        text = f"{mark} {self.test} ({self.points:g} pt)"
        return f"{text}: {self.message}" if self.message else text


@dataclass
class Report:
    """What ``check()`` returns: one result per test cell, printed as it runs."""

    results: list[TestResult] = field(default_factory=list)
    printed_in: int | None = None  # the IPython cell that printed its lines

    @property
    def ok(self) -> bool:
        return all(r.status != "fail" for r in self.results)

    def summary(self) -> str:
        visible = [r for r in self.results if r.status != "hidden"]
        passed = sum(r.status == "pass" for r in visible)
        hidden = len(self.results) - len(visible)
        return (f"{passed} of {len(visible)} visible tests passed; {hidden} hidden test "
                "cells run at grading.")

    def __repr__(self) -> str:
        return "\n".join([r.line() for r in self.results] + [self.summary()])

    def _ipython_display_(self) -> None:
        """As the result of the cell whose ``check()`` printed its lines: nothing, so
        the student does not read every line twice. In a later cell: its lines."""
        if self.printed_in is None or self.printed_in != _cell_number():
            print(repr(self))


def _cell_number() -> int | None:
    """The number of the IPython cell that is running; None outside IPython."""
    ipython = sys.modules.get("IPython")  # a kernel has it loaded; never imported here
    shell = ipython.get_ipython() if ipython is not None else None
    return shell.execution_count if shell is not None else None


def load_checks(assignment: str, folder: Path = CHECKS_DIR) -> dict:
    """The visible checks of ``assignment`` (written by ``cnn-course release``)."""
    path = Path(folder) / f"{assignment}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no checks for {assignment!r}: expected {path}")
    return json.loads(path.read_text(encoding="utf-8"))


class Checker:
    """``check(name=None)`` for one assignment, bound to the notebook's variables."""

    def __init__(self, assignment: str, namespace: dict, checks: dict | None = None):
        self.assignment = assignment
        self.namespace = namespace
        self.checks = checks if checks is not None else load_checks(assignment)
        self.tests = {t["id"]: t for t in self.checks["tests"]}
        self._helpers_loaded = False

    def _load_helpers(self) -> None:
        helpers = self.checks.get("helpers", "")
        if helpers and not self._helpers_loaded:
            exec(compile(helpers, "<assignment helpers>", "exec"), self.namespace)  # noqa: S102
        self._helpers_loaded = True

    def run_test(self, test: dict) -> TestResult:
        if test.get("hidden"):
            return TestResult(test["id"], test["points"], "hidden",
                              "run by the grader at grading time")
        self._load_helpers()
        warm_up()
        limits = self.checks.get("limits", {})
        forbidden = self.checks.get("forbid", [])
        for case in test["cases"]:
            watched = forbidden if case.get("watch", True) else ()
            outcome = run_case(case["call"], self.namespace, forbidden=watched,
                               cpu_seconds=case.get("cpu_seconds") or limits.get("call_cpu"))
            verdict: Verdict = judge(decode(case["expect"]), outcome)
            if not verdict.ok:
                label = f" ({case['label']})" if case.get("label") else ""
                return TestResult(test["id"], test["points"], "fail",
                                  f"[{verdict.kind}]{label} {verdict.message}")
        return TestResult(test["id"], test["points"], "pass")

    def select(self, name: str | None) -> list[dict]:
        if name is None:
            return list(self.tests.values())
        if name in self.tests:
            return [self.tests[name]]
        part = [t for t in self.tests.values() if t["part"] == name]
        if not part:
            known = sorted({t["part"] for t in self.tests.values()})
            raise KeyError(f"no test or part {name!r} in {self.assignment}; parts: "
                           f"{', '.join(known)}")
        return part

    def __call__(self, name: str | None = None) -> Report | None:
        """Check one test cell (raises on failure, returns None), a part or all parts."""
        report = Report()
        for test in self.select(name):
            result = self.run_test(test)
            report.results.append(result)
            print(result.line(), flush=True)
        if name in self.tests:  # a test cell: nothing to display, a failure raises
            if report.results[0].status == "fail":
                raise AssertionError(report.results[0].message)
            return None
        print(report.summary(), flush=True)
        report.printed_in = _cell_number()
        return report


def check_for(assignment: str) -> Checker:
    """A ``check`` function bound to the calling notebook's variables."""
    namespace = sys._getframe(1).f_globals
    return Checker(assignment, namespace)


def encode_call(call: dict) -> dict:
    """A case's call as JSON: plain keys, encoded arguments (see :func:`run_case`)."""
    if "code" in call:
        return {"code": call["code"],
                "inputs": {k: encode(v) for k, v in call.get("inputs", {}).items()}}
    return {"func": call["func"], "args": [encode(a) for a in call.get("args", [])],
            "kwargs": {k: encode(v) for k, v in call.get("kwargs", {}).items()}}


def case_record(call: dict, expect: dict, label: str = "", cpu_seconds: float | None = None,
                watch: bool = True) -> dict:
    """One visible case as the checks file stores it (used by the spec's generator)."""
    record = {"call": encode_call(call), "expect": encode(expect)}
    if label:
        record["label"] = label
    if cpu_seconds:
        record["cpu_seconds"] = cpu_seconds
    if not watch:
        record["watch"] = False
    return record
