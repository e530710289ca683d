"""The student copy: what a course hands out, as a folder and a zip.

The copy is built from an explicit include list, :data:`INCLUDE`, and never as "the
checkout minus a deny list": a file is in the copy only because a pattern below
names it. A new folder of instructor material (like ``solutions/``, ``course/`` with
the gradebook, ``tests/``, ``scripts/``, ``benchmarks/``) therefore stays out
without anyone remembering to exclude it. What goes in:

- ``README.md``, written here for students: install, lectures, assignments, check;
- ``pyproject.toml`` and ``environment.yml``: ``pip install ./<folder>`` (or conda)
  installs the library and the ``cnn-course`` command with the course's pins; the
  copy's ``pyproject.toml`` also installs the Jupyter settings of a student's
  environment (:data:`STUDENT_DATA_FILES`: JupyterLab without nbgrader's instructor
  tools);
- the ``cnn_course`` package: its modules, ``py.typed``, the pretrained weights and
  the data ``check()`` needs (the visible checks, templates, Jupyter settings);
- ``lectures/*.ipynb``, with outputs cleared;
- ``assignments/<name>/*``: the student versions that ``cnn-course release`` made.

As a last guard, a notebook that still carries nbgrader's solution or hidden-test
markers stops the build. The zip is deterministic: sorted entries, fixed
timestamps and permissions, so two builds of one tree are byte-identical.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import nbformat

from .grading.paths import CourseError, CourseLayout

__all__ = ["INCLUDE", "NAME", "build_student_copy"]

NAME = "cnn-course-student"  # the folder, and the zip's top folder

# Glob patterns relative to the checkout's root: everything the copy holds. The
# package's entries match pyproject.toml's package-data (a test checks), so the copy
# holds what `pip install` installs.
INCLUDE = (
    "pyproject.toml",
    "environment.yml",
    "cnn_course/py.typed",
    "cnn_course/**/*.py",
    "cnn_course/weights/*",
    "cnn_course/data/*",
    "cnn_course/course/checks/*.json",
    "cnn_course/course/templates/*/*.j2",
    "cnn_course/course/jupyter_student/**/*.json",
    "lectures/*.ipynb",
    "assignments/*/*",
)

# nbgrader's markers: a released notebook has none left.
MARKERS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS")

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say

# Installed into the student's environment (<prefix>/etc/jupyter/...) by the copy's
# pyproject.toml: nbgrader's Create Assignment, Formgrader and Course List off
# (cnn_course.course.lab.STUDENT_CONFIG holds the files).
_STUDENT_CONFIG = "cnn_course/course/jupyter_student"
STUDENT_DATA_FILES = {
    "etc/jupyter/labconfig/page_config.d":
        f"{_STUDENT_CONFIG}/labconfig/page_config.d/cnn_course_student.json",
    "etc/jupyter/jupyter_server_config.d":
        f"{_STUDENT_CONFIG}/jupyter_server_config.d/nbgrader_student.json",
}


def build_student_copy(layout: CourseLayout, out: Path) -> tuple[Path, Path]:
    """Write ``out/cnn-course-student/`` and ``out/cnn-course-student.zip``.

    Returns ``(folder, zip)``. A folder left by an earlier build is replaced;
    anything else at that path is refused.
    """
    files = _collect(layout.root)
    out = Path(out).resolve()
    folder, archive = out / NAME, out / f"{NAME}.zip"
    _check_target(layout.root, folder)
    if folder.exists():
        shutil.rmtree(folder)
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    _write_zip(archive, files)
    return folder, archive


def _collect(root: Path) -> dict[str, bytes]:
    """Relative path -> contents, for every file the include list names."""
    files: dict[str, bytes] = {}
    for pattern in INCLUDE:
        matched = [p for p in sorted(root.glob(pattern))
                   if p.is_file() and _wanted(p, root)]
        if not matched:
            raise CourseError(f"nothing in {root} matches {pattern!r}, which the student "
                              "copy needs")
        for path in matched:
            rel = path.relative_to(root).as_posix()
            files[rel] = _contents(path, rel)
    files["README.md"] = _readme(sorted(files)).encode()
    files["pyproject.toml"] = _student_pyproject(files["pyproject.toml"])
    return dict(sorted(files.items()))


def _wanted(path: Path, root: Path) -> bool:
    """Leave out caches and hidden files that a pattern happens to match."""
    parts = path.relative_to(root).parts
    return not any(p.startswith(".") or p == "__pycache__" for p in parts)


def _contents(path: Path, rel: str) -> bytes:
    if path.suffix != ".ipynb":
        return path.read_bytes()
    text = path.read_text(encoding="utf-8")
    for marker in MARKERS:
        if marker in text:
            raise CourseError(f"{rel} still has nbgrader's {marker!r}: a student copy "
                              "never holds solutions; run `cnn-course release` first")
    nb = nbformat.reads(text, as_version=4)
    if not any(c.cell_type == "code" and (c.outputs or c.execution_count)
               for c in nb.cells):
        return path.read_bytes()  # already clean: keep the file byte for byte
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb).encode() + b"\n"


def _student_pyproject(original: bytes) -> bytes:
    """The checkout's pyproject.toml, plus the student environment's Jupyter settings."""
    lines = ["", "# Added by the student copy: JupyterLab without nbgrader's instructor tools",
             "# (Create Assignment, Formgrader, Course List) in the environment this",
             "# installs into.", "[tool.setuptools.data-files]"]
    lines += [f'"{target}" = ["{source}"]' for target, source in STUDENT_DATA_FILES.items()]
    return original.rstrip(b"\n") + b"\n" + "\n".join(lines).encode() + b"\n"


def _readme(paths: list[str]) -> str:
    lectures = [p for p in paths if p.startswith("lectures/")]
    assignments = [p for p in paths
                   if p.startswith("assignments/") and p.endswith(".ipynb")]
    first = assignments[0] if assignments else "assignments/<name>/<name>.ipynb"
    return "\n".join([
        "# CNN course: your copy",
        "",
        "The lectures, the assignments and the `cnn_course` library they use.",
        "",
        "## 1. Install (once)",
        "",
        "With Python 3.10 or newer, in this folder:",
        "",
        "```",
        "python -m venv .venv",
        ".venv/bin/pip install .",
        "```",
        "",
        "(or `conda env create -f environment.yml && conda activate cnn-course`).",
        "",
        "## 2. Lectures",
        "",
        "Start JupyterLab with `.venv/bin/cnn-course lab` (it runs `jupyter lab` with",
        "the course's commands on the PATH of its terminals) and open a lecture; run it",
        "top to bottom:",
        "",
        *[f"- `{p}`" for p in lectures],
        "",
        "## 3. Assignments",
        "",
        "Fill in the cells that say `# YOUR CODE HERE`. Only those cells are graded:",
        "test cells are put back before grading, so editing them earns nothing.",
        "",
        *[f"- `{p}`" for p in assignments],
        "",
        "Check your work as you go, in a cell of the notebook: `check()` runs the",
        "visible tests of every part and prints PASS or FAIL with a hint for each;",
        "`check(\"<part>\")` runs one part. Hidden tests run only at grading.",
        "",
        "## 4. Before you submit",
        "",
        "Run the notebook in a fresh kernel, as the grader will, in JupyterLab's",
        "terminal (or `.venv/bin/cnn-course` in any other); every part should pass:",
        "",
        "```",
        f"cnn-course check {first}",
        "```",
        "",
        "Then hand in the `.ipynb` file as it is, without renaming it.",
        "",
    ])


def _check_target(root: Path, folder: Path) -> None:
    """Refuse to write into the checkout's sources or over something not ours."""
    for name in ("cnn_course", "lectures", "assignments", "solutions", "course"):
        source = root.resolve() / name
        if folder == source or source in folder.parents:
            raise CourseError(f"will not write the student copy into {source}: "
                              "choose another --out, e.g. _build/student")
    if folder.exists():
        earlier = (folder / "README.md").is_file() and (folder / "cnn_course").is_dir()
        if not folder.is_dir() or (any(folder.iterdir()) and not earlier):
            raise CourseError(f"{folder} exists and is not an earlier student copy: "
                              "move it away or choose another --out")


def _write_zip(archive: Path, files: dict[str, bytes]) -> None:
    """Sorted entries, fixed times and modes: the same tree gives the same bytes."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}.")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for rel, data in sorted(files.items()):
                info = zipfile.ZipInfo(f"{NAME}/{rel}", date_time=ZIP_TIME)
                info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
                info.create_system = 3  # unix, whatever system builds it
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data, compresslevel=9)
        os.replace(tmp, archive)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
