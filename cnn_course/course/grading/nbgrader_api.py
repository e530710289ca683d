"""Build an in-process nbgrader API for one workspace (no 5 s CLI start-up per call)."""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from pathlib import Path

from traitlets.config import Config

from .config import DEFAULT_SUBMISSION_CPU, configure


def make_api(workspace: Path, solutions: Path, release: Path, quiet: bool = True,
             sandboxed: bool | None = None,
             submission_cpu: float = DEFAULT_SUBMISSION_CPU, db_url: str | None = None,
             cluster: str | None = None):
    """Return an ``NbGraderAPI`` whose course root is ``workspace``."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    # A fresh gradebook shells out to `alembic`, which lives next to this Python.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    Path(workspace).mkdir(parents=True, exist_ok=True)
    c = configure(Config(), workspace, solutions, release, sandboxed=sandboxed,
                  submission_cpu=submission_cpu, db_url=db_url, cluster=cluster)
    # No exchange is used; point it inside the workspace so nbgrader does not probe
    # /srv/nbgrader/exchange on every start.
    c.Exchange.root = str(Path(workspace).resolve() / ".exchange")
    if quiet:
        c.NbGraderAPI.log_level = logging.ERROR
        warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy chatter
    coursedir = CourseDirectory(config=c)
    return NbGraderAPI(coursedir=coursedir, config=c)


_EXCEPTION_LINE = re.compile(r"^\s*(?:[\w]+\.)*(\w*(?:Error|Exception|Exit)): (.+)$")
_GENERIC = ("NbGraderException",)


def nbgrader_error(result: dict) -> str:
    """The most specific line of a failed nbgrader API call's log, e.g. "Kernel died".

    nbgrader ends its log with "Please see the above traceback"; the cause is the
    last exception line above that, such as ``DeadKernelError: Kernel died``.
    """
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line)
        if match and match.group(1) not in _GENERIC:
            return f"{match.group(1)}: {match.group(2)}"[:300]
    for line in reversed(lines):
        if line.startswith("[ERROR]") and "see the the above" not in line:
            return line.removeprefix("[ERROR]").strip()[:300]
    return "nbgrader failed without a message"
