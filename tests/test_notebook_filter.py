"""Committed notebooks stay clean: the nbstripout filter that ``make install`` sets up.

What JupyterLab adds when a student or an instructor saves a notebook after running
it (outputs, execution counts, the kernel's ``language_info``) goes away through the
filter, which gives back the committed bytes exactly; ``.gitattributes`` names the
filter for every notebook and ``make install`` configures it. (``test_browser.py``
does the same with a notebook JupyterLab really saved.)
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import ROOT

MAKEFILE = (ROOT / "Makefile").read_text()
NOTEBOOKS = ["lectures/03_convolution.ipynb", "assignments/01_convolution/01_convolution.ipynb"]


def _filter_args() -> list[str]:
    args = MAKEFILE.split("NBSTRIPOUT_ARGS := ", 1)[1].split("\nNBSTRIPOUT :=")[0]
    return shlex.split(args.replace("\\\n", " "))


def _as_jupyterlab_saves(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` after Run All and Save in JupyterLab (what the kernel and the page add)."""
    nb.metadata.language_info = {
        "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
        "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3", "version": "3.11.2"}
    for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), 1):
        cell.execution_count = count
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n"),
                        nbformat.v4.new_output("display_data",
                                               data={"image/png": "iVBORw0KGgo="})]
    return nb


def test_git_runs_the_filter_on_every_notebook_and_make_install_sets_it_up():
    attributes = (ROOT / ".gitattributes").read_text().splitlines()
    assert "*.ipynb filter=nbstripout diff=ipynb" in attributes
    assert "install: $(STAMP) git-filter" in MAKEFILE
    assert "git config filter.nbstripout.clean '$(NBSTRIPOUT)'" in MAKEFILE
    assert "git config filter.nbstripout.required true" in MAKEFILE


def test_the_filter_gives_back_the_committed_notebook(tmp_path):
    """A lecture and an assignment saved with outputs come back byte for byte."""
    saved = []
    for rel in NOTEBOOKS:
        nb = _as_jupyterlab_saves(nbformat.read(ROOT / rel, as_version=4))
        path = tmp_path / Path(rel).name
        nbformat.write(nb, path)
        assert path.read_bytes() != (ROOT / rel).read_bytes()
        saved.append(path)
    nbstripout = Path(sys.executable).parent / "nbstripout"
    subprocess.run([str(nbstripout), *_filter_args(), *map(str, saved)], check=True,
                   capture_output=True, timeout=120)  # in place, as one call
    for rel, path in zip(NOTEBOOKS, saved):
        assert path.read_bytes() == (ROOT / rel).read_bytes(), rel
