"""The student copy: lectures, assignments and the library, and no solution text."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest

from cnn_course.course.cli import main
from cnn_course.course.grading.paths import CourseError, CourseLayout
from cnn_course.course.student_copy import INCLUDE, NAME, STUDENT_DATA_FILES, \
    build_student_copy
from conftest import ROOT

MIN_CHARS = 25  # shorter lines ("return out") are in every program, secret or not

# Lines of solutions/ that are public on purpose, each with where students see it.
KNOWN_PUBLIC = {
    # cnn_course/ops/signal.py: correlate2d_naive has the same loop header
    "for i in range(out.shape[0]):",
    # cnn_course/ops/_validate.py computes the same span
    "span = dilation * (kernel - 1) + 1",
    # lectures/03_convolution.ipynb: the lecture's worked example, reused by the checks
    "[-3, 2, 0, -1, 0], [5, 2, -4, 0, 1]])",
}
BLOCK = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


def secret_lines(root: Path = ROOT) -> set[str]:
    """Solution and hidden-test text from solutions/: no student copy may hold any.

    The code between nbgrader's BEGIN/END SOLUTION and BEGIN/END HIDDEN TESTS
    markers of every notebook, and every line of the hidden checks next to them
    (``spec.py``, ``verdicts.py``); lines of at least ``MIN_CHARS`` characters,
    without imports, and without text students see anyway (the notebook outside the
    markers, the visible checks, the package, the lectures) or that ``KNOWN_PUBLIC``
    lists.
    """
    secret, public = set(), []
    for path in sorted(root.glob("solutions/*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for block in BLOCK.finditer(cell.source):
                secret.update(line.strip() for line in block.group(2).splitlines())
            public.append(BLOCK.sub("", cell.source))
    for path in sorted(root.glob("solutions/*/*.py")):
        secret.update(line.strip() for line in path.read_text().splitlines())
    # The visible checks are public by design: generated from the spec's visible tests
    # (test_assignments checks they hold no hidden test), they run in the student's
    # notebook. The package and the lectures are public too (the copy ships them): a
    # solution may use a line the lecture teaches, a spec what the library holds.
    for path in sorted(root.glob("cnn_course/course/checks/*.json")):
        public.extend(_strings(json.loads(path.read_text())))
    for path in sorted(root.glob("cnn_course/**/*.py")):
        public.append(path.read_text())
    for path in sorted(root.glob("lectures/*.ipynb")):  # what the lectures teach
        public.extend(c.source for c in nbformat.read(path, as_version=4).cells)
    public_text = "\n".join(public)
    return {line for line in secret
            if len(line) >= MIN_CHARS and not line.startswith(("import ", "from "))
            and line not in public_text and line not in KNOWN_PUBLIC}


def _strings(value) -> list[str]:
    """Every string in a JSON document (the checks' code and labels)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def find_leaks(files: dict[str, bytes], secrets: set[str]) -> list[tuple[str, str]]:
    """(file, line) for every secret line found in a file's bytes.

    A notebook stores its code as JSON strings, where a quote is ``\\"``; so each
    notebook is also searched cell by cell, as its author typed it.
    """
    leaks = []
    for name, data in sorted(files.items()):
        texts = [data]
        if name.endswith(".ipynb"):
            cells = json.loads(data)["cells"]
            texts += ["".join(c["source"]).encode() for c in cells]
        leaks += [(name, line) for line in sorted(secrets)
                  if any(line.encode() in text for text in texts)]
    return leaks


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def zip_files(archive: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


@pytest.fixture(scope="module")
def built(tmp_path_factory, layout) -> tuple[Path, Path]:
    return build_student_copy(layout, tmp_path_factory.mktemp("student"))


def test_copy_holds_the_lectures_assignments_and_library(built):
    """The copy: README, install files, the package, lectures and assignments."""
    folder, archive = built
    assert folder.name == NAME and archive.name == f"{NAME}.zip"
    assert {p.name for p in folder.iterdir()} == {
        "README.md", "pyproject.toml", "environment.yml", "cnn_course", "lectures",
        "assignments"}
    for lecture in ROOT.glob("lectures/*.ipynb"):
        copied = nbformat.read(folder / "lectures" / lecture.name, as_version=4)
        for cell in copied.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, lecture.name
    for notebook in ROOT.glob("assignments/*/*.ipynb"):
        rel = notebook.relative_to(ROOT)
        assert (folder / rel).read_bytes() == notebook.read_bytes(), rel
    assert list((folder / "cnn_course" / "weights").glob("*.pt"))
    readme = (folder / "README.md").read_text()
    for step in ("pip install .", "jupyter lab", "# YOUR CODE HERE",
                 "cnn-course check"):
        assert step in readme, step
    assert "solutions" not in readme


def test_copy_holds_nothing_for_instructors_only(built):
    """No solutions/, course/, tests/, scripts/, caches, or hidden-check files."""
    folder, archive = built
    names = folder_files(folder)
    assert set(zip_files(archive)) == {f"{NAME}/{name}" for name in names}
    for name in names:
        parts = name.split("/")
        assert parts[0] not in {"solutions", "course", "tests", "scripts", "benchmarks",
                                ".git", ".venv", "_build"}, name
        assert "__pycache__" not in parts and not name.endswith(".pyc"), name
        assert not any(p.startswith(".") for p in parts), name
        assert parts[-1] not in {"spec.py", "verdicts.py", "gradebook.db"}, name
    solution_files = {p.read_bytes() for p in ROOT.glob("solutions/**/*")
                      if p.is_file()}
    assert not solution_files & set(names.values())


def test_no_solution_or_hidden_test_text_in_the_copy(built):
    """Not one line of a solution or a hidden test, in the folder or in the zip."""
    folder, archive = built
    secrets = secret_lines()
    assert len(secrets) >= 20, "found too few solution lines: is solutions/ there?"
    leaks = find_leaks(folder_files(folder), secrets) + find_leaks(zip_files(archive),
                                                                    secrets)
    assert not leaks, (
        f"solution text in the student copy: {leaks[:5]}; if a line is public on "
        "purpose, add it to KNOWN_PUBLIC with where students see it")


def test_the_leak_check_finds_a_planted_solution(built):
    """The check can fail: a solution line planted in a module or notebook is found."""
    folder, _ = built
    files = folder_files(folder)
    secrets = secret_lines()
    quoted = next(line for line in sorted(secrets) if '"' in line)  # JSON-escaped
    plain = sorted(secrets)[0]

    module = "cnn_course/ops/conv.py"
    planted = dict(files, **{module: files[module] + f"\n# {plain}\n".encode()})
    assert find_leaks(planted, secrets) == [(module, plain)]

    notebook = next(name for name in files if name.startswith("assignments/"))
    nb = nbformat.reads(files[notebook].decode(), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(f"x = 1\n    {quoted}\n"))
    planted = dict(files, **{notebook: nbformat.writes(nb).encode()})
    assert (notebook, quoted) in find_leaks(planted, secrets)


def test_two_builds_give_the_same_zip(built, layout, tmp_path):
    """Sorted entries and fixed timestamps: rebuilding gives byte-identical zips."""
    _, first = built
    _, second = build_student_copy(layout, tmp_path)
    assert second.read_bytes() == first.read_bytes()
    _, again = build_student_copy(layout, tmp_path)  # over the earlier build
    assert again.read_bytes() == first.read_bytes()
    with zipfile.ZipFile(again) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr >> 16 for info in zf.infolist()} == {0o100644}


def test_the_copy_installs_with_pip(built, tmp_path):
    """pip installs the library from the unzipped copy; cnn_course.ops imports."""
    _, archive = built
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "unzipped")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target),
                    str(tmp_path / "unzipped" / NAME)], check=True, timeout=300)
    probe = ("import cnn_course, cnn_course.ops; "
             "print(cnn_course.__file__); print(cnn_course.ops.conv2d_forward_naive)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, check=True,
                         capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.stdout.startswith(str(target / "cnn_course")), out.stdout
    assert list((target / "cnn_course" / "weights").glob("*.pt")), "no package data"
    assert (target / "bin" / "cnn-course").is_file()
    # JupyterLab without nbgrader's instructor tools wherever the copy is installed
    for folder, source in STUDENT_DATA_FILES.items():
        assert (target / folder / Path(source).name).is_file(), folder


def test_include_list_covers_the_package_data():
    """The copy ships every file `pip install` installs: pyproject's package-data."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["package-data"]["cnn_course"]:
        assert f"cnn_course/{pattern}" in INCLUDE, pattern


def _tiny_course(root: Path, assignment_source: str) -> CourseLayout:
    """A checkout with one file for each pattern of the include list."""
    for rel in ("pyproject.toml", "environment.yml", "cnn_course/py.typed",
                "cnn_course/__init__.py", "cnn_course/weights/w.json",
                "cnn_course/data/__init__.py", "cnn_course/course/checks/a.json",
                "cnn_course/course/templates/base/a.j2",
                "cnn_course/course/jupyter_student/a/a.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    (root / "lectures").mkdir()
    nbformat.write(nb, root / "lectures" / "01_intro.ipynb")
    (root / "assignments" / "a").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(assignment_source)]), root / "assignments/a/a.ipynb")
    return CourseLayout(root)


def test_lecture_outputs_are_cleared_and_solutions_refused(tmp_path):
    """A lecture's outputs are cleared; a notebook with solution markers stops it."""
    clean = _tiny_course(tmp_path / "clean", "# YOUR CODE HERE")
    folder, _ = build_student_copy(clean, tmp_path / "out")
    lecture = nbformat.read(folder / "lectures" / "01_intro.ipynb", as_version=4)
    assert lecture.cells[0].outputs == []

    leaky = _tiny_course(tmp_path / "leaky",
                         "### BEGIN SOLUTION\nx = 42\n### END SOLUTION")
    with pytest.raises(CourseError, match="BEGIN SOLUTION"):
        build_student_copy(leaky, tmp_path / "out2")


def test_refuses_to_write_into_the_sources_or_over_other_files(layout, tmp_path):
    """--out inside the package or over an unrelated folder is an error, not a wipe."""
    with pytest.raises(CourseError, match="will not write"):
        build_student_copy(layout, ROOT / "cnn_course")
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "thesis.tex").write_text("mine")
    with pytest.raises(CourseError, match="not an earlier student copy"):
        build_student_copy(layout, tmp_path)
    assert (tmp_path / NAME / "thesis.tex").read_text() == "mine"


def test_cli_student_copy(tmp_path, capsys):
    """`cnn-course student-copy --out DIR` builds the folder and the zip."""
    argv = ["--course-root", str(ROOT), "student-copy", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert (tmp_path / NAME / "pyproject.toml").is_file()
    assert (tmp_path / f"{NAME}.zip").is_file()
    assert str(tmp_path / f"{NAME}.zip") in capsys.readouterr().out

