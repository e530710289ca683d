"""Every lecture runs top to bottom on the CPU (`make lectures` does the same)."""

import nbformat

from conftest import ROOT
from cnn_course.course.notebooks import build_lectures


def test_lecture_03_runs_top_to_bottom_and_builds_html(tmp_path, capsys):
    assert build_lectures(ROOT / "lectures", tmp_path, html=True, names=["03_convolution.ipynb"])
    nb = nbformat.read(tmp_path / "03_convolution.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "cnn_course: using device" in text
    assert "[-1.  0. -1. -8.]" in text  # the 1-D worked example
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4  # the figures
    assert (tmp_path / "03_convolution.html").stat().st_size > 10_000


def test_failed_lecture_is_reported_not_fatal(tmp_path, capsys):
    bad = tmp_path / "src"
    bad.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")])
    nbformat.write(nb, bad / "99_broken.ipynb")
    assert not build_lectures(bad, tmp_path / "out")
    assert "FAILED 99_broken.ipynb: CellExecutionError" in capsys.readouterr().out
