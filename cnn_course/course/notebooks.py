"""Execute the lecture notebooks into a build folder (``make lectures``).

The notebooks in ``lectures/`` carry no outputs, so diffs stay readable; executed
copies (and, with ``html=True``, HTML pages) are build products in a git-ignored
folder.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .grading.config import KERNEL_ARGS


def execute_notebook(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run ``path`` top to bottom in a fresh kernel, in its own folder; raise on error."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, extra_arguments=KERNEL_ARGS,
                            resources={"metadata": {"path": str(Path(path).parent.resolve())}})
    client.execute()
    return nb


def build_lectures(lectures: Path, out: Path, html: bool = False,
                   names: list[str] | None = None) -> bool:
    """Execute every lecture (or those in ``names``); return whether all ran."""
    from nbconvert import HTMLExporter

    out.mkdir(parents=True, exist_ok=True)
    paths = [lectures / n for n in names] if names else sorted(lectures.glob("[0-9]*.ipynb"))
    ok = True
    for path in paths:
        started = time.perf_counter()
        try:
            nb = execute_notebook(path)
        except Exception as err:  # report and go on with the next lecture
            print(f"FAILED {path.name}: {type(err).__name__}: {str(err).splitlines()[-1:]}")
            ok = False
            continue
        nbformat.write(nb, out / path.name)
        if html:
            body, _ = HTMLExporter().from_notebook_node(nb)
            (out / path.with_suffix(".html").name).write_text(body, encoding="utf-8")
        print(f"ran {path.name} in {time.perf_counter() - started:.1f} s -> {out / path.name}")
    return ok
