"""The README's "Running a real class": the JupyterHub settings and the exchange.

``course/nbgrader_config_jupyterhub.py`` is loaded as it is, with traitlets, and as
nbgrader loads it on a hub (a system-wide ``nbgrader_config.py``, under the course's
own ``course/nbgrader_config.py``). Then the README's commands run through nbgrader's
exchange, the exchange folder in a temporary folder instead of /srv: the instructor
releases, a student fetches and submits, the instructor collects, grades with
``cnn-course grade`` and returns the feedback, and the student fetches it.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from conftest import ROOT

HUB_CONFIG = ROOT / "course" / "nbgrader_config_jupyterhub.py"
A = "01_convolution"
NB = f"{A}.ipynb"
BIN = Path(sys.executable).parent


def _hub_config() -> Config:
    return PyFileConfigLoader(HUB_CONFIG.name, path=str(HUB_CONFIG.parent)).load_config()


def _section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Running a real class", 1)[1].split("\n## ", 1)[0]


def test_the_hub_config_names_the_exchange_and_the_courses_id(tmp_path):
    """Exchange.root is the folder the README creates; course_id is the one the
    course's own configuration gives nbgrader."""
    from cnn_course.course.grading.config import configure

    hub = _hub_config()
    assert set(hub) == {"Exchange", "CourseDirectory"}  # nothing else is changed
    assert hub.Exchange.root == "/srv/nbgrader/exchange"
    course = configure(Config(), workspace=tmp_path, solutions=ROOT / "solutions",
                       release=ROOT / "assignments", sandboxed=False)
    assert hub.CourseDirectory.course_id == course.CourseDirectory.course_id
    section = _section()
    assert "course/nbgrader_config_jupyterhub.py" in section
    assert "/etc/jupyter/nbgrader_config.py" in section
    assert re.search(rf"mkdir -p {re.escape(hub.Exchange.root)} && \S*chmod 0777 "
                     rf"{re.escape(hub.Exchange.root)}", section), "the README's mkdir"


def test_the_readmes_screenshots_are_there_and_small():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]+\]\((docs/images/[\w.-]+\.png)\)", readme)
    assert len(images) >= 2
    for image in images:
        assert (ROOT / image).stat().st_size < 300_000, image


@pytest.mark.slow
def test_the_readme_commands_run_through_the_exchange(tmp_path, layout):
    """Release, fetch, submit, collect, `cnn-course grade`, return and fetch the
    feedback, export: with the hub config as nbgrader reads it on a hub."""
    from cnn_course.course.grading.examples import write_examples
    from cnn_course.course.grading.sandbox import detect

    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # the README's chmod 0777
    system = tmp_path / "etc_jupyter"  # stands for /etc/jupyter
    system.mkdir()
    shutil.copyfile(HUB_CONFIG, system / "nbgrader_config.py")
    course = tmp_path / "course"  # stands for course/ of the checkout
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        "from cnn_course.course.grading.config import configure\n"
        f"configure(get_config(), workspace={str(course)!r}, "
        f"solutions={str(ROOT / 'solutions')!r}, release={str(ROOT / 'assignments')!r})\n")
    home = tmp_path / "student_home"
    home.mkdir()
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(system),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "user_jupyter"),
           "JUPYTER_DATA_DIR": str(tmp_path / "user_data"),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}

    ran: list[str] = []

    def nbgrader(*args: str, cwd: Path) -> str:
        ran.append(" ".join(args))
        run = subprocess.run([str(BIN / "nbgrader"), *args,
                              f"--Exchange.root={exchange}"], cwd=cwd, env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, (args, run.stdout[-2000:], run.stderr[-3000:])
        return run.stdout + run.stderr

    nbgrader("release_assignment", A, cwd=course)
    released = exchange / "cnn_course" / "outbound" / A / NB
    assert released.read_bytes() == (ROOT / "assignments" / A / NB).read_bytes()
    assert stat.S_IMODE(exchange.stat().st_mode) == 0o777

    assert A in nbgrader("list", cwd=home)  # what the Assignment List shows
    nbgrader("fetch_assignment", A, cwd=home)
    examples = write_examples(layout, A, tmp_path / "examples")
    shutil.copyfile(examples / "partly_correct" / NB, home / A / NB)  # the student's work
    nbgrader("submit", A, cwd=home)

    nbgrader("collect", A, cwd=course)
    (student,) = [p.name for p in (course / "submitted").iterdir()]
    grade = [str(BIN / "cnn-course"), "--course-root", str(ROOT), "grade", A,
             "--submissions", "submitted", "--out", "out/grades.csv", "--workspace",
             str(course), "--no-similarity"]
    if not detect().sandboxed:
        grade.append("--allow-unsandboxed")
    run = subprocess.run(grade, cwd=course, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    with open(course / "out" / "grades.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["student_id"] == student and row["score"] == "8", row

    nbgrader("release_feedback", A, cwd=course)
    nbgrader("fetch_feedback", A, cwd=home)
    (page,) = (home / A / "feedback").glob(f"*/{A}.html")
    text = page.read_text(encoding="utf-8")
    assert "The grader's check" in text and "HIDDEN TESTS" not in text

    nbgrader("export", "--to=export.csv", cwd=course)
    with open(course / "export.csv", newline="") as f:
        exported = {r["student_id"]: r for r in csv.DictReader(f)}
    assert float(exported[student]["score"]) == 8.0

    # these are the README's commands (an unknown nbgrader command exits 0)
    section = " ".join(_section().replace("\\\n", " ").split())
    for command in ran:
        if not command.startswith(("list", "export")):
            assert f"nbgrader {command}" in section, command
    assert "nbgrader export --to grades.csv" in section
    assert f"cnn-course grade {A} --submissions submitted" in section
