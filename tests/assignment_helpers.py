"""Grade answers to an assignment the way the grader does: the release, filled in, checked
by the trusted runner (sandboxed where this machine can)."""

from __future__ import annotations

import copy
import re

import nbformat

from conftest import ROOT
from cnn_course.course.grading.sandbox import detect
from cnn_course.course.grading.trusted import TrustedResult, run_trusted
from cnn_course.course.spec import load_spec
from cnn_course.course.spec.generate import solution_answers


def solution(name: str) -> dict[str, str]:
    """grade_id -> the solution notebook's answer code."""
    path = ROOT / "solutions" / name / f"{name}.ipynb"
    return solution_answers(nbformat.read(path, as_version=4))


def filled_release(name: str, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The student release of ``name`` with these answer cells filled in."""
    release = nbformat.read(ROOT / "assignments" / name / f"{name}.ipynb", as_version=4)
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nb


def trusted(name: str, answers: dict[str, str], session_seed: int | None = None
            ) -> TrustedResult:
    """The trusted verdicts on ``answers`` (missing answers stay as released)."""
    spec = load_spec(ROOT / "solutions", name)
    return run_trusted(spec, filled_release(name, answers), sandboxed=detect().sandboxed,
                       total_cpu=300, session_seed=session_seed)


def failures(result: TrustedResult) -> dict[str, tuple[str, str]]:
    return {t: v.failure() for t, v in result.tests.items() if not v.ok}


def solution_namespace(name: str) -> dict:
    """The solution notebook's setup, given and answer cells, run in this process."""
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader"):
            exec(re.sub(r"### (BEGIN|END) SOLUTION", "", cell.source), namespace)
    return namespace


# Student code that hunts for held-back labels: every frame's variables, every module,
# every file it can list, encoded arrays included. ``_hunt(pick)`` returns the first
# array for which ``pick(array)`` gives something other than None (what it gives).
LABEL_HUNTER = '''
import base64, glob, json, os, sys


def _candidates(value, pick, seen, depth=0):
    if id(value) in seen or depth > 8:
        return
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        found = pick(value)
        if found is not None:
            yield found
    elif isinstance(value, dict):
        if "__ndarray__" in value:
            try:
                raw = base64.b64decode(value["__ndarray__"])
                yield from _candidates(np.frombuffer(raw, value["dtype"]).reshape(
                    value["shape"]), pick, seen, depth + 1)
            except Exception:
                pass
        for v in list(value.values()):
            yield from _candidates(v, pick, seen, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _candidates(v, pick, seen, depth + 1)
    elif isinstance(value, (str, bytes)) and 20 < len(value) < 50_000_000:
        try:
            yield from _candidates(json.loads(value), pick, seen, depth + 1)
        except Exception:
            pass


def _hunt(pick):
    seen = set()
    frame = sys._getframe()
    while frame is not None:
        for space in (frame.f_locals, frame.f_globals):
            for found in _candidates(dict(space), pick, seen):
                return found
        frame = frame.f_back
    for module in list(sys.modules.values()):
        for found in _candidates(dict(getattr(module, "__dict__", {})), pick, seen):
            return found
    for pattern in ("/tmp/**/*", os.path.expanduser("~") + "/**/*", "/work/**/*.json",
                    "/proc/self/fd/*"):
        for path in glob.glob(pattern, recursive=True)[:2000]:
            try:
                text = _read(path)
            except Exception:
                continue
            for found in _candidates(text, pick, seen):
                return found
    return None


def _read(path, limit=50_000_000):
    """A file's text without blocking: pipes (its own stdin) give what they hold now."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        chunks, size = [], 0
        while size < limit:
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(fd)
'''
