"""``check()`` in a running kernel and ``cnn-course check`` in a terminal say the same.

The notebook is assignment 01's ``partly_correct`` example (the spec's own
submission: some parts pass, one fails with a hint, hidden tests are listed). The
command runs it in a fresh kernel and prints a line per test cell as it goes; the
student's kernel, after running the notebook's cells as JupyterLab's Run All does,
prints the same lines from ``check()``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

A = "01_convolution"
NB = f"{A}.ipynb"
VERDICT = re.compile(r"^(PASS|FAIL|hidden) +\S+ \([\d.]+ pt\)")
SUMMARY = re.compile(r"^\d+ of \d+ visible tests passed; \d+ hidden test cells run at "
                     r"grading\.$")
# A cell placed after the first test cell: it waits until the test has read that
# test's verdict line, so the line must come out while the notebook still runs.
WAIT_CELL = '''import pathlib, time  # the test's go-ahead: it read the first verdict line
for _ in range(600):
    if pathlib.Path("go").exists():
        break
    time.sleep(0.1)
else:
    pathlib.Path("waited_in_vain").touch()
'''

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def notebook(layout, tmp_path_factory) -> Path:
    """The partly correct example, with the waiting cell after the first test cell."""
    from cnn_course.course.grading.examples import write_examples

    out = write_examples(layout, A, tmp_path_factory.mktemp("examples"))
    path = out / "partly_correct" / NB
    nb = nbformat.read(path, as_version=4)
    first_test = next(i for i, c in enumerate(nb.cells)
                      if c.metadata.get("nbgrader", {}).get("grade"))
    nb.cells.insert(first_test + 1, nbformat.v4.new_code_cell(WAIT_CELL))
    nbformat.write(nb, path)
    return path


def _verdicts(text: str) -> list[str]:
    return [line for line in text.splitlines() if VERDICT.match(line) or SUMMARY.match(line)]


@pytest.fixture(scope="module")
def command_output(notebook) -> list[str]:
    """`cnn-course check` as a student runs it, read line by line as it prints."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # it flushes
    env["CNN_COURSE_FAST"] = "1"
    process = subprocess.Popen([str(Path(sys.executable).parent / "cnn-course"), "check",
                                notebook.name], cwd=notebook.parent, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if VERDICT.match(line):
                (notebook.parent / "go").touch()
        assert process.wait(timeout=600) == 1, "\n".join(lines)  # a visible test fails
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return lines


def test_cnn_course_check_prints_each_verdict_while_the_notebook_runs(notebook,
                                                                    command_output):
    """The first verdict line came out before the cells after it ran: the waiting
    cell found its go-ahead, which the test gave on reading that line."""
    assert command_output[0].startswith(f"checking {NB}")
    assert (notebook.parent / "go").exists(), command_output
    assert not (notebook.parent / "waited_in_vain").exists(), command_output


def test_check_in_a_running_kernel_prints_what_the_command_prints(notebook,
                                                                 command_output):
    """The same PASS, FAIL (with its hint) and hidden lines, in the same order, and
    the same count of visible tests passed; each line once, not again as the cell's
    result."""
    from jupyter_client.manager import start_new_kernel

    expected = _verdicts("\n".join(command_output))
    kinds = {line.split()[0] for line in expected if VERDICT.match(line)}
    assert kinds == {"PASS", "FAIL", "hidden"}, expected

    env = {**os.environ, "CNN_COURSE_FAST": "1"}
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(notebook.parent),
                                       env=env, startup_timeout=120)
    try:
        def run(code: str) -> tuple[str, list[str]]:
            """What the cell printed, and what it showed as its result."""
            printed: list[str] = []
            shown: list[str] = []

            def hook(message):
                content = message["content"]
                if message["msg_type"] == "stream" and content["name"] == "stdout":
                    printed.append(content["text"])
                elif message["msg_type"] in ("execute_result", "display_data"):
                    shown.append(content["data"].get("text/plain", ""))

            client.execute_interactive(code, timeout=300, output_hook=hook)
            return "".join(printed), shown

        nb = nbformat.read(notebook, as_version=4)
        for cell in nb.cells:  # Run All: a failing test cell does not stop the rest
            if cell.cell_type == "code":
                run(cell.source)
        printed, shown = run("check()")
        run("report = check()")
        again, _ = run("report")  # the report, shown in a later cell
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert _verdicts(printed) == expected
    assert shown == []  # each line once: printed as its test ran, not shown again
    assert _verdicts(again) == expected
