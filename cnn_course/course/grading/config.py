"""The course's nbgrader configuration, in one place.

``course/nbgrader_config.py`` calls :func:`configure` so that the plain ``nbgrader``
commands (``generate_assignment``, ``autograde``, ``generate_feedback``, ``export``,
the formgrader) run the same pipeline as ``cnn-course``: the spec's test cells,
sanitising, the sandboxed kernel, the trusted verdicts and the feedback that shows
neither hidden tests nor their outputs (:mod:`.preprocessors`). It also works around
the pitfalls in ``shared/notes/nbgrader.md``:

- the gradebook holds the hidden tests, so it lives in a git-ignored workspace;
- a SQLite busy timeout, so a second process waits instead of failing;
- warnings on stderr would zero a graded cell, so they are ignored;
- student HTML in the feedback is sanitised.
"""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

# Python kernel arguments: no history file, and no start-up warnings in the terminal.
KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]
DEFAULT_SUBMISSION_CPU = 300  # CPU seconds per submission: notebook and checks together
# The gradebook's URL for course/nbgrader_config.py and `cnn-course grade`. Not a
# CNN_COURSE_* name: those variables reach the sandbox, and this one may hold a password.
DB_URL_ENV = "NBGRADER_DB_URL"
INSTRUCTOR_FILES = ["spec.py", "verdicts.py"]  # never released, never copied to students


def default_db_url(workspace: Path) -> str:
    """The workspace's own SQLite gradebook (waiting up to 120 s for another writer)."""
    return f"sqlite:///{Path(workspace).resolve() / 'gradebook.db'}?timeout=120"


def configure(c: Config, workspace: Path, solutions: Path, release: Path,
              sandboxed: bool | None = None,
              submission_cpu: float = DEFAULT_SUBMISSION_CPU,
              db_url: str | None = None, cluster: str | None = None) -> Config:
    """Fill ``c`` with the course's nbgrader settings.

    ``workspace`` is nbgrader's course root: it gets ``submitted/``, ``autograded/``,
    ``feedback/`` and (unless ``db_url`` names another) ``gradebook.db``.
    ``solutions`` holds the source notebooks and specs, ``release`` receives the
    student versions. Student kernels run in the sandbox when ``sandboxed``
    (default: whenever the sandbox works here). ``db_url`` is any SQLAlchemy URL
    nbgrader takes, e.g. ``postgresql+psycopg2://grader@dbhost/gradebook``, so that
    several graders and the formgrader share one gradebook. With ``cluster`` (a Dask
    scheduler's address) the kernel and the runner run on its workers, the rest here
    (:mod:`.cluster`).
    """
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        DeduplicateIds,
        GetGrades,
        IgnorePattern,
        IncludeHeaderFooter,
        InstantiateTests,
        LimitOutput,
        LockCells,
        OverwriteCells,
        OverwriteKernelspec,
        SaveAutoGrades,
        SaveCells,
    )

    from . import preprocessors as pp
    from .execute import EXTENSION, SandboxedExecute
    from .sandbox import detect

    if sandboxed is None:
        sandboxed = detect().sandboxed
    workspace = Path(workspace).resolve()
    solutions = str(Path(solutions).resolve())
    c.CourseDirectory.root = str(workspace)
    c.CourseDirectory.source_directory = solutions
    c.CourseDirectory.release_directory = str(Path(release).resolve())
    c.CourseDirectory.db_url = db_url or default_db_url(workspace)
    c.CourseDirectory.course_id = "cnn_course"
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                                *INSTRUCTOR_FILES]
    for step in ("InsertSpecTests", "TrustedVerdicts", "SaveVerdicts", "SandboxedExecute"):
        c[step].solutions = solutions
    c.RebuildFromRelease.release = c.CourseDirectory.release_directory
    c.SandboxedExecute.sandboxed = sandboxed
    c.SandboxedExecute.submission_cpu = float(submission_cpu)
    c.SandboxedExecute.extra_arguments = [*KERNEL_ARGS, EXTENSION]
    c.TrustedVerdicts.sandboxed = sandboxed
    c.TrustedVerdicts.submission_cpu = float(submission_cpu)
    if cluster:
        c.SandboxedExecute.cluster = cluster
        c.TrustedVerdicts.cluster = cluster

    c.GenerateAssignment.preprocessors = [
        pp.InsertSpecTests,  # the spec's header and test cells, first of all
        IncludeHeaderFooter, InstantiateTests, LockCells, ClearSolutions, ClearOutput,
        CheckCellMetadata, ComputeChecksums, SaveCells, ClearHiddenTests, ClearMarkScheme,
        ComputeChecksums, CheckCellMetadata,
    ]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.Autograde.sanitize_preprocessors = [
        pp.RebuildFromRelease,  # only the student's answer cells survive
        ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata,
    ]
    c.Autograde.autograde_preprocessors = [
        pp.BeginTrustedVerdicts,  # the grader's own check starts, in its own sandbox
        SandboxedExecute,  # meanwhile, the notebook in the sandbox, for the feedback
        pp.TrustedVerdicts,  # the grader's check, judged, decides each test cell
        IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
        SaveAutoGrades,
        pp.SaveVerdicts,  # verdicts into the gradebook's comments; flags
        AssignLatePenalties, CheckCellMetadata,
    ]
    c.IgnorePattern.enabled = True
    c.IgnorePattern.pattern = r"Warning"
    c.GenerateFeedback.preprocessors = [
        GetGrades, pp.VerdictSummary, pp.EscapeComments, pp.ClearHiddenOutputs,
        ClearHiddenTests, pp.HideGradedTracebacks, CSSHTMLHeaderPreprocessor,
    ]
    c.HTMLExporter.sanitize_html = True  # student HTML and scripts are escaped
    from ..mathjax import feedback_settings  # maths renders offline: MathJax inline

    for name, value in feedback_settings().items():
        c.HTMLExporter[name] = value
    return c
