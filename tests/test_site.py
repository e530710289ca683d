"""The course website, built as ``make site`` builds it (``cnn-course site``), in fast
mode and running one lecture (the others are shown without outputs), into a
temporary folder.

The home page holds the syllabus and the lecture list, the assignments page the
parts and their points, the reference the library's docstrings; no page holds a
line of a solution or of a hidden test; maths comes from the site's own MathJax; a
rebuild runs no lecture again (jupyter-cache), even after an edit of its text. The
home page and the lecture open in Debian's chromium, offline, with screenshots in
``_build/screenshots/``; without chromium those two tests skip and say why.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from browser_helpers import browser, chromium, new_page, screenshot
from conftest import ROOT
from test_student_copy import find_leaks, folder_files, secret_lines

pytestmark = pytest.mark.slow

LECTURE = "03_convolution"  # the lecture this build runs: figures and maths
EDIT = "A sentence added to test the rebuild."


class _Page(HTMLParser):
    """A page's visible text, and the cells of its tables, row by row."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.rows: list[list[str]] = []
        self._skip = 0  # inside <script> or <style>
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._skip:
            return
        self.parts.append(data)
        if self._cell is not None:
            self._cell.append(data)


def read_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def page_text(path: Path) -> str:
    """The text a reader sees (highlighted code joined back from its spans)."""
    return "".join(read_page(path).parts)


def page_words(path: Path) -> str:
    return " ".join(page_text(path).split())


_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                             "`": None, "*": None})


def plain(text: str) -> str:
    """Text as the page shows it, compared with its Markdown source: no emphasis or
    code marks, straight quotes (Sphinx curls them), spaces collapsed."""
    return " ".join(text.translate(_TYPOGRAPHY).split())


def _title(lecture) -> str:
    return lecture.title[:1].upper() + lecture.title[1:]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """``cnn-course site 03_convolution --jobs 2 --out <tmp>/site``, as ``make site``
    runs it (all lectures there), in fast mode."""
    out = tmp_path_factory.mktemp("site") / "site"
    command = [str(Path(sys.executable).parent / "cnn-course"), "site", LECTURE,
               "--jobs", "2", "--out", str(out)]
    run = subprocess.run(command, cwd=ROOT, env={**os.environ, "CNN_COURSE_FAST": "1"},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"lectures run: {LECTURE}\n" in run.stdout, run.stdout[-1500:]
    return out


def _lectures():
    from cnn_course.course.site import lecture_info

    return [lecture_info(p) for p in sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))]


def _assignments():
    from cnn_course.course.site import assignment_info

    return [assignment_info(p) for p in sorted(ROOT.glob("assignments/*/*.ipynb"))]


def test_home_page_has_the_syllabus_and_the_lecture_list(site):
    """One syllabus row per lecture: number, title, what it teaches, the assignment
    that examines it; the lecture list has each lecture's line and a link to it."""
    lectures = _lectures()
    assert len(lectures) == 12
    home = read_page(site / "index.html")
    header, *rows = [r for r in home.rows if r]
    assert header == ["#", "lecture", "what it teaches", "assignment"]
    assert [[plain(cell) for cell in r[:3]] for r in rows] == \
        [[str(lec.number), _title(lec), plain(lec.line)] for lec in lectures]
    assert rows[2][3] == "01"  # assignment 01 examines lecture 3 (and 4)
    html = (site / "index.html").read_text(encoding="utf-8")
    for lec in lectures:
        assert f'href="lectures/{lec.name}.html"' in html

    listing = plain(page_text(site / "lectures" / "index.html"))
    listing_html = (site / "lectures" / "index.html").read_text(encoding="utf-8")
    for lec in lectures:
        assert f"{_title(lec)}: {plain(lec.line)}" in listing
        assert f'href="{lec.name}.html"' in listing_html
        assert (site / "lectures" / f"{lec.name}.html").is_file()


def test_assignments_page_lists_parts_and_points(site):
    """Every assignment: its title, a table of parts with points, the total."""
    assignments = _assignments()
    assert assignments
    page = read_page(site / "assignments" / "index.html")
    text = plain("".join(page.parts))
    rows = [[plain(cell) for cell in r] for r in page.rows if r and r[0] != "part"]
    expected = []
    for a in assignments:
        assert plain(a.title) in text
        assert (site / "assignments" / f"{a.name}.html").is_file()
        expected += [[str(i), plain(what), f"{points:g}"]
                     for i, (what, points) in enumerate(a.parts, 1)]
        expected.append(["", "total", f"{a.total:g}"])
    assert rows == expected
    # the grader's numbers: assignment 01 has five parts and 16 points
    first = rows[:6]
    assert first[0] == ["1", "correlate2d: 2-D cross-correlation", "3"]
    assert first[5] == ["", "total", "16"]


def test_library_reference_is_rendered_from_the_docstrings(site):
    """The reference shows cnn_course's docstrings as API entries (not raw
    reStructuredText), and nothing of cnn_course.course."""
    import cnn_course.ops

    page = site / "reference" / "cnn_course.ops.html"
    first_line = inspect.getdoc(cnn_course.ops.output_size).splitlines()[0]
    assert first_line in page_words(page)
    html = page.read_text(encoding="utf-8")
    assert 'id="cnn_course.ops.output_size"' in html  # an entry others can link to
    assert 'id="cnn_course.ops.conv2d_forward"' in html
    for path in sorted((site / "reference").glob("*.html")):
        text = page_text(path)
        assert ".. py:" not in text and ".. automodule" not in text, path.name
        assert "cnn_course.course" not in text, path.name
    index = page_words(site / "reference" / "index.html")
    assert "cnn_course.ops" in index and "cnn_course.models" in index


def _collapse(text: str) -> str:
    return " ".join(text.split())


def test_no_solution_or_hidden_test_text_anywhere_in_the_site(site):
    """No page as a reader sees it, no notebook, no Markdown source and not the search
    index holds a line of a solution or a hidden test that the site's public inputs
    (the student copy: lectures, released assignments, library) do not hold already.
    Those inputs, and the zip of them that the site offers, are checked line by line
    in test_student_copy.py; here: the build adds nothing from solutions/."""
    files: dict[str, bytes] = {}
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site).as_posix()
        if path.is_file() and not rel.startswith("_static/") and \
                path.suffix in (".html", ".ipynb", ".md", ".txt", ".js", ".json"):
            files[rel] = page_text(path).encode() if path.suffix == ".html" \
                else path.read_bytes()
    assert "searchindex.js" in files and "assignments/01_convolution.html" in files
    # pages are searched as read: the release's own code, joined from highlighted spans
    assert b"def correlate2d(image, kernel):" in files["assignments/01_convolution.html"]
    secrets = secret_lines()
    assert len(secrets) >= 20
    found = find_leaks(files, secrets)

    student = site.parent / "site-work" / "fast" / "student"
    (copy,) = [p for p in student.iterdir() if p.is_dir()]
    inputs = []
    for rel, data in folder_files(copy).items():
        if rel.endswith(".ipynb"):  # as typed: a notebook's JSON escapes quotes
            inputs += ["".join(cell["source"]) for cell in json.loads(data)["cells"]]
        elif not rel.endswith(".pt"):
            inputs.append(data.decode(errors="replace"))
    public = _collapse("\n".join(inputs))  # a line may be wrapped in the Markdown
    leaks = [(name, line) for name, line in found if _collapse(line) not in public]
    assert not leaks, leaks[:5]


def test_maths_comes_from_the_sites_own_mathjax(site):
    """No page loads a script from elsewhere; pages with maths load the copy in
    _static/mathjax/, which is MathJax as the course ships it."""
    from cnn_course.course.mathjax import FILE, source

    copy = site / "_static" / "mathjax" / FILE
    assert copy.read_bytes() == source().read_bytes()
    remote = re.compile(r"""<(?:script|link)[^>]+(?:src|href)=["'](?:https?:)?//""", re.I)
    for path in sorted(site.rglob("*.html")):
        html = path.read_text(encoding="utf-8")
        assert not remote.search(html), path
        assert "cdn.jsdelivr" not in html and "mathjax@" not in html.lower(), path
    lecture = (site / "lectures" / f"{LECTURE}.html").read_text(encoding="utf-8")
    assert re.search(rf'<script[^>]+src="\.\./_static/mathjax/{re.escape(FILE)}(\?[^"]*)?"',
                     lecture)
    assert "$$" in lecture or r"\[" in lecture  # it has maths for MathJax to typeset


@pytest.fixture(scope="module")
def chrome():
    chromium()  # skips the browser tests when there is none
    with browser() as b:
        yield b


def _offline_page(chrome):
    page = new_page(chrome)
    requested: list[str] = []
    page.route("http*://**", lambda route: (requested.append(route.request.url),
                                            route.abort()))
    return page, requested


def test_home_page_opens_in_chromium(chrome, site):
    """The home page, opened from disk with the network cut off: the syllabus table
    with a row per lecture, and nothing requested from elsewhere."""
    page, requested = _offline_page(chrome)
    page.goto((site / "index.html").as_uri())
    table = page.locator("article table")
    table.wait_for()
    assert table.locator("tbody tr").count() == len(_lectures())
    assert "Syllabus" in page.inner_text("article")
    screenshot(page, "site_home")
    assert not requested, requested
    page.close()


def test_lecture_page_opens_with_figures_and_typeset_maths(chrome, site):
    """The lecture run by this build: its figures load, its maths is typeset by the
    local MathJax (no raw $$ left), offline."""
    page, requested = _offline_page(chrome)
    page.goto((site / "lectures" / f"{LECTURE}.html").as_uri())
    page.wait_for_function("document.querySelectorAll('mjx-container svg').length > 0")
    figures = page.locator("article .cell_output img")
    assert figures.count() >= 1
    sizes = figures.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert all(width > 0 for width in sizes), sizes
    text = page.inner_text("article")
    assert "$$" not in text
    assert "Lecture 3" in text
    screenshot(page, "site_lecture")
    figures.first.scroll_into_view_if_needed()
    screenshot(page, "site_lecture_figure")
    page.locator("mjx-container[display='true']").first.scroll_into_view_if_needed()
    screenshot(page, "site_lecture_maths")
    assert not requested, requested
    page.close()


_WRITTEN = re.compile(r"writing output\.\.\. \[\s*\d+%\] (\S+)")


def test_a_rebuild_runs_no_lecture_again(site, layout, monkeypatch, tmp_path):
    """Unchanged: no lecture runs and no page is written again. A lecture's text
    edited, its code not: that page (and the list that links to it) is written again
    with the new text, and its outputs come from jupyter-cache, not from a kernel.
    (Last in this file: the screenshots above show the lecture as committed.)"""
    from jupyter_cache import get_cache

    from cnn_course.course.site import build_site

    monkeypatch.setenv("CNN_COURSE_FAST", "1")
    cache = get_cache(site.parent / "site-work" / "fast" / "jupyter_cache")
    before = [(r.pk, r.hashkey) for r in cache.list_cache_records()]
    assert len(before) == 1  # the one lecture this build ran

    log: list[str] = []
    report = build_site(layout, site, execute=[LECTURE], log=log.append)
    assert report.ok and report.executed == [] and report.cached == [LECTURE], \
        report.summary()
    assert not [m[1] for line in log if (m := _WRITTEN.search(line))], log

    lectures = tmp_path / "lectures"
    shutil.copytree(ROOT / "lectures", lectures)
    nb = nbformat.read(lectures / f"{LECTURE}.ipynb", as_version=4)
    cell = next(c for c in nb.cells[1:] if c.cell_type == "markdown")
    cell.source += f"\n\n{EDIT}"
    nbformat.write(nb, lectures / f"{LECTURE}.ipynb")
    log.clear()
    report = build_site(layout, site, execute=[LECTURE], lectures_dir=lectures,
                        log=log.append)
    assert report.ok and report.executed == [] and report.cached == [LECTURE], \
        report.summary()
    written = {m[1] for line in log if (m := _WRITTEN.search(line))}
    assert f"lectures/{LECTURE}" in written and "reference/cnn_course.ops" not in written, \
        written
    assert EDIT in page_words(site / "lectures" / f"{LECTURE}.html")
    assert [(r.pk, r.hashkey) for r in cache.list_cache_records()] == before
