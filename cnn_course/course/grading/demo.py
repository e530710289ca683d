"""``cnn-course demo``: the course's main job on embedded data, end to end.

1. Release every assignment (``solutions/`` -> ``assignments/`` and the visible checks);
   an assignment whose data set (MNIST, CIFAR-10) is not available is skipped, with
   the reason, so the demo runs on embedded data alone.
2. Write each assignment's example submissions (from its spec) and grade them with
   nbgrader's pipeline, sandboxed, with the trusted check.
3. Print each score table with what every example shows, and where the CSVs and the
   feedback went.
"""

from __future__ import annotations

import time
from pathlib import Path

from cnn_course.course.spec.load import load_spec

from .examples import write_examples
from .grade import format_table, grade
from .paths import CourseError, CourseLayout
from .release import release


def demo(layout: CourseLayout, out: Path | None = None, progress: bool = True,
         release_dir: Path | None = None, jobs: int = 2,
         assignments: list[str] | None = None) -> dict[str, list]:
    """Release, grade every assignment's examples into ``out`` (default
    ``course/out/demo``), print the tables; return assignment -> rows."""
    started = time.perf_counter()
    out = Path(out) if out else layout.course / "out" / "demo"
    release_dir = Path(release_dir) if release_dir else layout.assignments
    names = assignments or layout.assignment_names()
    results, skipped = {}, {}
    for name in names:
        try:  # assignments that train on MNIST or CIFAR-10 need the data set
            release(layout, [name], out=release_dir)
        except CourseError as err:
            skipped[name] = str(err).splitlines()[0][:300]
            print(f"skipped {name}: {skipped[name]}")
            continue
        spec = load_spec(layout.solutions, name)
        submissions = write_examples(layout, name, out / "examples" / name, release_dir)
        print(f"\n{name}: grading {len(spec.examples)} example submissions "
              f"({submissions}/) ...")
        csv_path = out / name / "grades.csv"
        # The examples are the course's own files, so the demo also runs where no
        # sandbox is available; the isolation line it prints says which was in force.
        # They all share the solution's code, so the copy check would flag them all.
        rows = grade(layout, name, submissions, csv_path, workspace=out / "nbgrader",
                     progress=progress, jobs=jobs, force=True, allow_unsandboxed=True,
                     similarity=False)
        print()
        print(format_table(rows))
        print()
        for example in spec.examples:
            print(f"  {example.name:<18} {example.description} "
                  f"(expected {example.score:g})")
        print(f"\ngrades CSV:   {csv_path}")
        print(f"feedback:     {out / name / 'feedback'}/<student>/{name}.html")
        results[name] = rows
    if skipped:
        print(f"\nskipped {', '.join(skipped)}: their data sets are not here (set "
              "CNN_COURSE_DATA to a folder holding them, or let the loaders download)")
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    return results
