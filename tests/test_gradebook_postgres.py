"""The gradebook on a real PostgreSQL server, shared by two graders at once.

The server is started here, in a temporary folder, on a Unix socket only (Debian's
``postgresql`` package: ``initdb`` and ``pg_ctl`` from /usr/lib/postgresql/*/bin;
``.ci/run`` installs it where it may), and stopped at the end. PostgreSQL refuses to
run as root, so a root test runs it as ``nobody``. Without the server's programs or
the psycopg2 driver the tests skip and say why.
"""

from __future__ import annotations

import csv
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT
from cnn_course.course.grading.examples import write_examples

A = "01_convolution"
TEACHING_ASSISTANTS = {"ta1": ("full_solution", "partly_correct"),
                       "ta2": ("blank", "uses_np_pad")}
pytestmark = pytest.mark.slow


def _server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of its own; yields the gradebook's SQLAlchemy URL."""
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver is not installed: "
                        "pip install -e '.[cluster]'")
    bindir = _server_bin()
    if bindir is None:
        reason = ("PostgreSQL is not installed (no initdb/pg_ctl in /usr/lib/postgresql/*/bin "
                  "or on PATH): apt-get install postgresql")
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    import psycopg2

    base = Path(tempfile.mkdtemp(prefix="cnn-course-pg-", dir="/tmp"))
    os.chmod(base, 0o755)
    data, sock = base / "data", base / "sock"
    as_server = []
    for folder in (data, sock):
        folder.mkdir()
        if os.geteuid() == 0:
            os.chown(folder, 65534, 65534)
    if os.geteuid() == 0:  # postgres will not run as root
        as_server = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    def run(*cmd):
        done = subprocess.run([*as_server, *map(str, cmd)], cwd=base, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, f"{cmd[0]}: {done.stdout[-2000:]}{done.stderr[-2000:]}"

    run(bindir / "initdb", "-D", data, "-U", "grader", "--auth=trust", "-E", "UTF8",
        "--no-sync")
    run(bindir / "pg_ctl", "-D", data, "-l", sock / "server.log", "-w", "-t", "60", "-o",
        f"-k {sock} -c listen_addresses='' -c fsync=off", "start")
    try:
        conn = psycopg2.connect(host=str(sock), user="grader", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE gradebook")
        conn.close()
        yield f"postgresql+psycopg2://grader@/gradebook?host={sock}"
    finally:
        subprocess.run([*as_server, str(bindir / "pg_ctl"), "-D", str(data), "-m",
                        "immediate", "stop"], cwd=base, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_two_graders_at_once_write_every_score_once_and_nbgrader_export_reads_them(
        postgres, layout, tmp_path):
    examples = write_examples(layout, A, tmp_path / "examples")
    cli = str(Path(sys.executable).with_name("cnn-course"))
    runs = {}
    for ta, students in TEACHING_ASSISTANTS.items():
        for student in students:
            shutil.copytree(examples / student, tmp_path / ta / "subs" / student)
        cmd = [cli, "grade", A, "--submissions", str(tmp_path / ta / "subs"), "--out",
               str(tmp_path / ta / "grades.csv"), "--workspace", str(tmp_path / ta / "ws"),
               "--no-similarity", "--no-feedback", "--allow-unsandboxed"]
        env = dict(os.environ)
        if ta == "ta1":  # one names the gradebook on the command line ...
            cmd += ["--db-url", postgres]
            env.pop("NBGRADER_DB_URL", None)
        else:  # ... the other in the environment, as course/nbgrader_config.py reads it
            env["NBGRADER_DB_URL"] = postgres
        runs[ta] = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
    for ta, proc in runs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{ta}: {out[-3000:]}"
    graded = {}
    for ta, students in TEACHING_ASSISTANTS.items():
        rows = _read_csv(tmp_path / ta / "grades.csv")
        assert sorted(r["student_id"] for r in rows) == sorted(students)
        assert all(r["status"] == "graded" for r in rows), rows
        graded |= {r["student_id"]: float(r["score"]) for r in rows}
    assert graded == {"full_solution": 16, "partly_correct": 8, "blank": 0, "uses_np_pad": 7}
    assert not (tmp_path / "ta1" / "ws" / "gradebook.db").exists()  # all on the server
    # one set the assignment up in the shared gradebook; the other, finding that version
    # there, wrote only its own release (regenerating would drop cells under the first)
    scratch = [(tmp_path / ta / "ws" / ".cnn_course" / "prepared" / "release-only.db").exists()
               for ta in TEACHING_ASSISTANTS]
    assert sorted(scratch) == [False, True]

    from sqlalchemy import create_engine, text

    engine = create_engine(postgres)
    with engine.connect() as db:
        cells = db.execute(text("SELECT COUNT(*) FROM grade_cells")).scalar()
        rows = db.execute(text(
            "SELECT a.student_id, COUNT(DISTINCT a.id), COUNT(g.id), SUM(g.auto_score) "
            "FROM submitted_assignment a JOIN submitted_notebook n ON n.assignment_id = a.id "
            "JOIN grade g ON g.notebook_id = n.id GROUP BY a.student_id")).fetchall()
    engine.dispose()
    assert sorted(tuple(r) for r in rows) == sorted(
        (s, 1, cells, score) for s, score in graded.items())

    # plain `nbgrader export` in course/, whose nbgrader_config.py reads NBGRADER_DB_URL
    nbgrader = str(Path(sys.executable).with_name("nbgrader"))
    env = dict(os.environ, NBGRADER_DB_URL=postgres,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    export = subprocess.run([nbgrader, "export", f"--to={tmp_path / 'export.csv'}",
                             f"--NbGrader.logfile={tmp_path / 'nbgrader.log'}"],
                            cwd=ROOT / "course", env=env, capture_output=True, text=True,
                            timeout=300)
    assert export.returncode == 0, export.stdout[-2000:] + export.stderr[-2000:]
    exported = _read_csv(tmp_path / "export.csv")
    assert sorted((r["assignment"], r["student_id"], float(r["score"])) for r in exported) == \
        sorted((A, s, score) for s, score in graded.items())
