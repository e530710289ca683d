"""The threat model of the hardened grader, one hostile submission per item.

Every submission is built from the course's real assignment. Each must get exactly the
points its honest code earns (an attack with blank answers gets 0), with the status and
reason asserted; a correct submission graded after them still gets full marks, and the
solutions and the gradebook's assignment data are byte-identical before and after.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from cnn_course.course.grading.grade import grade
from cnn_course.course.grading.sandbox import detect
from cnn_course.course.spec.generate import solution_answers
from conftest import ROOT

# Skip only where bubblewrap is not installed at all; installed but broken must fail.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap (bwrap) is not installed")]


def test_the_sandbox_works_where_bubblewrap_is_installed():
    assert detect().sandboxed, detect().description


NB = "01_convolution.ipynb"
FULL = 16


def solution_sources():
    return solution_answers(nbformat.read(ROOT / "solutions" / "01_convolution" / NB, 4))


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
check = lambda *a, **k: None
_checks.check_for = lambda *a, **k: (lambda *a, **k: None)
def correlate2d(image, kernel): return np.zeros((1, 1))
def pad2d(x, pad, mode="zeros"): return np.zeros(1)
def conv_output_size(size, kernel, stride=1, pad=0, dilation=1): return 0
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
# The in-notebook detector is disarmed (no profiler), and the answers call libraries.
NO_PROFILER = '''
import sys, threading
sys.setprofile = lambda *a, **k: None
threading.setprofile = lambda *a, **k: None
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
# numpy's own private helpers and C routines, and a re-loaded copy of its C core
NUMPY_PRIVATE = {
    "correlate2d": '''
import importlib
import numpy._core._multiarray_umath as _core
try:
    importlib.reload(_core)
except Exception:
    pass
_c2 = getattr(_core, "correlate2")
def correlate2d(image, kernel):
    image, kernel = np.asarray(image, float), np.asarray(kernel, float)
    HH = kernel.shape[0]
    return np.array([sum(_c2(image[i + p], kernel[p], 0) for p in range(HH))
                     for i in range(image.shape[0] - HH + 1)])
''',
    "pad2d": '''
from numpy.lib._arraypad_impl import _as_pairs, _pad_simple
def pad2d(x, pad, mode="zeros"):
    if mode != "zeros":
        raise ValueError(mode)
    padded, _ = _pad_simple(x, _as_pairs([(0, 0), (0, 0), (pad, pad), (pad, pad)], x.ndim),
                            fill_value=0)
    return padded
''',
}
# scipy from the base interpreter's own site-packages
BASE_SCIPY = '''
import sys
for _p in ("/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages",
           "/usr/lib/python3/dist-packages"):
    sys.path.append(_p)
from scipy.signal import correlate2d as _sc
def correlate2d(image, kernel):
    return _sc(image, kernel, mode="valid")
'''
# the library call made in a thread, where a one-thread profiler would not look
THREAD_PAD = '''
import threading
def pad2d(x, pad, mode="zeros"):
    modes = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}
    if mode not in modes:
        raise ValueError(mode)
    box = []
    t = threading.Thread(target=lambda: box.append(np.pad(
        x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode=modes[mode])))
    t.start()
    t.join()
    return box[0]
'''
ATEXIT_MODULES = '''
import atexit, sys, types
atexit.register(lambda: print("bye"))
_fake = types.ModuleType("cnn_course.course.testing")
_fake.check_for = lambda *a, **k: (lambda *a, **k: None)
sys.modules["cnn_course.course.testing"] = _fake
sys.modules["numpy.testing"] = types.ModuleType("numpy.testing")
'''
SIGINT_LOOP = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
# ignores every interrupt, the CPU-time one included
DEAF_LOOP = '''import signal
for _s in (signal.SIGINT, signal.SIGPROF, signal.SIGXCPU):
    signal.signal(_s, signal.SIG_IGN)
while True:
    pass'''
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
    for _where in (".", "/tmp", "/dev/shm"):
        with open(f"{_where}/fill{_i}", "wb") as _f:
            _f.write(b"0" * 2**23)
    _i += 1
'''
SHM = '''
_n = 0
try:
    with open("/dev/shm/fill", "wb") as _f:
        for _n in range(1, 193):
            _f.write(b"0" * 2**20)
            _f.flush()
except OSError:
    pass
print(f"SHM {_n} MiB")
'''
OUTPUT = 'print("x" * 30_000_000)'
SPAWN = '''
import os, subprocess
subprocess.Popen(["sleep", "4321"])
os.system("sleep 4322 &")
'''
SYNTAX_ERROR = "\n\ndef broken(:\n    pass\n"
SCRIPT_OUTPUT = '''
from IPython.display import HTML, display
display(HTML("<script>document.title='pwned-by-script'</script><b>bold</b>"))
'''
FAKE_SUMMARY = '''
def correlate2d(image, kernel):
    raise ValueError("<img src=x onerror=alert(1)><h2>Every test passed. Score 16 of 16</h2>")
'''
TERMINAL = '''
def correlate2d(image, kernel):
    raise ValueError("\\x1b[2J\\x1b[31mall tests passed 16/16")
'''
# garbage frames on the runner's result pipe (its fd is sys.argv[1] there)
FORGED_FRAMES = '''
import json, os, sys
def _frame(obj):
    data = json.dumps(obj).encode()
    return len(data).to_bytes(4, "big") + data
try:
    _fd = int(sys.argv[1])
    os.write(_fd, _frame({"case": [1, 2], "status": "ok"}))
    os.write(_fd, _frame({"case": "c000", "status": "ok", "value": {
        "__ndarray__": "AAAA", "dtype": "<f8", "shape": [2**40]}}))
    os.write(_fd, _frame(["not", "a", "dict"]))
except (IndexError, ValueError, OSError):
    pass
'''
SETUID = '''
import os, shutil, stat, sys
_places = [os.getcwd(), "/tmp", os.path.expanduser("~")]
for _arg in sys.argv:
    if _arg.endswith(".json"):
        _places.append(os.path.dirname(_arg))
        try:
            with open(_arg, "a") as _f:
                _f.write("tampered")
            print("CONNECTION WRITTEN")
        except OSError:
            print("CONNECTION BLOCKED")
for _d in _places:
    try:
        _t = os.path.join(_d, "id_copy")
        shutil.copy("/usr/bin/id", _t)
        os.chmod(_t, 0o4755)
        _s = os.stat(_t)
        print("SETUID", _d, _s.st_uid, oct(_s.st_mode))
    except OSError as _e:
        print("NOSETUID", _d, type(_e).__name__)
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


def _pytest_temp(factory) -> Path:
    """pytest's temp folder for this user: the tests' own folders, of this run (every
    xdist worker) and of the earlier runs pytest keeps."""
    base = factory.getbasetemp()
    for folder in (base, *base.parents):
        if folder.name.startswith("pytest-of-"):
            return folder
    return base.parent if base.name.startswith("popen-gw") else base


def _setuid_files(folder: Path, skip: Path | None = None) -> list[str]:
    """Setuid files under ``folder``, not looking inside ``skip``."""
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if skip is None or Path(top, d) != skip]
        for name in files:
            path = Path(top) / name
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if mode & 0o4000:
                found.append(str(path))
    return found


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


LONG = "a" * 250


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

    started = time.time()
    # An honest student graded first: their grades must not move.
    write("aaa_before", build(layout))
    grade(layout, "01_convolution", subs, out, workspace=workspace, progress=False,
          similarity=False, log=lambda *a: None)
    before = _assignment_tables(workspace / "gradebook.db", "aaa_before")
    solutions_before = _digest_tree(layout.solutions / "01_convolution")

    secrets = [layout.solutions / "01_convolution" / NB,
               layout.solutions / "01_convolution" / "spec.py",
               workspace / "gradebook.db",
               workspace / "submitted" / "aaa_before" / "01_convolution" / NB,
               workspace / "autograded",
               Path("/etc/shadow"), Path("/etc/gshadow"),
               Path.home() / ".bashrc", Path.home() / ".ssh",
               ROOT / "README.md",
               Path("/new_file_in_the_sandbox_root")]
    # The gradebook and autograded/ change as grades go in; their content is checked
    # table by table above. Everything else must stay byte-identical.
    fixed = [p for p in secrets if p.name not in ("gradebook.db", "autograded")
             and not str(p).startswith(("/etc", "/root"))]
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
    write("numpy_private", build(layout, answers={**full, **NUMPY_PRIVATE}))
    write("base_scipy", build(layout, answers={**full, "correlate2d": BASE_SCIPY}))
    write("thread_shortcut", build(layout, answers={**full, "pad2d": THREAD_PAD}))
    write("atexit_modules", blank_with(layout, ATEXIT_MODULES))
    write("snoop", blank_with(layout, snoop(secrets)))
    write("setuid", blank_with(layout, SETUID))
    write("shm", blank_with(layout, SHM))
    write("sigint_loop", build(layout, prefix={"correlate2d": SIGINT_LOOP}))
    write("deaf_loop", build(layout, prefix={"sobel_edges": DEAF_LOOP}))
    write("os_exit", build(layout, prefix={"pad2d": OS_EXIT}))
    write("kill_parent", build(layout, prefix={"pad2d": KILL_PARENT}))
    write("fork_bomb", blank_with(layout, FORK_BOMB))
    write("memory", build(layout, prefix={"sobel_edges": MEMORY}))
    write("disk", build(layout, prefix={"sobel_edges": DISK}))
    write("output", build(layout, prefix={"correlate2d": OUTPUT}))
    write("spawn", blank_with(layout, SPAWN))
    write("network", blank_with(layout, network(port)))
    write("syntax_error", build(layout, answers={**full, "sobel_edges":
                                                 full["sobel_edges"] + SYNTAX_ERROR}))
    write("script_output", build(layout, prefix={"correlate2d": SCRIPT_OUTPUT}))
    write("fake_summary", build(layout, answers={**full, "correlate2d": FAKE_SUMMARY}))
    write("terminal", build(layout, answers={**full, "correlate2d": TERMINAL}))
    write("forged_frames", build(layout, prefix={"correlate2d": FORGED_FRAMES}))
    write(LONG, build(layout))
    write("=1+1", build(layout))
    write("invalid_json", text='{"cells": [')
    write("wrong_name", build(layout), name="Homework 1 (final).ipynb")
    (subs / "linked").mkdir()
    (subs / "linked" / NB).symlink_to(layout.solutions / "01_convolution" / NB)
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    other.cells[0].metadata["nbgrader"] = {"grade_id": "lenet_answer", "solution": True,
                                          "grade": False, "locked": False, "schema_version": 3}
    write("other_assignment", other)
    write("zzz_correct_after", build(layout))

    # Three at a time on two cores: several attacks mostly wait (a silent heartbeat's
    # grace, a loop that ignores signals, a network timeout), and every limit is CPU time
    rows = grade(layout, "01_convolution", subs, out, workspace=workspace, progress=False,
                 jobs=3, similarity=False, log=lambda *a: None)
    after = _assignment_tables(workspace / "gradebook.db", "aaa_before")
    host_files_after = {p: _digest_path(p) for p in fixed}
    return {
        "host_files_unchanged": host_files_before == host_files_after,
        "rows": {r.student_id: r for r in rows},
        "feedback": out.parent / "feedback",
        "csv": out,
        "tables_unchanged": before == after,
        "solutions_unchanged": solutions_before == _digest_tree(layout.solutions / "01_convolution"),
        "started": started,
        "secrets": secrets,
        "workspace": workspace,
        # the host's temp folder, but not the tests' folders (test_sandbox makes a
        # setuid-nobody file on purpose, maybe while this runs); this fixture's folder
        # is scanned whole
        "setuid_on_host": _setuid_files(tmp) + _setuid_files(
            Path(tempfile.gettempdir()), skip=_pytest_temp(tmp_path_factory)),
    }


# (score, status, a piece of the reason)
EXPECTED = {
    "tamper_tests": (9, "graded", "7 of 15 tests failed (not written yet: 7)"),
    "delete_tests": (14, "graded", "2 of 15 tests failed"),
    "duplicate_answer": (11, "graded", "cell correlate2d appears twice"),
    "reordered": (FULL, "graded", ""),
    "retyped_answer": (7, "graded", "answer cells not found (deleted or re-typed): pad2d"),
    "swapped_metadata": (0, "graded", "15 of 15 tests failed"),
    "fake_checks": (0, "flagged", "the notebook's tests and the grader's check disagree"),
    # patching builtins.isinstance also hangs IPython itself: either way, flagged at 2
    "patch_libraries": (2, "flagged", "the score is the grader's"),
    "input_transformer": (0, "flagged", "the notebook's tests and the grader's check disagree"),
    "no_profiler": (2, "flagged", "shortcut used"),
    "numpy_private": (2, "graded", "shortcut used"),
    "base_scipy": (11, "graded", "scipy"),
    "thread_shortcut": (7, "graded", "pad2d_visible"),
    "atexit_modules": (0, "graded", "15 of 15 tests failed"),
    "snoop": (0, "graded", "15 of 15 tests failed"),
    "setuid": (0, "graded", "15 of 15 tests failed"),
    "shm": (0, "graded", "15 of 15 tests failed"),
    "sigint_loop": (11, "graded", "CPU time"),
    "deaf_loop": (14, "flagged", "ignored its"),
    "os_exit": (7, "flagged", "did not finish"),
    "kill_parent": (FULL, "graded", ""),
    "memory": (14, "graded", "MemoryError"),
    "disk": (14, "graded", "OSError"),
    "output": (FULL, "graded", ""),
    "spawn": (0, "graded", "15 of 15 tests failed"),
    "network": (0, "graded", "15 of 15 tests failed"),
    "syntax_error": (14, "graded", "SyntaxError"),
    "script_output": (FULL, "graded", ""),
    "fake_summary": (11, "graded", "Every test passed"),
    "terminal": (11, "graded", "all tests passed 16/16"),
    "forged_frames": (FULL, "graded", ""),
    LONG: (FULL, "graded", ""),
    "=1+1": (FULL, "graded", ""),
    "wrong_name": (FULL, "graded", "graded Homework 1 (final).ipynb as 01_convolution.ipynb"),
    "zzz_correct_after": (FULL, "graded", ""),
    "aaa_before": (FULL, "graded", ""),
}
FAILED = {
    "invalid_json": "is not a valid notebook",
    "other_assignment": "is not 01_convolution",
    "linked": "is a link",
}


@pytest.mark.parametrize("student", sorted(EXPECTED), ids=lambda s: s[:20])
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


def test_every_submission_has_a_row(hostile):
    assert set(hostile["rows"]) == set(EXPECTED) | set(FAILED) | {"traceback_hooks",
                                                                  "fork_bomb"}


def test_blank_attacks_with_hooks_get_zero_whatever_the_kernel_said(hostile):
    row = hostile["rows"]["traceback_hooks"]
    assert row.score == 0 and row.status in ("graded", "flagged")
    assert hostile["rows"]["fork_bomb"].score == 0


def _printed(hostile, student: str) -> str:
    """What the student's cells printed during grading (the autograded notebook)."""
    gid = hostile["rows"][student].gradebook_id
    nb = nbformat.read(hostile["workspace"] / "autograded" / gid / "01_convolution" / NB, 4)
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


def test_student_code_is_not_root_and_leaves_nothing_setuid_on_the_host(hostile):
    printed = _printed(hostile, "setuid")
    assert "CONNECTION WRITTEN" not in printed
    for line in printed.splitlines():
        if line.startswith("SETUID"):  # made inside its own tmpfs: not root's, not the host's
            assert line.split()[2] != "0", line
    assert hostile["setuid_on_host"] == []


def test_dev_shm_is_capped(hostile):
    printed = _printed(hostile, "shm")
    written = int(printed.split("SHM ")[1].split()[0])
    assert written <= 17, f"{written} MiB went into /dev/shm"


def test_no_network(hostile, listener):
    _, hits = listener
    printed = _printed(hostile, "network")
    assert "CONNECTED" not in printed and printed.count("BLOCKED") == 3
    assert hits == []


def test_spawned_processes_and_cgroups_are_cleaned_up(hostile):
    """No sleeper survives, and no sandbox cgroup outlives the grader that made it."""
    assert _stray_processes("sleep 432") == []
    orphans = []
    for folder in Path("/sys/fs/cgroup").rglob("sbx-*"):
        if folder.stat().st_mtime < hostile["started"]:
            continue  # not this batch's
        owner = int(folder.name.split("-")[1])
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            orphans.append(folder)
        except PermissionError:
            pass
    assert orphans == []


def test_big_output_is_truncated_in_the_feedback(hostile):
    html = (hostile["feedback"] / "output" / "01_convolution.html")
    assert html.stat().st_size < 5_000_000
    assert "output truncated" in html.read_text()


def test_student_html_and_messages_are_escaped_everywhere(hostile):
    script = (hostile["feedback"] / "script_output" / "01_convolution.html").read_text()
    assert "pwned-by-script" not in script or "<script>document" not in script
    summary = (hostile["feedback"] / "fake_summary" / "01_convolution.html").read_text()
    assert "<img src=x" not in summary and "<h2>Every test passed" not in summary
    with open(hostile["csv"], newline="") as f:
        records = {r["gradebook_id"]: r for r in csv.DictReader(f)}
    terminal = records[hostile["rows"]["terminal"].gradebook_id]
    assert "\x1b" not in terminal["reason"] and "\\x1b[2J" in terminal["reason"]
    assert records[hostile["rows"]["=1+1"].gradebook_id]["student_id"] == "'=1+1"
    assert records[hostile["rows"][LONG].gradebook_id]["student_id"] == LONG


def test_one_time_budget_per_submission(layout, tmp_path):
    """Every function loops: the notebook and the grader's check share one CPU budget
    (--notebook-timeout), and a function that timed out is not called again."""
    loop = "\n".join(f"def {name}(*args, **kwargs):\n    while True:\n        pass\n"
                     for name in ("correlate2d", "pad2d", "conv_output_size",
                                  "conv2d_forward", "sobel_edges"))
    subs = tmp_path / "subs" / "looper"
    subs.mkdir(parents=True)
    nbformat.write(build(layout, answers={"correlate2d": loop}), subs / NB)
    started = time.monotonic()
    (row,) = grade(layout, "01_convolution", subs.parent, tmp_path / "g.csv",
                   workspace=tmp_path / "ws", progress=False, similarity=False,
                   submission_cpu=30, log=lambda *a: None)
    assert row.score == 0 and "timeout" in row.reason
    # 30 s of CPU in all; the wall-clock allowance is generous for a loaded machine
    assert time.monotonic() - started < 400


BURN = ("import time as _t\n_start = _t.process_time()\n"
        "while _t.process_time() - _start < {seconds}:\n    pass\n")


def test_the_graders_check_runs_while_the_notebook_does(layout, tmp_path, monkeypatch):
    """The check starts before the notebook's kernel (BeginTrustedVerdicts) and is still
    working when the kernel runs its first cell: the first answer cell spends 3 s of CPU
    in each sandbox. The score is the full solution's, as when they ran in turn."""
    from cnn_course.course.grading.execute import SandboxedExecute
    from cnn_course.course.grading.preprocessors import STARTED_CHECK

    seen = []
    original = SandboxedExecute.preprocess_cell

    def spy(self, cell, resources, index):
        check = resources.get("cnn_course", {}).get(STARTED_CHECK)
        if cell.cell_type == "code" and not seen:
            seen.append((check is not None, check is not None and
                         check.run._proc.poll() is None))
        return original(self, cell, resources, index)

    monkeypatch.setattr(SandboxedExecute, "preprocess_cell", spy)
    subs = tmp_path / "subs" / "burner"
    subs.mkdir(parents=True)
    nbformat.write(build(layout, prefix={"correlate2d": BURN.format(seconds=3)}), subs / NB)
    (row,) = grade(layout, "01_convolution", subs.parent, tmp_path / "g.csv",
                   workspace=tmp_path / "ws", progress=False, similarity=False,
                   feedback=False, log=lambda *a: None)
    assert seen == [(True, True)]
    assert (row.score, row.status) == (FULL, "graded")


def test_the_notebook_stops_once_it_and_the_check_have_spent_the_budget(tmp_path):
    """SandboxedExecute counts the CPU of the check running beside it: with the
    submission's budget already spent by the check, no cell runs, and the reason says
    who spent it."""
    from nbformat.v4 import new_code_cell, new_notebook

    from cnn_course.course.grading.execute import SandboxedExecute
    from cnn_course.course.grading.preprocessors import STARTED_CHECK

    class Spent:
        def cpu_seconds(self):
            return 31.0

    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("print(x)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    resources = {"metadata": {"path": str(tmp_path)}, "cnn_course": {STARTED_CHECK: Spent()}}
    SandboxedExecute(sandboxed=False, submission_cpu=30).preprocess(nb, resources)
    assert [c.outputs[0].ename for c in nb.cells] == ["NotRun", "NotRun"]
    assert resources["cnn_course"]["notebook_error"] == (
        "the notebook and the grader's check used the submission's 30 s of CPU time")
    # without the check's 31 s, the same notebook runs
    resources = {"metadata": {"path": str(tmp_path)}}
    SandboxedExecute(sandboxed=False, submission_cpu=30).preprocess(nb, resources)
    assert nb.cells[1].outputs[0].text.strip() == "1"


def test_the_check_stops_once_it_and_the_notebook_have_spent_the_budget(layout):
    """The runner's budget is what the kernel beside it has not spent, asked at every
    look: a kernel that has spent it all stops the runner before any case comes back,
    and with nothing spent beside it the same check passes every test."""
    from cnn_course.course.grading.trusted import start_trusted
    from cnn_course.course.spec import load_spec

    spec = load_spec(ROOT / "solutions", "01_convolution")
    nb = build(layout)
    done = start_trusted(spec, nb, sandboxed=True, total_cpu=60, session_seed=1,
                         spent_elsewhere=lambda: 0.0).result(spec)
    assert done.score == FULL
    stopped = start_trusted(spec, nb, sandboxed=True, total_cpu=60, session_seed=1,
                            spent_elsewhere=lambda: 1000.0).result(spec)
    assert stopped.score == 0 and not stopped.cells
    assert {v.kind for t in stopped.tests.values() for _, v in t.verdicts} == {"no result"}
