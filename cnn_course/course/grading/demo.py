"""``cnn-course demo``: the course's main job on embedded data, end to end.

1. Release every assignment (``solutions/`` -> ``assignments/``).
2. Grade the example submissions shipped in ``course/examples/`` with nbgrader.
3. Print the score table and where the CSV and the feedback went.
"""

from __future__ import annotations

import time
from pathlib import Path

from .grade import format_table, grade
from .paths import CourseLayout
from .release import release

DEMO_ASSIGNMENT = "01_convolution"

# What each example submission shows; the tests assert the scores.
EXAMPLES = {
    "full_solution": "every part right: full marks",
    "blank": "the release as handed out: 0",
    "partly_correct": "parts 1, 3 and 5, zero padding only: partial credit",
    "raises_at_import": "an import that fails in the pad2d cell",
    "infinite_loop": "`while True` before correlate2d: cut off by the cell timeout",
    "edited_test_cell": "conv layer blank, its test cells replaced by `pass`: restored",
}


def demo(layout: CourseLayout, out: Path | None = None, progress: bool = True,
         release_dir: Path | None = None, jobs: int = 2) -> list:
    """Release (into ``release_dir``, default ``assignments/``), grade the examples
    into ``out`` (default ``course/out/demo``), print the table; return the rows."""
    started = time.perf_counter()
    out = Path(out) if out else layout.course / "out" / "demo"
    release_dir = Path(release_dir) if release_dir else layout.assignments
    written = release(layout, out=release_dir)
    print(f"released {len(written)} notebook(s) into {release_dir}/")
    submissions = layout.examples / DEMO_ASSIGNMENT
    print(f"grading the example submissions in {submissions}/ ...")
    csv_path = out / "grades.csv"
    # The examples are the course's own files, so the demo also runs where no sandbox
    # is available; the isolation line it prints says which was in force.
    rows = grade(layout, DEMO_ASSIGNMENT, submissions, csv_path, workspace=out / "nbgrader",
                 progress=progress, jobs=jobs, force=True, allow_unsandboxed=True)
    print()
    print(format_table(rows))
    print()
    for name, what in EXAMPLES.items():
        print(f"  {name:<17} {what}")
    print()
    print(f"grades CSV:   {csv_path}")
    print(f"feedback:     {out / 'feedback'}/<student>/{DEMO_ASSIGNMENT}.html")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return rows
