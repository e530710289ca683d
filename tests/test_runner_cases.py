"""The trusted runner's cases: a function's consecutive cases share one forked child
(a fork per case was most of the runner's CPU), and still each case has its own CPU
limit, a crash costs only the call that crashed, and a timed-out function is not
called again."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from cnn_course.course.grading.trusted import parse_frames
from conftest import ROOT

# The student's functions: ``pid`` and ``other`` report their process; ``flaky`` ends
# its process on 1; ``slow`` spins past its CPU limit on 1; ``burn`` spins 0.2 s.
SCRIPT = """
import os, sys, time
from cnn_course.course.grading import runner
from cnn_course.course.testing import codec

runner.OUT = int(sys.argv[1])
budget = runner.cpu_used() + float(sys.argv[2])  # seconds from now
names = sys.argv[3].split(",")
def burn(i):
    start = time.process_time()
    while time.process_time() - start < 0.2:
        pass
    return i
def pid(i):
    return os.getpid()
def other(i):
    return os.getpid()
def flaky(i):
    if i == 1:
        os._exit(3)
    return i
def slow(i):
    while i == 1:
        pass
    return i
ns = {f.__name__: f for f in (burn, pid, other, flaky, slow)}
cases = [{"id": f"{name}{i}", "call": {"func": name, "args": [codec.encode(i)]},
          "key": None, "cpu_seconds": 0.3} for name in names for i in range(3)]
if "pid" in names:  # pid again, after other functions
    cases.append({"id": "pid3", "call": {"func": "pid", "args": [3]}, "key": None,
                  "cpu_seconds": 0.3})
runner.run_cases(cases, ns, {"total_cpu": budget, "wall_factor": 10}, codec)
"""
NAMES = ("pid", "other", "flaky", "slow")


def _run_cases(tmp_path, budget: float = 100.0, names=NAMES) -> dict[str, dict]:
    """The outcome of each case, by id; ``budget``: CPU seconds for all cases."""
    out = tmp_path / "frames"
    with open(out, "wb") as sink:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(SCRIPT), str(sink.fileno()),
             str(budget), ",".join(names)], pass_fds=(sink.fileno(),),
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    ids = {f"{name}{i}" for name in names for i in range(4)}
    _, outcomes = parse_frames(out.read_bytes(), set(), ids)
    return outcomes


def test_a_functions_cases_share_a_child_and_each_function_gets_its_own(tmp_path):
    outcomes = _run_cases(tmp_path)
    assert len(outcomes) == 13  # every case answered
    pids = {cid: o["value"] for cid, o in outcomes.items() if cid[:-1] in ("pid", "other")}
    assert pids["pid0"] == pids["pid1"] == pids["pid2"]  # one child for the three
    assert pids["other0"] == pids["other1"] == pids["other2"] != pids["pid0"]
    assert pids["pid3"] not in (pids["pid0"], pids["other0"])  # a later run: a new child


def test_a_crash_costs_only_its_call_and_a_timeout_skips_the_rest(tmp_path):
    outcomes = _run_cases(tmp_path)
    assert [outcomes[f"flaky{i}"]["status"] for i in range(3)] == ["ok", "crashed", "ok"]
    assert outcomes["flaky2"]["value"] == 2  # run again, in a fresh child
    assert [outcomes[f"slow{i}"]["status"] for i in range(3)] == [
        "ok", "timeout", "skipped"]
    assert "0.3 s" in outcomes["slow1"]["evalue"]  # its own limit, not the group's


def test_the_budget_is_kept_inside_a_childs_run_of_cases(tmp_path):
    """0.15 s left: the first call (0.2 s) runs, and spends it; the child stops the
    function's next calls, and the parent the next function's."""
    outcomes = _run_cases(tmp_path, budget=0.15, names=("burn", "other"))
    assert outcomes["burn0"]["status"] == "ok"
    rest = [outcomes[cid] for cid in ("burn1", "burn2", "other0", "other1", "other2")]
    assert {o["status"] for o in rest} == {"timeout"}
    assert all("CPU budget" in o["evalue"] for o in rest)
