"""The course in a real browser: Debian's chromium, headless, driven by Playwright.

A student's JupyterLab (``cnn-course lab --student``): a lecture runs top to bottom,
and an assignment's answer, filled in on the page, passes ``check()`` in the
notebook. The instructor's JupyterLab, started in the nbgrader course folder after a
grading run: the formgrader shows a student's score. A feedback page: its maths
renders offline and it shows no hidden test. (The website's pages are opened in
``test_site.py``, next to its build.) Each test saves a screenshot in
``_build/screenshots/``. Without chromium these tests skip and say why.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from browser_helpers import WAIT_MS, Lab, browser, chromium, click_unless_a_dialog, new_page, \
    open_notebook, run_menu, screenshot
from conftest import ROOT
from test_student_copy import secret_lines

pytestmark = pytest.mark.slow

ASSIGNMENT = "01_convolution"
LECTURE = "03_convolution"
# An answer typed into the page: plain loops, as a student would write it.
ANSWER = """def correlate2d(image, kernel):
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + kh, j:j + kw] * kernel)
    return out
"""
STDOUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stdout']"


@pytest.fixture(scope="module")
def chrome():
    chromium()  # skips the module's tests when there is none
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def student_lab(tmp_path_factory):
    """A student's folder in JupyterLab, as students see it (fast mode)."""
    root = tmp_path_factory.mktemp("student")
    for rel in (f"lectures/{LECTURE}.ipynb", f"assignments/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    lab = Lab(root, student=True, env={"CNN_COURSE_FAST": "1"})
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def graded(layout, tmp_path_factory):
    """Two example submissions graded by `cnn-course grade` into an nbgrader course
    folder that has its own nbgrader_config.py, like course/."""
    from cnn_course.course.grading.examples import write_examples
    from cnn_course.course.grading.grade import grade

    base = tmp_path_factory.mktemp("graded")
    examples = write_examples(layout, ASSIGNMENT, base / "examples")
    subs = base / "subs"
    for name in ("full_solution", "partly_correct"):
        shutil.copytree(examples / name, subs / name)
    course = base / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        "from pathlib import Path\n"
        "from cnn_course.course.grading.config import configure\n\n"
        "here = Path(__file__).resolve().parent\n"
        "c = get_config()  # noqa: F821\n"
        f"configure(c, workspace=here, solutions={str(ROOT / 'solutions')!r},\n"
        f"          release={str(ROOT / 'assignments')!r})\n")
    rows = grade(layout, ASSIGNMENT, subs, base / "out" / "grades.csv", workspace=course,
                 progress=False, jobs=2, allow_unsandboxed=True, similarity=False,
                 log=lambda *a, **k: None)
    return course, base / "out", {row.student_id: row for row in rows}


def _run_all_cells(page, kernel: str) -> None:
    """Run > Run All Cells, and again if no cell started: on a busy machine a kernel
    can look idle on the page before it takes requests, and the first Run All is
    then lost (every prompt stays [ ])."""
    from playwright.sync_api import TimeoutError as PageTimeout

    started = page.locator(".jp-InputArea-prompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    for _ in range(3):
        run_menu(page, "Run", "Run All Cells", kernel=kernel)
        try:
            started.first.wait_for(timeout=60_000)
            return
        except PageTimeout:
            continue
    screenshot(page, "not_started")
    raise AssertionError("Run All Cells started no cell, three times")


def _run_all_and_save(page, lab: Lab, rel: str) -> dict:
    """Run All Cells, then save (Ctrl+S) until every code cell has run; the notebook
    as the server has it. Should the notebook's kernel be replaced meanwhile (a
    "Select Kernel" answered on a busy machine), the cells queued on the old one are
    lost: Run All again, on the new one."""
    deadline = time.monotonic() + WAIT_MS / 1000
    ran_on = None
    while time.monotonic() < deadline:
        kernel = lab.kernel_id(rel)
        if kernel is not None and kernel != ran_on:
            _run_all_cells(page, kernel)
            ran_on = kernel
        page.keyboard.press("Control+s")
        page.wait_for_timeout(1000)
        nb = lab.api(f"contents/{rel}")["content"]
        codes = [c for c in nb["cells"] if c["cell_type"] == "code"]
        if codes and all(c["execution_count"] for c in codes):
            return nb
    screenshot(page, "not_run")
    raise AssertionError(f"{rel}: not every cell ran within {WAIT_MS / 1000:.0f} s")


def test_a_lecture_runs_in_jupyterlab_and_saves_clean(chrome, student_lab):
    """Run All Cells on the page: no errors, figures shown; what JupyterLab saves
    goes back to the committed bytes through the repository's nbstripout filter."""
    page = new_page(chrome)
    rel = f"lectures/{LECTURE}.ipynb"
    open_notebook(page, student_lab, rel)
    nb = _run_all_and_save(page, student_lab, rel)
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    counts = [c["execution_count"] for c in nb["cells"] if c["cell_type"] == "code"]
    if max(counts) == len(counts):  # each cell ran once in this kernel
        # the device line prints once per process, so a Run All retried on a busy
        # machine (every cell run twice) leaves it out; test_lectures checks it always
        assert "cnn_course: using device" in "".join("".join(o.get("text", ""))
                                                     for o in outputs)
    page.locator(".jp-OutputArea-output img").first.wait_for()  # a figure, on the page
    assert page.locator(".jp-OutputArea-output img").count() >= 1
    page.locator(".jp-OutputArea-output img").first.scroll_into_view_if_needed()
    screenshot(page, "lecture_in_jupyterlab")

    makefile = (ROOT / "Makefile").read_text()
    args = makefile.split("NBSTRIPOUT_ARGS := ", 1)[1].split("\nNBSTRIPOUT :=")[0]
    args = shlex.split(args.replace("\\\n", " "))
    saved = student_lab.root / rel
    assert saved.read_bytes() != (ROOT / rel).read_bytes()  # outputs and metadata
    nbstripout = Path(sys.executable).parent / "nbstripout"
    stripped = subprocess.run([str(nbstripout), *args, "-t", str(saved)],
                              capture_output=True, check=True, timeout=60).stdout
    assert stripped == (ROOT / rel).read_bytes()
    page.close()


def test_an_answer_passes_check_in_the_notebook(chrome, student_lab):
    """A student fills in correlate2d on the page and runs check("correlate2d") in a
    new cell: the PASS line and the hidden test's line appear in its output. The
    student's JupyterLab has no nbgrader instructor tools."""
    page = new_page(chrome, height=1000)
    rel = f"assignments/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    kernel = open_notebook(page, student_lab, rel)

    click_unless_a_dialog(page, page.locator(".lm-MenuBar-itemLabel:text-is('Nbgrader')"),
                          kernel)
    items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
    page.keyboard.press("Escape")
    assert "Assignment List" in items
    assert not {"Create assignment", "Formgrader", "Course List"} & set(items), items
    tabs = page.locator(".jp-SideBar .lm-TabBar-tab").evaluate_all(
        "tabs => tabs.map(t => t.title || '')")
    assert tabs and not [t for t in tabs if "Create Assignment" in t], tabs

    answer = page.locator(".jp-CodeCell").filter(has_text="def correlate2d")
    click_unless_a_dialog(page, answer.locator(".cm-content"), kernel)
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(ANSWER)
    run_menu(page, "Run", "Run All Above Selected Cell", kernel=kernel)
    page.keyboard.press("Shift+Enter")  # run the answer; the next cell is selected
    page.keyboard.press("Escape")
    page.keyboard.press("a")  # a new cell right below the answer
    click_unless_a_dialog(page, page.locator(".jp-Cell.jp-mod-active .cm-content"), kernel)
    page.keyboard.insert_text('check("correlate2d")')
    page.keyboard.press("Shift+Enter")

    output = page.locator(STDOUT).filter(has_text="visible tests passed").first
    output.wait_for()
    text = output.inner_text()
    assert "PASS   correlate2d_visible (1 pt)" in text, text
    assert "hidden correlate2d_hidden (2 pt): run by the grader" in text, text
    assert "1 of 1 visible tests passed" in text, text
    output.scroll_into_view_if_needed()
    screenshot(page, "check_in_jupyterlab")
    page.close()


def test_formgrader_shows_a_students_score(chrome, graded):
    """JupyterLab started in the course folder: Manage Students lists the score."""
    course, _, rows = graded
    expected = rows["full_solution"]
    lab = Lab(course, cwd=course)
    try:
        page = new_page(chrome)
        page.goto(lab.url("formgrader/manage_students"))
        row = page.locator("tr", has_text="full_solution")
        row.wait_for()
        cells = row.locator("td").all_inner_texts()
        assert f"{expected.score:g} / {expected.max_score:g}" in cells, cells
        other = page.locator("tr", has_text="partly_correct").locator("td").all_inner_texts()
        assert f"{rows['partly_correct'].score:g} / 16" in other, other
        screenshot(page, "formgrader")
        page.close()
    finally:
        lab.stop()


def test_feedback_page_renders_maths_offline_and_hides_hidden_tests(chrome, graded):
    """The feedback HTML opened on its own, the network cut off: maths typeset by the
    inlined MathJax, the grader's verdicts shown, no line of a hidden test (nor of a
    solution, beyond the code the student handed in, which the page shows)."""
    _, out, rows = graded
    submitted = nbformat.read(out.parent / "subs" / "partly_correct" / f"{ASSIGNMENT}.ipynb",
                              as_version=4)
    own = "\n".join(cell.source for cell in submitted.cells)
    path = out / "feedback" / "partly_correct" / f"{ASSIGNMENT}.html"
    page = new_page(chrome)
    requested = []
    page.route("http*://**", lambda route: (requested.append(route.request.url),
                                            route.abort()))
    page.goto(path.as_uri())
    page.wait_for_function("document.querySelectorAll('mjx-container svg').length > 0")
    text = page.inner_text("body")
    assert "The grader's check" in text
    assert f"{rows['partly_correct'].score:g} of 16" in text
    assert "$$" not in text  # every formula typeset
    secrets = {line for line in secret_lines() if line not in own}
    assert len(secrets) >= 20
    leaks = [line for line in secrets if line in text]
    assert not leaks, leaks[:3]
    assert not requested, requested
    screenshot(page, "feedback")
    page.close()
