"""The course's nbgrader configuration, in one place.

``course/nbgrader_config.py`` calls :func:`configure` so that the plain ``nbgrader``
commands (formgrader, export) see the same settings as ``cnn-course``. The settings
work around the pitfalls listed in ``shared/notes/nbgrader.md``:

- the gradebook holds the hidden tests, so it lives in a git-ignored workspace;
- a SQLite busy timeout, so a second process waits instead of failing;
- warnings on stderr would zero a graded cell, so they are ignored;
- feedback shows neither hidden tests nor their tracebacks.
"""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

DEFAULT_CELL_TIMEOUT = 10  # seconds per cell; the example infinite loop costs this much
# Python kernel arguments: no history file, and no start-up warnings in the terminal.
KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]


DEFAULT_NOTEBOOK_TIMEOUT = 300  # seconds for a whole notebook
VERDICTS_SPEC = "verdicts.py"  # solutions/<assignment>/verdicts.py: the trusted checks


def configure(c: Config, workspace: Path, solutions: Path, release: Path,
              cell_timeout: int = DEFAULT_CELL_TIMEOUT, sandboxed: bool | None = None,
              notebook_timeout: int = DEFAULT_NOTEBOOK_TIMEOUT) -> Config:
    """Fill ``c`` with the course's nbgrader settings.

    ``workspace`` is nbgrader's course root: it gets ``submitted/``, ``autograded/``,
    ``feedback/`` and ``gradebook.db``. ``solutions`` holds the source notebooks and
    ``release`` receives the student versions. Student kernels run in the sandbox
    when ``sandboxed`` (default: whenever bubblewrap works here).
    """
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearHiddenTests,
        GetGrades,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    from .execute import SandboxedExecute
    from .feedback import AddVerdictSummary, HideGradedTracebacks
    from .sandbox import probe

    if sandboxed is None:
        sandboxed = probe().sandboxed

    workspace = Path(workspace).resolve()
    c.CourseDirectory.root = str(workspace)
    c.CourseDirectory.source_directory = str(Path(solutions).resolve())
    c.CourseDirectory.release_directory = str(Path(release).resolve())
    c.CourseDirectory.db_url = f"sqlite:///{workspace / 'gradebook.db'}?timeout=120"
    c.CourseDirectory.course_id = "cnn_course"
    # verdicts.py holds the grader's inputs and reference answers: never release it.
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                                VERDICTS_SPEC]
    c.Execute.timeout = cell_timeout
    c.Execute.interrupt_on_timeout = True
    c.SandboxedExecute.sandboxed = sandboxed
    c.SandboxedExecute.notebook_timeout = notebook_timeout
    c.Autograde.autograde_preprocessors = [
        SandboxedExecute,  # nbgrader's Execute, with the kernel in the sandbox
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    # The kernel's own start-up warnings would land in the grader's terminal.
    c.Execute.extra_arguments = list(KERNEL_ARGS)
    c.IgnorePattern.enabled = True
    c.IgnorePattern.pattern = r"Warning"
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.GenerateFeedback.preprocessors = [
        GetGrades,
        ClearHiddenTests,
        HideGradedTracebacks,
        AddVerdictSummary,
        CSSHTMLHeaderPreprocessor,
    ]
    return c
