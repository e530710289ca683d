"""Trusted verdicts: the grader's own check of a submission, outside the student's kernel.

The in-notebook tests run in the student's kernel, where student code can replace
``numpy.testing``, return objects that equal everything or rewrite later cells. So
the score is decided here: the sanitised notebook's setup and answer cells run in a
fresh sandbox (:mod:`.runner`, in a minimal Python that holds only what the spec
allows), the runner calls the student's functions on the spec's inputs, hidden ones
included, and sends the results back; this process, which never runs student code,
judges them against references and labels that never enter the sandbox.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from cnn_course.course.spec.model import Assignment
from cnn_course.course.testing.check import encode_call
from cnn_course.course.testing.codec import CodecError, decode
from cnn_course.course.testing.judge import Verdict, judge
from cnn_course.course.testing.shortcuts import (
    builtins_of,
    functions_of,
    modules_of,
    packages,
)

from . import sandbox

MAX_RESULT_BYTES = 256 * 2**20  # everything a runner may send back
MAX_FRAME_BYTES = 64 * 2**20
WALL_FACTOR = 10  # wall-clock backstop = CPU limit x this + a minute: load never trips it
# Allowed packages the runner imports only when a cell or call first uses them: they
# hold no forbidden routine to unbind and need no warm-up before a timed call.
LAZY = ("matplotlib",)


@dataclass
class CellReport:
    id: str
    status: str  # ok, error, timeout, crashed, missing
    message: str = ""


@dataclass
class TestVerdict:
    """The trusted verdict on one test cell."""

    id: str
    points: float
    verdicts: list[tuple[str, Verdict]] = field(default_factory=list)  # (label, verdict)

    @property
    def ok(self) -> bool:
        return bool(self.verdicts) and all(v.ok for _, v in self.verdicts)

    @property
    def earned(self) -> float:
        return self.points if self.ok else 0.0

    def failure(self) -> tuple[str, str]:
        """(kind, message) of the first failed case."""
        for label, verdict in self.verdicts:
            if not verdict.ok:
                return verdict.kind, (f"({label}) " if label else "") + verdict.message
        return "", ""


@dataclass
class TrustedResult:
    tests: dict[str, TestVerdict]
    cells: dict[str, CellReport]
    cpu_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(t.earned for t in self.tests.values())


def runner_cells(notebook: nbformat.NotebookNode) -> list[dict]:
    """The cells the runner executes: every nbgrader cell that is not a test cell.

    IPython syntax (``%time``, ``%%timeit``, ``!ls``) becomes plain Python here, as the
    kernel would run it, so a magic in an answer cell costs nothing.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    cells = []
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta and not meta.get("grade"):
            try:
                source = transform(cell.source)
            except Exception:  # leave it: the runner reports the cell's SyntaxError
                source = cell.source
            cells.append({"id": meta.get("grade_id", "?"), "source": source})
    return cells


# --- the runner's environment ------------------------------------------------------

_TESTING_FILES = ("__init__.py", "codec.py", "expect.py", "judge.py", "shortcuts.py",
                  "check.py")


def _course_subset(folder: Path, assignment: str, allow: tuple[str, ...] = ()) -> Path:
    """A ``cnn_course`` tree holding the test helpers, and what the spec allows of the rest.

    The setup cell imports ``check_for`` from it. The library itself holds answers
    to the assignments, so only the parts a spec names (``"cnn_course.models"``,
    ``"cnn_course.weights"``, ...) are copied in.
    """
    import cnn_course

    source = Path(cnn_course.__file__).parent
    target = folder / "cnn_course"
    (target / "course" / "testing").mkdir(parents=True)
    (target / "course" / "checks").mkdir()
    (target / "__init__.py").write_text('"""The test helpers only (grader\'s sandbox)."""\n')
    (target / "course" / "__init__.py").write_text("")
    for name in _TESTING_FILES:
        shutil.copy(source / "course" / "testing" / name, target / "course" / "testing")
    checks = source / "course" / "checks" / f"{assignment}.json"
    if checks.is_file():
        shutil.copy(checks, target / "course" / "checks")
    shutil.copy(source / "errors.py", target / "errors.py")
    for allowed in allow:  # e.g. "cnn_course.models": the course's backbone, no answers
        if not allowed.startswith("cnn_course."):
            continue
        relative = Path(*allowed.split(".")[1:])
        if (source / relative).is_dir():
            shutil.copytree(source / relative, target / relative,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source / relative.with_suffix(".py"), target / relative.with_suffix(".py"))
    return folder


def _top_names(dist) -> set[str]:
    top = dist.read_text("top_level.txt")
    if top:
        return {n.strip() for n in top.split() if n.strip().isidentifier()}
    names = set()
    for file in dist.files or ():
        parts = file.parts
        if parts and not parts[0].endswith((".dist-info", ".data")) and parts[0] != "..":
            names.add(parts[0].removesuffix(".py"))
    return {n for n in names if n.isidentifier()}


@functools.lru_cache(maxsize=1)
def _tops_by_distribution() -> dict[str, frozenset[str]]:
    """Import names of every installed distribution (the grader's environment)."""
    import importlib.metadata as md

    out: dict[str, set[str]] = {}
    for dist in md.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        out.setdefault(name, set()).update(_top_names(dist))
    return {k: frozenset(v) for k, v in out.items()}


def _installed_top_names() -> frozenset[str]:
    return frozenset().union(*_tops_by_distribution().values())


_STUB_MODULE = '''"""Not available while the grader checks this assignment's code."""

__all__ = ["pad"]


class ShortcutError(ImportError):
    pass


def pad(*args, **kwargs):
    raise ShortcutError("[shortcut] {name} is not allowed in this assignment's graded "
                        "code")
'''


def _module_stub_binds(forbid: tuple[str, ...], folder: Path) -> dict[str, str]:
    """Forbidden implementation modules (numpy.pad's) replaced by a refusing stub file."""
    import importlib.util

    binds = {}
    for module in modules_of(forbid):
        found = importlib.util.find_spec(module)
        if found is None or not found.origin:
            continue
        public = next(n for n in forbid if module in modules_of([n]))
        stub = folder / f"{module}.py"
        stub.write_text(_STUB_MODULE.replace("{name}", public))
        binds[str(Path(found.origin).resolve())] = str(stub)
    return binds


@functools.lru_cache(maxsize=16)  # the same for every submission of an assignment
def _stub_names(allow: tuple[str, ...], distributions: tuple[str, ...]) -> tuple[str, ...]:
    """Packages installed for the course but not in the runner: they import as stubs.

    So an import that works in the notebook works here too; one that fails there
    (a package nobody installed) fails here as well. What the runner's environment
    holds (the allowed packages and everything they need) is real.
    """
    by_dist = _tops_by_distribution()
    present = frozenset().union(*(by_dist.get(d.lower().replace("_", "-"), frozenset())
                                  for d in distributions))
    names = (_installed_top_names() - present - {a.split(".")[0] for a in allow}
             - {"cnn_course"})
    return tuple(sorted(n for n in names if n not in sys.builtin_module_names
                        and n not in sys.stdlib_module_names))


# --- running ----------------------------------------------------------------------

def build_job(spec: Assignment, notebook, *, total_cpu: float, session_seed: int | None
              ) -> tuple[dict, dict[str, tuple[str, object]]]:
    """The runner's job, and case id -> (test id, case) for judging."""
    index: dict[str, tuple[str, object]] = {}
    cases, by_key = [], {}
    for test in spec.tests:
        for case in spec.cases(test, session_seed):
            if case.key and case.key in by_key:
                index[by_key[case.key] + f"/{len(index)}"] = (test.id, case)
                continue
            cid = secrets.token_hex(8)  # unguessable: a pre-sent fake frame misses
            index[cid] = (test.id, case)
            if case.key:
                by_key[case.key] = cid
            cases.append({"id": cid, "call": encode_call(case.call), "key": case.key,
                          "cpu_seconds": case.cpu_seconds or spec.limits.call_cpu})
    # Imported before student code: what forbidden routines may live in (so that they
    # are unbound everywhere first) and torch (warmed up before any call is timed).
    # LAZY packages hold neither: their import is deferred to first use, so a notebook
    # that imports matplotlib but plots nothing graded pays nothing for it, and its
    # 100-odd forked cases stay light (measured in the README).
    preload = ["numpy", *[a for a in spec.allow if a not in ("numpy", *LAZY)]]
    job = {
        "cells": runner_cells(notebook),
        "helpers": spec.helpers,
        "cases": cases,
        "limits": {"cell_cpu": spec.limits.cell_cpu, "call_cpu": spec.limits.call_cpu,
                   "total_cpu": total_cpu, "wall_factor": WALL_FACTOR},
        "preload": preload,
        "lazy": [a for a in spec.allow if a in LAZY],
        # the public functions first, then their C routines under the first public
        # name that lists them
        "forbid_builtins": [[f, n] for n in spec.forbid for f in functions_of([n])]
        + list({b: [b, n] for n in reversed(spec.forbid) for b in builtins_of([n])}.values()),
        "forbid_modules": [[m, n] for n in spec.forbid for m in modules_of([n])],
    }
    return job, index


def run_trusted(spec: Assignment, notebook, *, sandboxed: bool, total_cpu: float,
                session_seed: int | None = None,
                limits: sandbox.Limits = sandbox.Limits(), executor=None) -> TrustedResult:
    """Run every case of ``spec`` against ``notebook`` (already sanitised) and judge.

    Three steps, so that the middle one can run elsewhere: :func:`build_job` and
    :func:`runner_payload` here (the spec, expectations included, stays in this
    process), :func:`run_runner` on ``runner_payload``'s inputs only (here, or on a Dask
    worker when ``executor`` sends it there, see :mod:`.cluster`), and
    :func:`judge_run` here again.
    """
    job, index = build_job(spec, notebook, total_cpu=total_cpu, session_seed=session_seed)
    payload = runner_payload(spec, job, sandboxed=sandboxed, total_cpu=total_cpu,
                             limits=limits)
    return judge_run(spec, job, index, (executor or run_runner)(payload))


@dataclass
class StartedCheck:
    """A trusted check started by :func:`start_trusted`; :meth:`result` judges it."""

    job: dict
    index: dict
    run: RunnerRun

    def cpu_seconds(self) -> float:
        return self.run.cpu_seconds()

    def result(self, spec: Assignment) -> TrustedResult:
        return judge_run(spec, self.job, self.index, self.run.result())


def start_trusted(spec: Assignment, notebook, *, sandboxed: bool, total_cpu: float,
                  session_seed: int | None = None, limits: sandbox.Limits = sandbox.Limits(),
                  spent_elsewhere=None) -> StartedCheck:
    """:func:`run_trusted`, started here and judged later, so that the submission's
    notebook can run at the same time: ``spent_elsewhere()`` (its kernel's CPU seconds)
    comes off ``total_cpu`` while the runner works."""
    job, index = build_job(spec, notebook, total_cpu=total_cpu, session_seed=session_seed)
    payload = runner_payload(spec, job, sandboxed=sandboxed, total_cpu=total_cpu,
                             limits=limits)
    return StartedCheck(job, index, RunnerRun(payload, spent_elsewhere))


def runner_payload(spec: Assignment, job: dict, *, sandboxed: bool, total_cpu: float,
                   limits: sandbox.Limits = sandbox.Limits()) -> dict:
    """Everything :func:`run_runner` needs, and nothing it must not see.

    The job holds the student's cells and the cases' inputs; expectations, references
    and labels stay in ``build_job``'s index. What else travels is in the release
    too: the assignment's name and its allowed and forbidden names.
    """
    return {"job": job, "assignment": spec.name, "allow": list(spec.allow),
            "forbid": list(spec.forbid), "sandboxed": bool(sandboxed),
            "total_cpu": float(total_cpu), "limits": dataclasses.asdict(limits)}


def run_runner(payload: dict) -> dict:
    """Run the runner on one job in a fresh sandbox; return its raw frames, unjudged.

    ``{"frames": bytes, "cpu": CPU seconds or None, "elapsed": seconds}``. Touches only
    a temporary folder, so running it twice (a retry) changes nothing.
    """
    return RunnerRun(payload).result()


class RunnerRun:
    """:func:`run_runner`'s work, started at once; :meth:`result` waits for it, and the
    caller can do other work meanwhile. ``spent_elsewhere()``: CPU seconds that the same
    submission spends elsewhere at the same time (its notebook's kernel), counted
    against the runner's ``total_cpu``.

    Everything that imports, reads the environment or builds the sandbox happens in
    the caller's thread, before the runner starts. The one thread here only feeds the
    job, waits for the runner (stopping it past its CPU budget or the wall backstop),
    reads its pipe and removes its files, so it never races the caller's imports.
    """

    def __init__(self, payload: dict, spent_elsewhere=None):
        self._spent_elsewhere = spent_elsewhere or (lambda: 0.0)
        self._result: dict | None = None
        self._cpu: float | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="cnn-course-trusted-")
        try:
            self._start(payload, Path(self._tmp.name))
        except BaseException:
            self._tmp.cleanup()
            raise
        self._thread = threading.Thread(target=self._finish, daemon=True,
                                        name="cnn-course-runner")
        self._thread.start()

    def _start(self, payload: dict, tmp: Path) -> None:
        job = dict(payload["job"])
        self._total_cpu = payload["total_cpu"]
        os.chmod(tmp, 0o755)
        self.box = None
        self._read_end, write_end = os.pipe()
        try:
            cmd = self._command(job, payload, tmp, write_end)
            self._job = json.dumps(job).encode()
            self._received = bytearray()
            self._started = time.monotonic()
            self._proc = subprocess.Popen(cmd, cwd=tmp, stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, pass_fds=(write_end,))
        except BaseException:
            os.close(self._read_end)
            if self.box is not None:
                self.box.close()
            raise
        finally:
            os.close(write_end)

    def _command(self, job: dict, payload: dict, tmp: Path, write_end: int) -> list[str]:
        """The runner's command line; fills in ``job``'s search path and stubs."""
        allow, forbid = tuple(payload["allow"]), tuple(payload["forbid"])
        job_dir = tmp / "job"
        job_dir.mkdir()
        shutil.copy(Path(__file__).with_name("runner.py"), job_dir / "runner.py")
        extra = _course_subset(tmp / "course_subset", payload["assignment"], allow)
        job["sys_path"] = [str(extra)]
        if payload["sandboxed"]:
            env = sandbox.runner_environment(
                [a for a in allow if not a.startswith("cnn_course")])
            job["stubs"] = list(_stub_names(allow, tuple(env.distributions)))
            binds = dict(env.binds)
            binds.update(_module_stub_binds(forbid, tmp))
            self.box = sandbox.Sandbox(sandbox.Limits(**payload["limits"]),
                                       readonly=[job_dir, extra], binds=binds,
                                       pid1=True, full_python=False)
            return self.box.command(env.argv(job_dir / "runner.py", write_end))
        else:  # trusted code only (--allow-unsandboxed): no minimal environment here
            installed = _installed_top_names()
            job["stubs"] = sorted({n.split(".")[0] for n in packages(forbid)}
                                  & installed)
            job["sys_path"] = []
            return [sys.executable, "-I", str(job_dir / "runner.py"), str(write_end)]

    def cpu_seconds(self) -> float:
        """CPU seconds the runner has used so far (0 where no cgroup counts them)."""
        if self._cpu is not None or self.box is None:
            return self._cpu or 0.0
        return self.box.cpu_seconds() or 0.0

    def _finish(self) -> None:
        reader = threading.Thread(target=_drain, args=(self._read_end, self._received),
                                  daemon=True)
        try:
            reader.start()
            _feed(self._proc, self._job)
            _watch(self._proc, self.box,
                   lambda: self._total_cpu - self._spent_elsewhere())
        finally:
            cpu = self.box.cpu_seconds() if self.box is not None else None
            self._cpu = cpu
            if self.box is not None:
                self.box.close()  # also ends stray processes that still hold the pipe
            reader.join(timeout=30)
            os.close(self._read_end)
            self._tmp.cleanup()
            self._result = {"frames": bytes(self._received), "cpu": cpu,
                            "elapsed": time.monotonic() - self._started}

    def result(self) -> dict:
        """Wait for the runner: ``{"frames": bytes, "cpu": seconds or None, "elapsed"}``."""
        self._thread.join()
        return self._result


def judge_run(spec: Assignment, job: dict, index: dict, run: dict) -> TrustedResult:
    """Judge :func:`run_runner`'s raw frames against the spec's expectations."""
    cells, outcomes = parse_frames(run["frames"], {c["id"] for c in job["cells"]},
                                   {cid for cid in index if "/" not in cid})
    result = judge_all(spec, index, outcomes, cells, job["cells"])
    result.cpu_seconds = run["cpu"]
    if run["cpu"] is None:
        result.notes.append(f"runner took {run['elapsed']:.1f} s")
    return result


def _feed(proc: subprocess.Popen, payload: bytes) -> None:
    try:
        proc.stdin.write(payload)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass


def _watch(proc: subprocess.Popen, box, budget) -> None:
    """Wait for the runner; stop it past its CPU budget (cgroup) or the wall backstop.

    ``budget()``: the CPU seconds it may use, asked again at every look (what the
    submission's kernel spends at the same time comes off it)."""
    deadline = time.monotonic() + budget() * WALL_FACTOR + 120
    while proc.poll() is None:
        if time.monotonic() > deadline:
            break
        used = box.cpu_seconds() if box is not None else None
        if used is not None and used > budget() + 30:
            break
        try:
            proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _drain(fd: int, into: bytearray) -> None:
    """Read the runner's pipe until EOF, keeping at most MAX_RESULT_BYTES."""
    while True:
        try:
            chunk = os.read(fd, 2**20)
        except OSError:
            return
        if not chunk:
            return
        if len(into) < MAX_RESULT_BYTES:
            into.extend(chunk[: MAX_RESULT_BYTES - len(into)])


def parse_frames(data: bytes, cell_ids: set[str], case_ids: set[str]
                 ) -> tuple[dict[str, dict], dict[str, dict]]:
    """Decode the runner's frames as untrusted data: bounded, typed, first answer wins.

    A frame that is not a JSON object, names an unknown or non-string id, or holds a
    value that does not decode is ignored, and its case counts as missing.
    """
    cells: dict[str, dict] = {}
    outcomes: dict[str, dict] = {}
    pos = 0
    while pos + 4 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        pos += 4
        if size > MAX_FRAME_BYTES or pos + size > len(data):
            break
        raw, pos = data[pos:pos + size], pos + size
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if not isinstance(record, dict):
            continue
        cid, cell = record.get("case"), record.get("cell")
        if isinstance(cid, str) and cid in case_ids and cid not in outcomes:
            outcomes[cid] = _outcome(record)
        elif isinstance(cell, str) and cell in cell_ids and cell not in cells:
            cells[cell] = {k: record.get(k) for k in ("status", "ename", "evalue")}
    return cells, outcomes


def _outcome(record: dict) -> dict:
    outcome = {k: record[k] for k in ("status", "type", "ename", "mro", "evalue", "cpu")
               if k in record}
    if outcome.get("status") == "ok":
        try:
            outcome["value"] = decode(record.get("value"))
        except (CodecError, RecursionError, TypeError, ValueError) as err:
            return {"status": "unreadable", "evalue": str(err)[:200]}
    return outcome


def judge_all(spec: Assignment, index: dict, outcomes: dict[str, dict],
              cells: dict[str, dict], job_cells: list[dict]) -> TrustedResult:
    reports = {cid: CellReport(cid, str(r.get("status")), _cell_message(r))
               for cid, r in cells.items()}
    tests = {t.id: TestVerdict(t.id, t.points) for t in spec.tests}
    for cid, (test_id, case) in index.items():
        outcome = outcomes.get(cid.split("/")[0]) or {
            "status": "missing", "evalue": "no result came back: the runner stopped "
            "before this case (see the cell and time-limit notes)"}
        verdict = judge(case.expect, outcome)
        if verdict.kind == "not defined":
            verdict = _explain_undefined(verdict, spec.part_of(test_id).answers, reports,
                                         job_cells)
        tests[test_id].verdicts.append((case.label, verdict))
    return TrustedResult(tests, reports)


def _cell_message(record: dict) -> str:
    ename, evalue = record.get("ename"), record.get("evalue") or ""
    return f"{ename}: {evalue}" if ename else str(evalue)


_UNDEFINED = re.compile(r"(?:name '(\w+)'|(\w+)) is not defined")


def _explain_undefined(verdict: Verdict, answers: tuple[str, ...],
                       reports: dict[str, CellReport], cells: list[dict]) -> Verdict:
    """"not defined" hides the cause: name the answer cell that stopped, and how.

    The cell that should have defined the missing name is the failed cell whose code
    defines it; failing that, a failed answer cell of this part.
    """
    match = _UNDEFINED.search(verdict.message)
    name = (match.group(1) or match.group(2)) if match else None
    failed = [c for c in cells if reports.get(c["id"]) and reports[c["id"]].status != "ok"]
    defining = [c for c in failed if name and re.search(
        rf"^\s*(def|class)\s+{re.escape(name)}\b|^\s*{re.escape(name)}\s*=",
        c["source"], re.M)]
    chosen = defining or [c for c in failed if c["id"] in answers]
    if not chosen:
        return verdict
    report = reports[chosen[0]["id"]]
    kind = "timeout" if report.status == "timeout" else "error"
    return Verdict(False, kind, f"{verdict.message}: the cell {report.id} stopped "
                   f"({report.message})")
