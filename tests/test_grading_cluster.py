"""`cnn-course grade --cluster`: the sandboxed runs on Dask workers, the rest here.

One class of three submissions of assignment 01 is graded twice: with `--jobs 2` on
this machine, and with `--jobs 2` on a real `distributed.LocalCluster` of two worker
processes, where one worker is killed in the middle of a submission. A worker plugin
(tests/cluster_helpers.py) records what every task received. Started here, stopped
here: nothing needs to run beforehand.
"""

from __future__ import annotations

import base64
import pickle
import shutil
import sqlite3
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from cnn_course.course.grading.examples import write_examples
from cnn_course.course.grading.grade import grade
from cnn_course.course.spec import load_spec

A = "01_convolution"
NB = f"{A}.ipynb"
STUDENTS = ("blank", "full_solution", "partly_correct")
EXECUTE_KEYS = {"notebook", "sandboxed", "cell_cpu", "submission_cpu", "test_cpu", "timeout",
                "max_output_bytes", "extra_arguments"}
RUNNER_KEYS = {"job", "assignment", "allow", "forbid", "sandboxed", "total_cpu", "limits"}
JOB_KEYS = {"cells", "helpers", "cases", "limits", "preload", "lazy", "forbid_builtins",
            "forbid_modules"}
CASE_KEYS = {"id", "call", "key", "cpu_seconds"}


def _quiet(*args):
    pass


@pytest.fixture(scope="module")
def batch(layout, tmp_path_factory):
    distributed = pytest.importorskip(
        "distributed", reason="Dask is not installed: pip install -e '.[cluster]'")
    from cluster_helpers import Spy

    tmp = tmp_path_factory.mktemp("cluster")
    examples = write_examples(layout, A, tmp / "examples")
    for student in STUDENTS:
        shutil.copytree(examples / student, tmp / "subs" / student)
    common = dict(jobs=2, allow_unsandboxed=True, similarity=False, progress=False)
    local = grade(layout, A, tmp / "subs", tmp / "local" / "grades.csv",
                  workspace=tmp / "ws_local", log=_quiet, **common)
    (tmp / "spy").mkdir()
    messages = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit=0) as cluster, \
            distributed.Client(cluster) as client:
        client.register_plugin(Spy(str(tmp / "spy"), str(tmp / "killed"), kill_after_s=1.0))
        rows = grade(layout, A, tmp / "subs", tmp / "cluster" / "grades.csv",
                     workspace=tmp / "ws_cluster", cluster=cluster.scheduler_address,
                     log=messages.append, **common)
    return SimpleNamespace(tmp=tmp, local=local, rows=rows, messages=messages)


def _records(batch):
    from cluster_helpers import records

    return records(batch.tmp / "spy")


def test_the_cluster_gives_the_same_csv_and_feedback_as_jobs_2(batch):
    assert (batch.tmp / "cluster" / "grades.csv").read_text() == \
        (batch.tmp / "local" / "grades.csv").read_text()
    assert {r.student_id: (r.score, r.status) for r in batch.rows} == \
        {"blank": (0, "graded"), "full_solution": (16, "graded"),
         "partly_correct": (8, "graded")}
    for student in STUDENTS:  # feedback is written here, from the gradebook
        assert (batch.tmp / "cluster" / "feedback" / student / f"{A}.html").is_file()
    assert any(m.startswith("isolation: 2 Dask worker(s)") for m in batch.messages)


def test_a_worker_killed_mid_submission_loses_no_student_and_scores_once(batch):
    killed_key, killed_pid = (batch.tmp / "killed").read_text().split()
    runs = [r for r in _records(batch) if r["key"] == killed_key]
    # the scheduler ran the killed task again, in another worker process
    assert len(runs) >= 2 and runs[0]["pid"] == int(killed_pid)
    assert {r["pid"] for r in runs[1:]} - {int(killed_pid)}
    # one kernel task and one runner task per student: the retry was Dask's, the
    # grader sent each submission once
    for kind in ("kernel", "runner"):
        keys = {r["key"] for r in _records(batch) if f"cnn-course-{kind}-" in r["key"]}
        assert sorted(k.split("-")[3] for k in keys) == sorted(
            s.split("-")[0] for s in STUDENTS), keys
    # every student in the gradebook once: one submission, one grade per test cell,
    # adding up to the CSV's score
    db = sqlite3.connect(batch.tmp / "ws_cluster" / "gradebook.db")
    cells = db.execute("SELECT COUNT(*) FROM grade_cells").fetchone()[0]
    graded = db.execute(
        "SELECT a.student_id, COUNT(DISTINCT a.id), COUNT(g.id), SUM(g.auto_score) "
        "FROM submitted_assignment a JOIN submitted_notebook n ON n.assignment_id = a.id "
        "JOIN grade g ON g.notebook_id = n.id GROUP BY a.student_id").fetchall()
    assert sorted(graded) == [(r.student_id, 1, cells, r.score) for r in
                              sorted(batch.rows, key=lambda r: r.student_id)]


def _arrays(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _arrays(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _arrays(v)


def _needles(arrays) -> set[bytes]:
    """How an array would show in a pickled payload: raw bytes, or base64 (the codec)."""
    out = set()
    for a in arrays:
        raw = np.ascontiguousarray(a).tobytes()
        if len(raw) >= 32:
            out |= {raw, base64.b64encode(raw)}
    return out


def _secrets_and_inputs(spec, session_seed=None):
    cases = [c for t in spec.tests for c in spec.cases(t, session_seed)]
    inputs = _needles(a for c in cases for a in _arrays(c.call))
    expected = _needles(a for c in cases for a in _arrays(c.expect)) - inputs
    return expected, inputs


def test_workers_receive_no_reference_data(batch, layout):
    spec = load_spec(layout.solutions, A)
    assert not any(t.fresh for t in spec.tests)  # so every expectation is known here
    assert any(t.hidden for t in spec.tests)
    expected, inputs = _secrets_and_inputs(spec)
    assert len(expected) > 20
    records = _records(batch)
    assert {r["func"] for r in records} == {"execute_notebook", "runner_task"}
    private = [str(layout.solutions).encode(), str(batch.tmp / "ws_cluster").encode(),
               b"gradebook.db", b"sqlite:", (layout.solutions / A / "spec.py").read_bytes()]
    seen_inputs = set()
    for record in records:
        payload, code, env = record["args"]
        assert all(k.startswith("CNN_COURSE_") for k in env)  # what a sandbox sees anyway
        if record["func"] == "execute_notebook":
            assert set(payload) == EXECUTE_KEYS
        else:
            assert set(payload) == RUNNER_KEYS and set(payload["job"]) == JOB_KEYS
            assert all(set(case) == CASE_KEYS for case in payload["job"]["cases"])
        blob = pickle.dumps(payload)
        assert not [n for n in expected if n in blob]
        assert not [p for p in private if p in blob]
        seen_inputs |= {n for n in inputs if n in blob}
    assert len(seen_inputs) > 20  # the search finds arrays that do travel: the inputs


def test_a_runner_payload_holds_inputs_never_expectations_fresh_tests_too(layout):
    """What TrustedVerdicts sends with an executor (no cluster needed): the job built
    from the spec's cases for this grading session, hidden ones included."""
    import nbformat

    from cnn_course.course.grading.trusted import run_trusted

    name, seed = "02_backprop", 12345
    spec = load_spec(layout.solutions, name)
    assert any(t.fresh and t.hidden for t in spec.tests)
    sent = []

    def executor(payload):
        sent.append(pickle.dumps(payload))
        return {"frames": b"", "cpu": None, "elapsed": 0.0}

    release = nbformat.read(layout.assignments / name / f"{name}.ipynb", as_version=4)
    result = run_trusted(spec, release, sandboxed=False, total_cpu=60, session_seed=seed,
                         executor=executor)
    assert result.score == 0 and len(sent) == 1
    expected, inputs = _secrets_and_inputs(spec, seed)
    assert expected and not [n for n in expected if n in sent[0]]
    assert [n for n in inputs if n in sent[0]]


def test_jobs_grading_never_imports_dask():
    code = ("import sys\n"
            "import cnn_course.course.cli.main, cnn_course.course.grading.grade\n"
            "import cnn_course.course.grading.preprocessors, cnn_course.course.grading.cluster\n"
            "from cnn_course.course.grading.config import configure\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_row_the_cluster_failed_is_graded_again_on_the_next_run(layout, tmp_path,
                                                                   monkeypatch):
    import cnn_course.course.grading.grade as grade_module
    from cnn_course.course.grading.worker import Outcome

    full = (layout.assignments / A / NB).read_bytes()
    for student in ("ann", "bob"):
        (tmp_path / "subs" / student).mkdir(parents=True)
        (tmp_path / "subs" / student / NB).write_bytes(full)
    seen = []

    def fake(settings, entry):  # stands in for the per-submission work
        seen.append(entry.name)
        why = ("nbgrader could not grade it: ClusterError: the cluster at tcp://x:8786 "
               "could not run the kernel" if entry.name == "ann" else "invalid JSON")
        return Outcome(entry.student_id, entry.name, None, 16.0, "failed", why)

    monkeypatch.setattr(grade_module, "grade_student", fake)
    for _ in range(2):
        grade(layout, A, tmp_path / "subs", tmp_path / "g.csv", workspace=tmp_path / "ws",
              progress=False, allow_unsandboxed=True, similarity=False, log=_quiet)
    # a student's own failure is kept; the cluster's is not the student's
    assert seen == ["ann", "bob", "ann"]
