"""Verdicts that student code cannot touch.

The in-notebook tests run inside the student's kernel, where student code can replace
``numpy.testing``, return objects that equal everything, or rewrite later cells. So
the grade is decided here, in the grader's own process, which never runs student code:

1. Each assignment ships, next to its solution, a ``verdicts.py`` with the grader's
   inputs and reference answers for every test cell (:class:`Case`).
2. A sandboxed runner (:mod:`.probe_runner`) executes the student's answer cells and
   calls their functions on those inputs; torch, scipy, scikit-image, scikit-learn,
   cnn_course and ``numpy.pad`` are replaced by stubs that raise when used (the list
   matches ``cnn_course.course.testing.SHORTCUTS``). Results come back as plain ``.npy`` files.
3. :func:`judge` compares them with the references: a test cell earns its points when
   every one of its cases matches.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .sandbox import Limits, ProcessLimit, bwrap_args

SHORTCUT_MARK = "[shortcut]"
HIDDEN_PACKAGES = ("torch", "scipy", "skimage", "sklearn", "cv2", "cnn_course")
MAX_RESULT_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Raises:
    """The expected outcome is an exception of this class (or a subclass)."""

    name: str


@dataclass
class Case:
    """One call of a student function and the reference outcome."""

    grade_id: str  # the test cell this case belongs to
    func: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expect: Any = None  # an array-like, a number, or Raises(...)
    rtol: float = 1e-6
    atol: float = 1e-8
    exact_type: str | None = None  # e.g. "int": the result must be of this type
    index: tuple | None = None  # compare only result[index], as the test cell does
    shape_only: bool = False  # compare only the shape


@dataclass
class CaseResult:
    case: Case
    ok: bool
    kind: str = ""  # why not: shape, dtype, value, timeout, shortcut used, ...
    detail: str = ""


def load_cases(spec: Path) -> list[Case]:
    """Import ``solutions/<assignment>/verdicts.py`` and return its ``cases()``."""
    module_spec = importlib.util.spec_from_file_location(f"verdicts_{spec.parent.name}", spec)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.cases()


# --- the sandbox job -------------------------------------------------------------

_STUB = '''"""Not available while the grader checks hand-written code."""
import importlib.abc, importlib.machinery, sys, types


class ShortcutError(ImportError):
    pass


def _refuse(name):
    raise ShortcutError("{mark} " + name + " is not available here: this part asks "
                        "for hand-written numpy")


def __getattr__(attr):
    _refuse(__name__ + "." + attr)


class _Stubs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(__name__ + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__getattr__ = lambda attr, n=spec.name: _refuse(n + "." + attr)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Stubs())
'''.replace("{mark}", SHORTCUT_MARK)

_PAD_STUB = f'''

class ShortcutError(ImportError):
    pass


def pad(array, pad_width, mode="constant", **kwargs):
    raise ShortcutError("{SHORTCUT_MARK} numpy.pad is not available here: this part "
                        "asks for hand-written padding")
'''


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def _hide_binds(stubs: Path) -> dict[Path, Path]:
    """Host path -> replacement, for the packages a case may not use."""
    binds = {}
    for name in HIDDEN_PACKAGES:
        target = _package_dir(name)
        if target is None:
            continue
        stub = stubs / name
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "__init__.py").write_text(_STUB)
        binds[target] = stub
    real = Path(importlib.util.find_spec("numpy.lib._arraypad_impl").origin)
    patched = stubs / "_arraypad_impl.py"
    patched.write_text(real.read_text() + _PAD_STUB)
    binds[real] = patched
    return binds


def _encode(value: Any, folder: Path, name: str) -> dict:
    if isinstance(value, np.ndarray):
        np.save(folder / f"{name}.npy", value, allow_pickle=False)
        return {"npy": f"{name}.npy"}
    return {"value": value}


def run_job(cells: list[dict], cases: list[Case], *, sandboxed: bool, cell_timeout: int,
            case_timeout: int = 20, limits: Limits = Limits()) -> dict[str, dict]:
    """Run the cases in a fresh sandbox; return case id -> raw result record.

    The job folder is read-only inside the sandbox; results come back over a pipe,
    read with a size cap, so nothing the sandbox does reaches the host's disk.
    """
    with tempfile.TemporaryDirectory(prefix="cnn-course-verdict-") as tmp:
        tmp = Path(tmp)
        job_dir, stubs = tmp / "job", tmp / "stubs"
        job_dir.mkdir()
        payload = []
        for i, case in enumerate(cases):
            cid = f"c{i:03d}"
            payload.append({
                "id": cid, "func": case.func,
                "args": [_encode(a, job_dir, f"{cid}_a{j}") for j, a in enumerate(case.args)],
                "kwargs": {k: _encode(v, job_dir, f"{cid}_k{k}") for k, v in case.kwargs.items()},
            })
        total = cell_timeout * (len(cells) + 1) + case_timeout * (len(cases) + 1)
        job = {"cells": cells, "cases": payload, "cell_timeout": cell_timeout,
               "case_timeout": case_timeout, "total_timeout": total}
        (job_dir / "job.json").write_text(json.dumps(job))
        shutil.copy(Path(__file__).with_name("probe_runner.py"), job_dir / "runner.py")
        read_end, write_end = os.pipe()
        cmd = [sys.executable, "-I", str(job_dir / "runner.py"), str(job_dir / "job.json"),
               str(write_end)]
        limit = None
        if sandboxed:
            limit = ProcessLimit(limits.processes)
            prefix = bwrap_args(limits, readonly=[job_dir], hide=_hide_binds(stubs))
            prefix.insert(prefix.index("--"), "--as-pid-1")
            cmd = limit.wrap(prefix + cmd)
        received = bytearray()
        reader = threading.Thread(target=_drain, args=(read_end, received), daemon=True)
        try:
            proc = subprocess.Popen(cmd, cwd=tmp, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    pass_fds=(write_end,))
            os.close(write_end)
            reader.start()
            try:
                proc.wait(timeout=total + 30)
            except subprocess.TimeoutExpired:
                proc.kill()  # whatever arrived stands; the rest counts as "no result"
                proc.wait()
        finally:
            if limit is not None:
                limit.close()  # also ends stray processes that still hold the pipe
            reader.join(timeout=10)
            os.close(read_end)
        return _parse_frames(bytes(received), {p["id"] for p in payload})


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


def _parse_frames(data: bytes, case_ids: set[str]) -> dict[str, dict]:
    """Decode the runner's frames as untrusted data: bounded JSON, pickle-free arrays."""
    results: dict[str, dict] = {}
    pos = 0
    while pos + 4 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        if size > 100_000 or pos + 4 + size > len(data):
            break
        try:
            header = json.loads(data[pos + 4:pos + 4 + size])
        except ValueError:
            break
        pos += 4 + size
        if not isinstance(header, dict):
            break
        payload_len = header.get("npy", 0)
        if not isinstance(payload_len, int) or payload_len < 0 or pos + payload_len > len(data):
            break
        payload = data[pos:pos + payload_len]
        pos += payload_len
        cid = header.get("case")
        if cid not in case_ids or cid in results:  # first answer per case counts
            continue
        record = {k: header[k] for k in ("status", "type", "ename", "mro", "evalue")
                  if k in header}
        if record.get("status") == "ok":
            try:
                record["array"] = np.load(io.BytesIO(payload), allow_pickle=False)
            except (ValueError, OSError, EOFError) as err:
                record = {"status": "unreadable", "evalue": str(err)[:200]}
        results[cid] = record
    return {cid: results.get(cid, {"status": "missing"}) for cid in case_ids}


# --- judging ----------------------------------------------------------------------

def _judge_case(case: Case, raw: dict) -> CaseResult:
    status = raw.get("status")
    evalue = str(raw.get("evalue", ""))[:200]
    if isinstance(case.expect, Raises):
        mro = raw.get("mro") or []
        if status == "error" and isinstance(mro, list) and case.expect.name in mro:
            return CaseResult(case, True)
        if status == "ok":
            return CaseResult(case, False, "value", f"expected {case.expect.name}, no error")
    if status == "timeout":
        return CaseResult(case, False, "timeout", "the call did not return in time")
    if status in ("missing", None):
        return CaseResult(case, False, "no result", "the check produced no result")
    if status == "unreadable":
        return CaseResult(case, False, "dtype", f"not an array of numbers: {evalue}")
    if status == "error":
        ename = str(raw.get("ename", "Exception"))
        if SHORTCUT_MARK in evalue:
            return CaseResult(case, False, "shortcut used", evalue)
        kind = {"NotImplementedError": "not written yet", "NameError": "not defined"}.get(
            ename, "error")
        return CaseResult(case, False, kind, f"{ename}: {evalue}")
    got = raw["array"]
    if case.exact_type and raw.get("type") != case.exact_type:
        return CaseResult(case, False, "dtype",
                          f"expected a {case.exact_type}, got a {raw.get('type')}")
    expected = np.asarray(case.expect)
    if case.index is not None:
        try:
            got = got[case.index]
        except (IndexError, TypeError):
            return CaseResult(case, False, "shape", f"cannot index the result by {case.index}")
    if got.shape != expected.shape:
        return CaseResult(case, False, "shape", f"expected shape {expected.shape}, got {got.shape}")
    if got.dtype.kind not in "biuf":
        return CaseResult(case, False, "dtype", f"expected numbers, got dtype {got.dtype}")
    if case.shape_only:
        return CaseResult(case, True)
    if not np.allclose(got.astype(np.float64), expected, rtol=case.rtol, atol=case.atol):
        return CaseResult(case, False, "value", "values differ from the reference")
    return CaseResult(case, True)


def judge(cases: list[Case], raw: dict[int, dict]) -> dict[str, list[CaseResult]]:
    """grade_id -> results of its cases. ``raw`` maps case index -> runner record."""
    by_cell: dict[str, list[CaseResult]] = defaultdict(list)
    for i, case in enumerate(cases):
        by_cell[case.grade_id].append(_judge_case(case, raw.get(i, {"status": "missing"})))
    return dict(by_cell)


def run_verdicts(notebook, cases: list[Case], *, sandboxed: bool, cell_timeout: int
                 ) -> dict[str, list[CaseResult]]:
    """Run every case against a sanitised notebook; grade_id -> case results."""
    cells = []
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta and not meta.get("grade"):
            cells.append({"id": meta.get("grade_id", "?"), "source": cell.source})
    records = run_job(cells, cases, sandboxed=sandboxed, cell_timeout=cell_timeout)
    return judge(cases, {i: records[f"c{i:03d}"] for i in range(len(cases))})
