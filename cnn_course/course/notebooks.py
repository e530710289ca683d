"""One notebook runner for the lectures, the self-check and the tests.

:func:`run_notebook` executes a notebook in a fresh kernel, in a given folder, with
the course's kernel arguments; the lectures (``make lectures``), ``cnn-course check``
and the test suite all call it. The notebooks in ``lectures/`` carry no outputs, so
diffs stay readable; executed copies (and, with ``html=True``, HTML pages) are build
products in a git-ignored folder; the HTML loads MathJax from a copy in that folder,
so its maths renders offline.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .grading.config import KERNEL_ARGS


@contextmanager
def _environment(env: dict[str, str] | None):
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_notebook(nb: nbformat.NotebookNode, folder: Path, *, timeout: int = 600,
                 allow_errors: bool = False, env: dict[str, str] | None = None,
                 extra_arguments: list[str] | None = None,
                 on_cell: Callable | None = None) -> nbformat.NotebookNode:
    """Execute ``nb`` in place, top to bottom, with ``folder`` as the working folder.

    ``env`` is set for the kernel; ``on_cell(cell)`` is called as each cell finishes
    (a progress line, say). With ``allow_errors`` a failing cell does not stop the
    run; otherwise the first error raises ``CellExecutionError``.
    """
    client = NotebookClient(nb, timeout=timeout, allow_errors=allow_errors,
                            interrupt_on_timeout=True,
                            extra_arguments=[*KERNEL_ARGS, *(extra_arguments or [])],
                            resources={"metadata": {"path": str(Path(folder).resolve())}})
    if on_cell is not None:
        client.on_cell_executed = lambda cell, **kw: on_cell(cell)
    with _environment(env):
        client.execute()
    return nb


def execute_notebook(path: Path, timeout: int = 7200) -> nbformat.NotebookNode:
    """Run ``path`` top to bottom in a fresh kernel, in its own folder; raise on error."""
    nb = nbformat.read(path, as_version=4)
    return run_notebook(nb, Path(path).parent, timeout=timeout)


def build_lectures(lectures: Path, out: Path, html: bool = False,
                   names: list[str] | None = None) -> bool:
    """Execute every lecture (or those in ``names``); return whether all ran."""
    from .mathjax import copy_mathjax, html_exporter, relative_url

    out.mkdir(parents=True, exist_ok=True)
    if html:  # the pages' maths renders offline, from a copy of MathJax next to them
        copy_mathjax(out)
        exporter = html_exporter(mathjax_url=relative_url())
    paths = resolve_lectures(lectures, names)
    ok = True
    for path in paths:
        started = time.perf_counter()
        cpu_before = _children_cpu()
        try:
            nb = execute_notebook(path)
        except Exception as err:  # report and go on with the next lecture
            print(f"FAILED {path.name}: {type(err).__name__}: {str(err).splitlines()[-1:]}")
            ok = False
            continue
        nbformat.write(nb, out / path.name)
        if html:
            body, _ = exporter.from_notebook_node(nb)
            (out / path.with_suffix(".html").name).write_text(body, encoding="utf-8")
        print(f"ran {path.name} in {time.perf_counter() - started:.1f} s "
              f"({_children_cpu() - cpu_before:.1f} s of kernel CPU) -> {out / path.name}")
    return ok


def resolve_lectures(lectures: Path, names: list[str] | None = None) -> list[Path]:
    """The lecture notebooks that ``names`` mean, in the order given (all when empty).

    A name is a file name (``10_architectures.ipynb``), its stem (``10_architectures``)
    or its number (``10``). An unknown name raises ``ValueError`` listing the lectures
    there are, before anything runs."""
    available = sorted(lectures.glob("[0-9]*.ipynb"))
    if not names:
        return available
    paths = []
    for name in names:
        matches = [p for p in available
                   if name in (p.name, p.stem) or p.stem.split("_", 1)[0] == name]
        if len(matches) != 1:
            raise ValueError(f"no lecture {name!r} in {lectures}: expected a number, "
                             f"a name or a file name, one of "
                             f"{', '.join(p.stem for p in available)}")
        paths.append(matches[0])
    return paths


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: the kernels
    that ran and were shut down. Unlike wall time, it does not grow with other load."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
