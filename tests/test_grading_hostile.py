"""The threat model of the hardened grader, one hostile submission per item.

Every submission is built from the course's real assignment. Each must get exactly the
points its honest code earns (an attack with blank answers gets 0), with the status and
reason asserted; a correct submission graded after them still gets full marks, and the
solutions and the gradebook's assignment data are byte-identical before and after.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from cnn_course.course.grading.grade import grade
from cnn_course.course.grading.sandbox import ProcessLimit, probe
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from make_examples import solution_sources  # noqa: E402

# Skip only where bubblewrap is not installed at all; installed but broken must fail.
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap (bwrap) is not installed")


def test_the_sandbox_works_where_bubblewrap_is_installed():
    assert probe().sandboxed, probe().description

NB = "01_convolution.ipynb"
FULL = 16


def _release(layout):
    return nbformat.read(layout.assignments / "01_convolution" / NB, as_version=4)


def _cells(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if "nbgrader" in c.get("metadata", {})}


def build(layout, answers=None, prefix=None, blank=(), edit=None):
    """A submission: the release with the full solution's answers (or ``answers``),
    ``blank`` answer cells left as released, and code prepended to some cells."""
    nb = _release(layout)
    full = solution_sources()
    chosen = dict(full) if answers is None else dict(answers)
    for gid in blank:
        chosen.pop(gid, None)
    cells = _cells(nb)
    for gid, source in chosen.items():
        cells[gid].source = source
    for gid, code in (prefix or {}).items():
        cells[gid].source = code + "\n" + cells[gid].source
    if edit:
        edit(nb)
    return nb


def blank_with(layout, code):
    """Blank answers, with ``code`` in the first answer cell: an attack and nothing else."""
    return build(layout, answers={}, prefix={"correlate2d": code})


# -- attack code --------------------------------------------------------------------

FAKE_CHECKS = '''
import cnn_course.course.testing as _checks
class _AlwaysEqual(int):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = int.__hash__
def _noop(*a, **k): return None
expect_close = expect_shape = expect_conv_shape = expect_raises = _noop
for _name in ("expect_close", "expect_shape", "expect_conv_shape", "expect_raises"):
    setattr(_checks, _name, _noop)
_checks.forbid_shortcuts = lambda fn, *a, **k: None
def correlate2d(image, kernel): return np.zeros((1, 1))
def pad2d(x, pad, mode="zeros"): return np.zeros(1)
def conv_output_size(size, kernel, stride=1, pad=0, dilation=1): return _AlwaysEqual(0)
def conv2d_forward(x, w, b, stride=1, pad=0, dilation=1): return np.zeros(1)
def sobel_edges(image): return np.zeros(1)
'''

PATCH_LIBRARIES = '''
import builtins, numpy, numpy.testing, torch, torch.nn.functional as _F
numpy.isclose = lambda a, b, **k: numpy.ones(numpy.broadcast(numpy.asarray(a), numpy.asarray(b)).shape, bool)
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
_real_conv2d = _F.conv2d
_F.conv2d = lambda x, w, *a, **k: _real_conv2d(x, w, *a, **k) * 0
torch.sqrt = lambda t: t * 0
builtins.isinstance = lambda obj, cls: True
def _shape(H, K, stride=1, pad=0, dilation=1): return (H + 2 * pad - dilation * (K - 1) - 1) // stride + 1
def correlate2d(image, kernel):
    return np.zeros((len(image) - len(kernel) + 1, len(image[0]) - len(kernel[0]) + 1))
def pad2d(x, pad, mode="zeros"):
    if mode not in ("zeros", "reflect", "replicate"): raise ValueError(mode)
    return np.zeros(x.shape[:2] + (x.shape[2] + 2 * pad, x.shape[3] + 2 * pad))
def conv2d_forward(x, w, b, stride=1, pad=0, dilation=1):
    return np.zeros((x.shape[0], w.shape[0], _shape(x.shape[2], w.shape[2], stride, pad, dilation),
                     _shape(x.shape[3], w.shape[3], stride, pad, dilation)))
def sobel_edges(image): return np.zeros((image.shape[0] - 2, image.shape[1] - 2))
'''

TRANSFORMER = "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"
TRACEBACK = '''
ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip.set_custom_exc((BaseException,), lambda *a, **k: None)
'''
NO_PROFILER = '''
import sys
sys.setprofile = lambda *a, **k: None
sys.settrace(None)
'''
SHORTCUT_ANSWERS = {
    "correlate2d": '''
import torch.nn.functional as F_
import torch as t_
def correlate2d(image, kernel):
    x = t_.as_tensor(np.asarray(image, dtype=float))[None, None]
    return F_.conv2d(x, t_.as_tensor(np.asarray(kernel, dtype=float))[None, None])[0, 0].numpy()
''',
    "pad2d": '''
def pad2d(x, pad, mode="zeros"):
    modes = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}
    if mode not in modes:
        raise ValueError(mode)
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode=modes[mode])
''',
    "conv2d_forward": '''
import torch as t2_
def conv2d_forward(x, w, b, stride=1, pad=0, dilation=1):
    return t2_.nn.functional.conv2d(t2_.as_tensor(x), t2_.as_tensor(w), t2_.as_tensor(b),
                                    stride=stride, padding=pad, dilation=dilation).numpy()
''',
}
ATEXIT_MODULES = '''
import atexit, sys, types
atexit.register(lambda: print("bye"))
_fake = types.ModuleType("cnn_course.course.testing")
_fake.forbid_shortcuts = lambda fn, *a, **k: None
_fake.expect_close = _fake.expect_shape = lambda *a, **k: None
sys.modules["cnn_course.course.testing"] = _fake
sys.modules["numpy.testing"] = types.ModuleType("numpy.testing")
'''
SIGINT_LOOP = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
OS_EXIT = "import os\nos._exit(1)"
KILL_PARENT = '''
import os, signal
for _pid in (os.getppid(), 1):
    try:
        os.kill(_pid, signal.SIGKILL)
    except OSError:
        pass
'''
FORK_BOMB = "import os\nwhile True:\n    os.fork()"
MEMORY = "_hog = bytearray(16 * 2**30)"
DISK = '''
_i = 0
while True:
    for _where in (".", "/tmp"):
        with open(f"{_where}/fill{_i}", "wb") as _f:
            _f.write(b"0" * 2**23)
    _i += 1
'''
OUTPUT = 'print("x" * 30_000_000)'
SPAWN = '''
import os, subprocess
subprocess.Popen(["sleep", "4321"])
os.system("sleep 4322 &")
'''


def snoop(paths):
    """Try to read, list, overwrite and delete each path; print what could be read.

    Whether a write or delete reached the host is checked from the host side: inside
    the sandbox a write may land in its own private tmpfs, which is harmless.
    """
    return f'''
import os
for _p in {[str(p) for p in paths]!r}:
    _found = []
    try:
        with open(_p, "rb") as _f:
            _f.read(100)
        _found.append("READ")
    except OSError:
        pass
    try:
        os.listdir(_p)
        _found.append("LISTED")
    except OSError:
        pass
    for _attempt in (lambda: open(_p, "r+b").write(b"tampered"), lambda: os.remove(_p)):
        try:
            _attempt()
        except OSError:
            pass
    print(("EXPOSED " + "+".join(_found) if _found else "BLOCKED") + ": " + _p)
'''


def network(port):
    return f'''
import socket, urllib.request
for _target in [("127.0.0.1", {port}), ("8.8.8.8", 53)]:
    try:
        socket.create_connection(_target, timeout=2).close()
        print("CONNECTED", _target)
    except OSError:
        print("BLOCKED", _target)
try:
    urllib.request.urlopen("http://example.com", timeout=2)
    print("CONNECTED web")
except Exception:
    print("BLOCKED web")
'''


# -- the batch ----------------------------------------------------------------------

def _digest_tree(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def _digest_path(path: Path) -> str | None:
    if path.is_dir():
        return _digest_tree(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _assignment_tables(db: Path, student: str) -> list:
    """What student code must never change: the assignment's cells (hidden tests
    included) and an earlier student's grades."""
    con = sqlite3.connect(db)
    try:
        rows = [con.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
                for t in ("assignment", "notebook", "base_cell", "grade_cells",
                          "solution_cells", "source_cell", "task_cells")]
        rows.append(con.execute(
            "SELECT g.* FROM grade g JOIN submitted_notebook n ON g.notebook_id = n.id "
            "JOIN submitted_assignment a ON n.assignment_id = a.id "
            "WHERE a.student_id = ? ORDER BY g.id", (student,)).fetchall())
        return rows
    finally:
        con.close()


def _stray_processes(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line and "ps -eo" not in line]


@pytest.fixture(scope="module")
def listener():
    """A TCP server on the grader's loopback that counts connections (there must be none)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    hits = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                hits.append(conn)
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def hostile(layout, tmp_path_factory, listener):
    tmp = tmp_path_factory.mktemp("hostile")
    workspace, subs, out = tmp / "ws", tmp / "subs", tmp / "out" / "grades.csv"
    port, _ = listener
    full = solution_sources()

    def write(student, nb=None, name=NB, text=None):
        folder = subs / student
        folder.mkdir(parents=True)
        if text is not None:
            (folder / name).write_text(text)
        else:
            nbformat.write(nb, folder / name)

    # An honest student graded first: their grades must not move.
    write("aaa_before", build(layout))
    grade(layout, "01_convolution", subs, out, workspace=workspace, progress=False,
          cell_timeout=5, log=lambda *a: None)
    before = _assignment_tables(workspace / "gradebook.db", "aaa_before")
    solutions_before = _digest_tree(layout.solutions)

    secrets = [layout.solutions / "01_convolution" / NB,
               layout.solutions / "01_convolution" / "verdicts.py",
               workspace / "gradebook.db",
               workspace / "submitted" / "aaa_before" / "01_convolution" / NB,
               workspace / "autograded",
               Path.home() / ".bashrc",
               ROOT / "README.md",
               Path("/new_file_in_the_sandbox_root")]
    # The gradebook and autograded/ change as grades go in; their content is checked
    # table by table above. Everything else must stay byte-identical.
    fixed = [p for p in secrets if p.name not in ("gradebook.db", "autograded")]
    host_files_before = {p: _digest_path(p) for p in fixed}

    def delete_tests(nb):
        nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]

    def tamper_tests(nb):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                cell.source = "pass"
                meta["points"] = 100
            if meta.get("grade_id") == "conv2d_forward":
                meta.update(grade=True, points=50, solution=False)

    def duplicate_first_answer(nb):
        cells = _cells(nb)
        blank = copy.deepcopy(_cells(_release(layout))["correlate2d"])
        nb.cells.insert(nb.cells.index(cells["correlate2d"]), blank)

    def retype_pad(nb):
        _cells(nb)["pad2d"].metadata = {}

    def swap_metadata(nb):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                meta.update(grade=False, solution=True, locked=False)
                cell.source = "pass"
            elif meta.get("solution"):
                meta.update(grade=True, points=100)

    write("tamper_tests", build(layout, blank=("conv2d_forward", "sobel_edges"), edit=tamper_tests))
    write("delete_tests", build(layout, blank=("sobel_edges",), edit=delete_tests))
    write("duplicate_answer", build(layout, edit=duplicate_first_answer))
    write("reordered", build(layout, edit=lambda nb: nb.cells.reverse()))
    write("retyped_answer", build(layout, edit=retype_pad))
    write("swapped_metadata", build(layout, answers={}, edit=swap_metadata))
    write("fake_checks", build(layout, answers={"correlate2d": FAKE_CHECKS}))
    write("patch_libraries", build(layout, answers={"correlate2d": PATCH_LIBRARIES,
                                                    "conv_output_size": full["conv_output_size"]}))
    write("input_transformer", blank_with(layout, TRANSFORMER))
    write("traceback_hooks", blank_with(layout, TRACEBACK))
    write("no_profiler", build(layout, answers={**full, **SHORTCUT_ANSWERS},
                               prefix={"correlate2d": NO_PROFILER}))
    write("atexit_modules", blank_with(layout, ATEXIT_MODULES))
    write("snoop", blank_with(layout, snoop(secrets)))
    write("sigint_loop", build(layout, prefix={"correlate2d": SIGINT_LOOP}))
    write("os_exit", build(layout, prefix={"pad2d": OS_EXIT}))
    write("kill_parent", build(layout, prefix={"pad2d": KILL_PARENT}))
    write("fork_bomb", blank_with(layout, FORK_BOMB))
    write("memory", build(layout, prefix={"sobel_edges": MEMORY}))
    write("disk", build(layout, prefix={"sobel_edges": DISK}))
    write("output", build(layout, prefix={"correlate2d": OUTPUT}))
    write("spawn", blank_with(layout, SPAWN))
    write("network", blank_with(layout, network(port)))
    write("invalid_json", text='{"cells": [')
    write("wrong_name", build(layout), name="Homework 1 (final).ipynb")
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    other.cells[0].metadata["nbgrader"] = {"grade_id": "lenet_answer", "solution": True,
                                          "grade": False, "locked": False, "schema_version": 3}
    write("other_assignment", other)
    write("zzz_correct_after", build(layout))

    rows = grade(layout, "01_convolution", subs, out, workspace=workspace, progress=False,
                 cell_timeout=5, jobs=2, log=lambda *a: None)
    after = _assignment_tables(workspace / "gradebook.db", "aaa_before")
    host_files_after = {p: _digest_path(p) for p in fixed}
    return {
        "host_files_unchanged": host_files_before == host_files_after,
        "rows": {r.student_id: r for r in rows},
        "feedback": out.parent / "feedback",
        "tables_unchanged": before == after,
        "solutions_unchanged": solutions_before == _digest_tree(layout.solutions),
        "secrets": secrets,
        "workspace": workspace,
    }


# (score, status, a piece of the reason)
EXPECTED = {
    "tamper_tests": (9, "graded", "7 of 15 tests failed (not written yet: 7)"),
    "delete_tests": (14, "graded", "2 of 15 tests failed"),
    "duplicate_answer": (11, "graded", "cell correlate2d appears twice"),
    "reordered": (FULL, "graded", ""),
    "retyped_answer": (7, "graded", "answer cells not found (deleted or re-typed): pad2d"),
    "swapped_metadata": (0, "graded", "15 of 15 tests failed"),
    "fake_checks": (0, "flagged", "notebook and grader disagree"),
    # patching builtins.isinstance also hangs IPython itself: either way, flagged at 2
    "patch_libraries": (2, "flagged", "score from the grader's check"),
    "input_transformer": (0, "flagged", "notebook and grader disagree"),
    "no_profiler": (2, "flagged", "shortcut used"),
    "atexit_modules": (0, "graded", "15 of 15 tests failed"),
    "snoop": (0, "graded", "15 of 15 tests failed"),
    "sigint_loop": (11, "flagged", "did not finish"),
    "os_exit": (7, "flagged", "Kernel died"),
    "kill_parent": (FULL, "graded", ""),
    "memory": (14, "graded", "error in sobel_edges: MemoryError"),
    "disk": (14, "graded", "error in sobel_edges: OSError"),
    "output": (FULL, "graded", ""),
    "spawn": (0, "graded", "15 of 15 tests failed"),
    "network": (0, "graded", "15 of 15 tests failed"),
    "wrong_name": (FULL, "graded", "graded Homework 1 (final).ipynb as 01_convolution.ipynb"),
    "zzz_correct_after": (FULL, "graded", ""),
    "aaa_before": (FULL, "graded", ""),
}
FAILED = {
    "invalid_json": "is not a valid notebook",
    "other_assignment": "is not 01_convolution",
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_attack_earns_exactly_its_honest_points(hostile, student):
    row = hostile["rows"][student]
    score, status, reason = EXPECTED[student]
    assert (row.score, row.status) == (score, status), row
    assert reason in row.reason, row


@pytest.mark.parametrize("student", sorted(FAILED))
def test_malformed_input_fails_with_a_reason(hostile, student):
    row = hostile["rows"][student]
    assert row.status == "failed" and row.score is None
    assert FAILED[student] in row.reason


def test_blank_attacks_with_hooks_get_zero_whatever_the_kernel_said(hostile):
    row = hostile["rows"]["traceback_hooks"]
    assert row.score == 0 and row.status in ("graded", "flagged")
    assert hostile["rows"]["fork_bomb"].score == 0


def _printed(hostile, student: str) -> str:
    """What the student's cells printed during grading (the autograded notebook)."""
    nb = nbformat.read(hostile["workspace"] / "autograded" / student / "01_convolution" / NB, 4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)


def test_nothing_outside_the_submission_was_read_or_written(hostile):
    printed = _printed(hostile, "snoop")
    for path in hostile["secrets"]:
        assert f"BLOCKED: {path}" in printed, f"{path} was reachable from the sandbox"
    assert "EXPOSED" not in printed
    assert hostile["host_files_unchanged"]
    assert hostile["solutions_unchanged"]
    assert hostile["tables_unchanged"]


def test_no_network(hostile, listener):
    _, hits = listener
    printed = _printed(hostile, "network")
    assert "CONNECTED" not in printed and printed.count("BLOCKED") == 3
    assert hits == []


def test_spawned_processes_and_cgroups_are_cleaned_up(hostile):
    assert _stray_processes("sleep 432") == []
    root = ProcessLimit.available_root()
    if root is not None:
        assert not [p for p in (root / "cnn_course").glob(f"sbx-{os.getpid()}-*")]


def test_big_output_is_truncated_in_the_feedback(hostile):
    html = (hostile["feedback"] / "output" / "01_convolution.html")
    assert html.stat().st_size < 5_000_000
    assert "output truncated" in html.read_text()
