"""The course website: ``cnn-course site`` / ``make site`` -> ``_build/site/``.

Sphinx with ``myst-nb`` and the book theme (``docs/conf.py``). Pages:

- the home page with the syllabus: each lecture, what it teaches, and the assignment
  that examines it;
- the lectures, executed, with their figures and maths;
- the assignments as released, with their parts and points, and the notebooks;
- the library reference from its docstrings (``cnn_course`` without
  ``cnn_course.course``);
- the student copy's zip, to download.

Everything is generated from the repository's public side: lecture notebooks, the
released assignments (``assignments/``) and the library; never from ``solutions/``.
The sources are staged in ``_build/site-work/<mode>/src`` (copied only when changed,
so Sphinx rebuilds only what changed) and the lectures run through jupyter-cache: a
lecture whose code is unchanged is not run again. ``CNN_COURSE_FAST=1`` (tests) has
its own work folder, so fast outputs never end up in the full site.
"""

from __future__ import annotations

import os
import pkgutil
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .grading.paths import CourseLayout
from .mathjax import copy_mathjax
from .student_copy import build_student_copy

DOCS = "docs"  # the hand-written pages and conf.py, in the checkout
SYLLABUS = "<!-- syllabus -->"  # where docs/index.md gets the syllabus table

_TITLE = re.compile(r"^#\s*Lecture\s+(\d+):\s*(.+)$", re.M)
_PART = re.compile(r"^\|\s*(\d+)\s*\|\s*(.+?)\s*\|\s*([\d.]+)\s*\|\s*$", re.M)
_TOTAL = re.compile(r"^\|\s*\|\s*total\s*\|\s*([\d.]+)\s*\|\s*$", re.M)
_EXAMINES = re.compile(r"examines lectures?\s+(.+?)\.\s*$", re.M)


@dataclass
class Lecture:
    name: str  # 03_convolution
    number: int
    title: str  # "convolution"
    line: str  # the first sentence of its introduction


@dataclass
class Assignment:
    name: str  # 01_convolution
    title: str  # "Assignment 01: convolution by hand"
    parts: list[tuple[str, float]]  # (what you write, points)
    total: float
    lectures: list[str]  # the lecture numbers it examines: ["03", "04"]


@dataclass
class SiteReport:
    """What a build did: the folder, and each lecture's execution."""

    out: Path
    seconds: float
    executed: list[str] = field(default_factory=list)  # run during this build
    cached: list[str] = field(default_factory=list)  # outputs from jupyter-cache
    failed: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        parts = [f"site: {self.out / 'index.html'} ({self.seconds:.0f} s)",
                 f"lectures run: {', '.join(self.executed) or 'none'}",
                 f"lectures from the cache: {', '.join(self.cached) or 'none'}"]
        if self.not_run:
            parts.append(f"lectures shown without outputs: {', '.join(self.not_run)}")
        if self.failed:
            parts.append(f"FAILED: {', '.join(self.failed)} (see the warnings above)")
        return "\n".join(parts)


def lecture_info(path: Path) -> Lecture:
    """Number, title and one line of a lecture, from its first cell."""
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source if nb.cells else ""
    match = _TITLE.search(first)
    if not match:
        raise ValueError(f"{path.name}: the first cell does not start with '# Lecture N: ...'")
    intro = " ".join(first[match.end():].split())
    sentence = re.split(r"(?<=[.?!])\s", intro, maxsplit=1)[0] if intro else ""
    return Lecture(path.stem, int(match.group(1)), match.group(2).strip(), sentence)


def assignment_info(path: Path) -> Assignment:
    """Title, parts, points and lectures of a released assignment, from its header."""
    nb = nbformat.read(path, as_version=4)
    header = nb.cells[0].source
    title = header.splitlines()[0].lstrip("# ").strip()
    parts = [(what, float(points)) for _, what, points in _PART.findall(header)]
    total = _TOTAL.search(header)
    examines = _EXAMINES.search(header)
    if not parts or not total:
        raise ValueError(f"{path}: no table of parts and points in the first cell")
    return Assignment(path.stem, title, parts, float(total.group(1)),
                      re.findall(r"\b(\d\d)\b", examines.group(1)) if examines else [])


def library_modules() -> dict[str, list[str]]:
    """The library's public modules by top-level module, without cnn_course.course."""
    import cnn_course

    groups: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(cnn_course.__path__, "cnn_course."):
        name = info.name
        if name.startswith("cnn_course.course") or name == "cnn_course.__main__" or \
                any(part.startswith("_") for part in name.split(".")):
            continue
        top = ".".join(name.split(".")[:2])
        groups.setdefault(top, []).append(name)
    return {top: sorted(names) for top, names in sorted(groups.items())}


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fmt(points: float) -> str:
    return f"{points:g}"


def _pages(lectures: list[Lecture], assignments: list[Assignment], home: str
           ) -> dict[str, str]:
    """The generated pages: relative path -> MyST Markdown.

    ``home`` is ``docs/index.md``; its line ``<!-- syllabus -->`` becomes the syllabus.
    """
    by_lecture: dict[str, list[Assignment]] = {}
    for a in assignments:
        for number in a.lectures:
            by_lecture.setdefault(number, []).append(a)
    syllabus = ["| # | lecture | what it teaches | assignment |", "| --- | --- | --- | --- |"]
    for lec in lectures:
        examined = ", ".join(f"[{a.name[:2]}](assignments/{a.name}.ipynb)"
                             for a in by_lecture.get(f"{lec.number:02d}", []))
        syllabus.append(f"| {lec.number} | [{_capital(lec.title)}](lectures/{lec.name}.ipynb) | "
                        f"{lec.line} | {examined} |")

    listing = ["# Lectures", "",
               "Each lecture is a notebook: read it here, executed, or run it yourself in "
               "JupyterLab (`lectures/` in your copy of the course).", ""]
    listing += [f"{lec.number}. [{_capital(lec.title)}]({lec.name}.ipynb): "
                f"{lec.line}" for lec in lectures]
    listing += ["", "```{toctree}", ":hidden:", ":maxdepth: 1", "",
                *[f"{lec.name}.ipynb" for lec in lectures], "```", ""]

    tasks = ["# Assignments", "",
             "Each assignment is a notebook: fill in the cells that say `# YOUR CODE HERE` "
             "and run `check()` in the notebook to see which parts pass "
             "([how to work on one](../start.md)). The notebooks are in `assignments/` of "
             "your copy of the course, and below.", ""]
    for a in assignments:
        lecs = ", ".join(f"[{n}](../lectures/{lec.name}.ipynb)" for n in a.lectures
                         for lec in lectures if f"{lec.number:02d}" == n)
        tasks += [f"## [{a.title}]({a.name}.ipynb)", "",
                  f"Examines lecture{'s' if len(a.lectures) > 1 else ''} {lecs}. "
                  f"Notebook: {{download}}`{a.name}.ipynb <{a.name}.ipynb>`.", "",
                  "| part | what you write | points |", "| --- | --- | --- |",
                  *[f"| {i} | {what} | {_fmt(points)} |"
                    for i, (what, points) in enumerate(a.parts, 1)],
                  f"| | total | {_fmt(a.total)} |", ""]
    tasks += ["```{toctree}", ":hidden:", ":maxdepth: 1", "",
              *[f"{a.name}.ipynb" for a in assignments], "```", ""]

    groups = library_modules()
    reference = ["# Library reference", "",
                 "The `cnn_course` library that the lectures use and the assignments "
                 "rebuild, module by module, from its docstrings.", "",
                 "```{toctree}", ":maxdepth: 1", "", *groups, "```", ""]
    if SYLLABUS not in home:
        raise ValueError(f"{DOCS}/index.md has no line {SYLLABUS!r} for the syllabus")
    pages = {"index.md": home.replace(SYLLABUS, "\n".join(syllabus)),
             "lectures/index.md": "\n".join(listing),
             "assignments/index.md": "\n".join(tasks),
             "reference/index.md": "\n".join(reference)}
    for top, names in groups.items():
        body = [f"# `{top}`", ""]
        for name in names:
            if name != top:
                body += [f"## `{name}`", ""]
            # autodoc writes reStructuredText: MyST passes it on only inside eval-rst
            body += ["```{eval-rst}", f".. automodule:: {name}", "```", ""]
        pages[f"reference/{top}.md"] = "\n".join(body)
    return pages


def _write_if_changed(path: Path, data: bytes) -> None:
    """Write only new contents, so that Sphinx sees unchanged pages as unchanged."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _stage(layout: CourseLayout, src: Path, lectures_dir: Path, student_zip: Path
           ) -> tuple[list[Lecture], list[Assignment]]:
    """Copy the hand-written pages, lectures and assignments to ``src``; write the rest."""
    wanted: set[Path] = set()

    def put(rel: str, data: bytes) -> None:
        _write_if_changed(src / rel, data)
        wanted.add(src / rel)

    docs = layout.root / DOCS
    for path in sorted(docs.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.name != "index.md":
            put(path.relative_to(docs).as_posix(), path.read_bytes())
    lecture_paths = sorted(lectures_dir.glob("[0-9][0-9]_*.ipynb"))
    for path in lecture_paths:
        put(f"lectures/{path.name}", path.read_bytes())
    assignment_paths = sorted(layout.root.glob("assignments/*/*.ipynb"))
    for path in assignment_paths:
        put(f"assignments/{path.name}", path.read_bytes())
    lectures = [lecture_info(p) for p in lecture_paths]
    assignments = [assignment_info(p) for p in assignment_paths]
    home = (docs / "index.md").read_text(encoding="utf-8")
    for rel, text in _pages(lectures, assignments, home).items():
        put(rel, text.encode())
    wanted.add(copy_mathjax(src / "_static"))
    put(f"_downloads/{student_zip.name}", student_zip.read_bytes())
    for path in sorted(src.rglob("*"), reverse=True):  # pages removed since last time
        if path.is_file() and path not in wanted:
            path.unlink()
    return lectures, assignments


def build_site(layout: CourseLayout, out: Path | None = None, *, execute: bool | list[str]
               = True, jobs: int = 1, lectures_dir: Path | None = None, log=print
               ) -> SiteReport:
    """Build the website into ``out`` (default ``_build/site``); return what it did.

    ``execute``: True runs every lecture (from the cache where the code is unchanged),
    False none, a list of lecture names only those. ``lectures_dir`` replaces
    ``lectures/`` (tests). Fast mode (``CNN_COURSE_FAST=1``) has its own work folder.
    """
    from sphinx.application import Sphinx
    from sphinx.util.console import nocolor
    from sphinx.util.docutils import docutils_namespace

    nocolor()  # plain lines: the log is read in terminals, CI logs and tests alike

    started = time.time()
    out = Path(out or layout.root / "_build" / "site").resolve()
    mode = "fast" if os.environ.get("CNN_COURSE_FAST") else "full"
    work = out.parent / "site-work" / mode
    src = work / "src"
    _, student_zip = build_student_copy(layout, work / "student")
    lectures, _ = _stage(layout, src, Path(lectures_dir or layout.root / "lectures"),
                         student_zip)
    names = [lec.name for lec in lectures]
    run = names if execute is True else [] if execute is False else list(execute)
    unknown = sorted(set(run) - set(names))
    if unknown:
        raise ValueError(f"no lecture named {', '.join(unknown)}; lectures: {', '.join(names)}")
    overrides = {
        "nb_execution_mode": "cache" if run else "off",
        "nb_execution_cache_path": str(work / "jupyter_cache"),
        "nb_execution_excludepatterns": ["assignments/*", *[f"lectures/{n}.ipynb"
                                                             for n in names if n not in run]],
    }
    with docutils_namespace():
        app = Sphinx(str(src), str(src), str(out), str(work / "doctrees"),
                     "html", confoverrides=overrides, status=None if log is None else
                     _LogStream(log), warning=_LogStream(log, "warning: "), parallel=jobs,
                     keep_going=True)
        app.build()
        exec_data = {doc[len("lectures/"):]: data.get("exec_data")
                     for doc, data in getattr(app.env, "nb_metadata", {}).items()
                     if doc.startswith("lectures/")}
    report = SiteReport(out, time.time() - started)
    for name in names:
        data = exec_data.get(name)
        if name not in run:
            report.not_run.append(name)
        elif data is None or not data.get("succeeded"):
            report.failed.append(name)
        elif data.get("mtime", 0) >= started:
            report.executed.append(name)
        else:
            report.cached.append(name)
    return report


class _LogStream:
    """Sphinx's status and warning streams, as lines to ``log``."""

    def __init__(self, log, prefix: str = ""):
        self.log, self.prefix, self.buffer = log, prefix, ""

    def write(self, text: str) -> int:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            if line.strip():
                self.log(self.prefix + line if not line.startswith("WARNING") else line)
        return len(text)

    def flush(self) -> None:
        pass


def clean(layout: CourseLayout) -> None:
    """Remove the website and its work folders (the execution cache too)."""
    for path in (layout.root / "_build" / "site", layout.root / "_build" / "site-work"):
        shutil.rmtree(path, ignore_errors=True)
