"""The ``cnn-course`` command: release, grade, check, demo, lectures, site, lab.

Exit codes: 0 success; 1 a check failed (``check``) or a notebook failed to run
(``lectures``); 2 bad input (unknown assignment, missing folder or file).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..grading.config import DB_URL_ENV, DEFAULT_SUBMISSION_CPU
from ..grading.paths import CourseError, find_layout


def _cmd_release(args) -> int:
    from ..grading.release import release

    for path in release(find_layout(args.course_root), args.assignments or None):
        print(f"released {path}")
    return 0


def _cmd_grade(args) -> int:
    from ..grading.grade import format_table, grade

    rows = grade(find_layout(args.course_root), args.assignment, args.submissions,
                 args.out, workspace=args.workspace, submission_cpu=args.notebook_timeout,
                 feedback=not args.no_feedback, jobs=args.jobs, force=args.force,
                 allow_unsandboxed=args.allow_unsandboxed, db_url=args.db_url,
                 similarity=not args.no_similarity, cluster=args.cluster)
    print(format_table(rows))
    print(f"\ngrades CSV: {args.out}")
    if not args.no_feedback:
        print(f"feedback:   {Path(args.out).parent / 'feedback'}/<student>/")
    return 0


def _cmd_check(args) -> int:
    if not Path(args.notebook).is_file():
        raise CourseError(f"no notebook at {args.notebook}")
    # a first line at once: the imports and the kernel take seconds on a busy machine
    print(f"checking {args.notebook}: its visible tests, as the grader runs them",
          flush=True)
    from ..grading.selfcheck import check_notebook, summary

    text, ok = summary(check_notebook(Path(args.notebook)))
    print(text)
    return 0 if ok else 1


def _cmd_examples(args) -> int:
    from ..grading.examples import write_examples

    layout = find_layout(args.course_root)
    for name in args.assignments or layout.assignment_names():
        print(f"wrote {write_examples(layout, name, Path(args.out) / name)}/")
    return 0


def _cmd_demo(args) -> int:
    from ..grading.demo import demo

    demo(find_layout(args.course_root), args.out)
    return 0


def _cmd_lectures(args) -> int:
    from ..notebooks import build_lectures

    try:
        ok = build_lectures(find_layout(args.course_root).root / "lectures", args.out,
                            html=args.html, names=args.names)
    except ValueError as err:  # an unknown lecture name
        print(f"cnn-course lectures: {err}", file=sys.stderr)
        return 2
    return 0 if ok else 1


def _cmd_site(args) -> int:
    from ..site import build_site, clean

    layout = find_layout(args.course_root)
    if args.clean:
        clean(layout)
    execute = False if args.no_execute else (args.lectures or True)
    report = build_site(layout, args.out, execute=execute, jobs=args.jobs)
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_lab(args) -> int:
    from ..lab import run_lab

    return run_lab(args.jupyter_args, student=args.student)


def _cmd_student_copy(args) -> int:
    from ..student_copy import build_student_copy

    layout = find_layout(args.course_root)
    out = args.out or layout.root / "_build" / "student"
    folder, archive = build_student_copy(layout, out)
    print(f"student copy: {folder}/\nzip:          {archive}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnn-course", description="Release, grade and check the CNN course's assignments."
    )
    parser.add_argument("--course-root", default=None,
                        help="the course checkout (default: found from the current folder)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="regenerate assignments/ from solutions/")
    p.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("grade", help="autograde DIR/<student_id>/<notebook>.ipynb or an LMS zip")
    p.add_argument("assignment", help="e.g. 01_convolution")
    p.add_argument("--submissions", required=True, type=Path,
                   help="a folder of student folders, or a zip (also an LMS export)")
    p.add_argument("--out", required=True, type=Path, help="the CSV to write")
    p.add_argument("--workspace", type=Path, default=None,
                   help="nbgrader working folder with the gradebook (default: course/)")
    p.add_argument("--notebook-timeout", type=float, default=DEFAULT_SUBMISSION_CPU,
                   help="CPU seconds per submission, for the notebook and the grader's "
                        f"checks together (default {DEFAULT_SUBMISSION_CPU}); the limits "
                        "per cell and per call are the assignment's own")
    p.add_argument("--db-url", default=os.environ.get(DB_URL_ENV) or None,
                   help="the gradebook's SQLAlchemy URL, e.g. postgresql+psycopg2://"
                        "grader@dbhost/gradebook to share one gradebook between graders "
                        f"(default: ${DB_URL_ENV}, else sqlite in the workspace)")
    p.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="a Dask scheduler, e.g. tcp://scheduler:8786: each submission's "
                        "kernel and runner run on its workers, the judging, gradebook "
                        "and feedback here (needs pip install 'cnn_course[cluster]')")
    p.add_argument("--no-similarity", action="store_true",
                   help="skip the check for answers copied from others or the library")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="submissions graded at once (default 1; with --cluster, the "
                        "workers' threads, at most 4 per core of this machine)")
    p.add_argument("--force", action="store_true",
                   help="grade again submissions already graded and unchanged")
    p.add_argument("--allow-unsandboxed", action="store_true",
                   help="grade even where no sandbox is available (trusted code only)")
    p.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("check", help="run a notebook's visible tests before submitting")
    p.add_argument("notebook", help="your assignment notebook")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("examples", help="write the example submissions of the specs")
    p.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    p.add_argument("--out", type=Path, default=Path("course/out/examples"))
    p.set_defaults(func=_cmd_examples)

    p = sub.add_parser("demo", help="release, then grade the example submissions")
    p.add_argument("--out", type=Path, default=None,
                   help="where the CSV and feedback go (default: course/out/demo)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("lectures", help="execute the lecture notebooks into a build folder")
    p.add_argument("names", nargs="*", help="lectures by number (10), name (10_architectures) or file (default: all)")
    p.add_argument("--out", type=Path, default=Path("_build/lectures"))
    p.add_argument("--html", action="store_true", help="also write HTML")
    p.set_defaults(func=_cmd_lectures)

    p = sub.add_parser("site", help="build the course website (Sphinx, myst-nb) into "
                       "_build/site/")
    p.add_argument("lectures", nargs="*",
                   help="run only these lectures, e.g. 03_convolution (default: all; the "
                        "others are shown without outputs)")
    p.add_argument("--out", type=Path, default=None, help="default: _build/site/")
    p.add_argument("--no-execute", action="store_true",
                   help="show the lectures without running them")
    p.add_argument("--jobs", "-j", type=int, default=1,
                   help="pages read (and lectures run) at once")
    p.add_argument("--clean", action="store_true",
                   help="start afresh: drop the previous build and the execution cache")
    p.set_defaults(func=_cmd_site)

    p = sub.add_parser("lab", help="start JupyterLab with the course's commands on the "
                       "PATH of its terminals; other arguments go to jupyter lab")
    p.add_argument("--student", action="store_true",
                   help="as students see it: without nbgrader's instructor tools")
    p.set_defaults(func=_cmd_lab, jupyter_args=[])

    p = sub.add_parser("student-copy", help="the lectures, assignments and library to "
                       "hand out, as a folder and a zip (no solutions)")
    p.add_argument("--out", type=Path, default=None,
                   help="where to write them (default: _build/student/)")
    p.set_defaults(func=_cmd_student_copy)

    from .train import add_parsers
    add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra and args.command != "lab":  # only `lab` passes arguments on (to jupyter)
        build_parser().parse_args(argv)  # exits with argparse's usual message
    args.jupyter_args = extra
    try:
        return args.func(args)
    except CourseError as err:
        print(f"cnn-course: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
