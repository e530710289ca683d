"""Every lecture runs top to bottom in fast mode and meets the lecture standard.

The standard (``shared/notes/lectures.md``): it opens with what the reader will be
able to do, ends with a summary, exercises with collapsed answers and pointers to the
next lecture and the assignment, uses the library rather than re-defining it, says
which device it runs on, draws figures, and is stored without outputs. `make
lectures` runs the same notebooks in full mode.
"""

import re

import nbformat
import pytest

from conftest import ROOT
from cnn_course.course.notebooks import build_lectures, resolve_lectures

LECTURES = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))


def _text(nb, kind):
    return "\n".join(c.source for c in nb.cells if c.cell_type == kind)


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_has_the_standard_shape(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source
    assert first.startswith("# Lecture"), "the first cell is the lecture's title"
    assert re.search(r"you (can|will be able to)", first), "it says what the reader can do"
    markdown = _text(nb, "markdown")
    assert re.search(r"^#+ Summary", markdown, re.M), "a summary section"
    assert markdown.count("<details>") >= 2, "2-4 exercises with collapsed answers"
    assert re.search(r"lecture \d\d|`\d\d_\w+`", markdown[-3000:], re.I), \
        "the ending points to the next lecture"
    code = _text(nb, "code")
    assert "get_device" in code, "it picks the GPU when there is one"
    assert "assert" in code, "its numbers are asserted"
    assert not re.search(r"^(def|class) ", code, re.M) or "getsource" in code or \
        re.search(r"^def (show|plot|draw|_)", code, re.M), \
        "it imports the library rather than re-defining it"


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_runs_in_fast_mode(path, tmp_path):
    assert build_lectures(path.parent, tmp_path, names=[path.name])
    nb = nbformat.read(tmp_path / path.name, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "cnn_course: using device" in text
    assert any("image/png" in o.get("data", {}) for o in outputs), "at least one figure"


def test_lecture_03_worked_example_and_html(tmp_path):
    assert build_lectures(ROOT / "lectures", tmp_path, html=True,
                          names=["03_convolution.ipynb"])
    nb = nbformat.read(tmp_path / "03_convolution.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert "[-1.  0. -1. -8.]" in text  # the 1-D worked example
    assert (tmp_path / "03_convolution.html").stat().st_size > 10_000


def test_failed_lecture_is_reported_not_fatal(tmp_path, capsys):
    bad = tmp_path / "src"
    bad.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")])
    nbformat.write(nb, bad / "99_broken.ipynb")
    assert not build_lectures(bad, tmp_path / "out")
    assert "FAILED 99_broken.ipynb: CellExecutionError" in capsys.readouterr().out


def test_lectures_are_named_by_number_stem_or_file_and_unknown_names_fail_first():
    lectures = ROOT / "lectures"
    by_number = resolve_lectures(lectures, ["10", "03_convolution", "01_fully_connected.ipynb"])
    assert [p.name for p in by_number] == ["10_architectures.ipynb", "03_convolution.ipynb",
                                           "01_fully_connected.ipynb"]
    assert resolve_lectures(lectures) == LECTURES
    with pytest.raises(ValueError, match="no lecture '99'.*one of 01_fully_connected"):
        resolve_lectures(lectures, ["03", "99"])
