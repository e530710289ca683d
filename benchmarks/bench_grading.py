"""Grading speed: stock nbgrader against `cnn-course grade`, on assignment 01.

Grades N submissions (a mix of the spec's full, partly correct and blank examples)
three ways, each from the command line as an instructor would run it, in one run on
this machine:

1. stock ``nbgrader generate_assignment`` + ``nbgrader autograde`` with nbgrader's
   default preprocessors: sequential, no isolation (the kernel runs as the grader, in
   the course folder), on the generated source notebook (the spec's test cells in
   it). Its hidden test cells pass trivially in the kernel: stock nbgrader has no
   trusted check, so its total score is higher; only its time is the baseline;
2. ``cnn-course grade --jobs 1``: sandboxed kernel + trusted verdicts;
3. ``cnn-course grade --jobs 2``: the same, two submissions at a time.

Feedback is off for all three (stock autograde writes none). Prints wall times and
the ratio to stock, and checks that the two cnn-course runs agree.

    python benchmarks/bench_grading.py            # 40 submissions
    python benchmarks/bench_grading.py --n 10     # quicker
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_convolution"
MIX = ("full_solution", "partly_correct", "blank")


def make_submissions(folder: Path, n: int) -> dict[str, str]:
    """``folder/<student>/01_convolution.ipynb``; returns student -> example used."""
    from cnn_course.course.grading.examples import write_examples
    from cnn_course.course.grading.paths import find_layout

    examples = write_examples(find_layout(ROOT), ASSIGNMENT, folder.parent / "examples")
    kinds = {}
    for i in range(n):
        kind = MIX[i % len(MIX)]
        student = f"s{i:03d}_{kind}"
        (folder / student).mkdir(parents=True)
        shutil.copy(examples / kind / f"{ASSIGNMENT}.ipynb",
                    folder / student / f"{ASSIGNMENT}.ipynb")
        kinds[student] = kind
    return kinds


def stock_source(folder: Path) -> Path:
    """The source notebook stock nbgrader needs: the solution with the spec's tests."""
    import nbformat

    from cnn_course.course.spec import load_spec
    from cnn_course.course.spec.generate import insert_tests

    notebook = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = insert_tests(nbformat.read(notebook, as_version=4),
                      load_spec(ROOT / "solutions", ASSIGNMENT))
    (folder / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(nb, folder / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return folder


CPU = [0.0]  # CPU seconds of the commands run so far, kernels and sandboxes included


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    """Wall seconds of ``cmd``; its CPU seconds go to CPU (NaN where no cgroup counts).

    CPU is counted by a cgroup, so that the sandboxed kernels, which the grader kills
    rather than waits for, are in it (``RUSAGE_CHILDREN`` would miss them).
    """
    from cnn_course.course.grading.sandbox import counting_cgroup

    group = counting_cgroup()

    def enter() -> None:
        for procs in group.procs_files():
            procs.write_text(str(os.getpid()))

    start = time.perf_counter()
    try:
        subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, preexec_fn=enter if group else None)
        CPU[0] += group.cpu_seconds() if group else float("nan")
    finally:
        if group is not None:
            group.close()
    return time.perf_counter() - start


def stock(tmp: Path, subs: Path, env: dict) -> tuple[float, float]:
    course = tmp / "stock"
    (course / "submitted").mkdir(parents=True)
    for student in subs.iterdir():
        shutil.copytree(student, course / "submitted" / student.name / ASSIGNMENT)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.source_directory = {str(stock_source(tmp / 'source'))!r}\n"
        f"c.CourseDirectory.release_directory = {str(course / 'release')!r}\n"
        f"c.Exchange.root = {str(course / 'exchange')!r}\n"
    )
    nbgrader = str(Path(sys.executable).with_name("nbgrader"))
    seconds = timed([nbgrader, "generate_assignment", ASSIGNMENT, "--force"], course, env)
    seconds += timed([nbgrader, "autograde", ASSIGNMENT, "--force"], course, env)
    con = sqlite3.connect(course / "gradebook.db")
    total = con.execute(
        "SELECT SUM(COALESCE(g.manual_score, g.auto_score, 0)) FROM grade g").fetchone()[0]
    con.close()
    return seconds, float(total or 0)


def ours(tmp: Path, subs: Path, env: dict, jobs: int) -> tuple[float, float, str]:
    out = tmp / f"ours{jobs}"
    cli = str(Path(sys.executable).with_name("cnn-course"))
    seconds = timed([cli, "grade", ASSIGNMENT, "--submissions", str(subs), "--out",
                     str(out / "grades.csv"), "--workspace", str(out / "ws"), "--jobs",
                     str(jobs), "--no-feedback", "--no-similarity", "--force"], ROOT, env)
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    statuses = sorted({r["status"] for r in rows})
    return seconds, sum(float(r["score"] or 0) for r in rows), ",".join(statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    from cnn_course.course.grading.sandbox import detect

    print(f"{args.n} submissions of {ASSIGNMENT} ({', '.join(MIX)} in turn), "
          f"{os.cpu_count()} CPUs; isolation: {detect().description}")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        make_submissions(tmp / "subs", args.n)
        CPU[0] = 0.0
        base, base_total = stock(tmp, tmp / "subs", env)
        results = [("stock nbgrader, sequential, no isolation", base, CPU[0], base_total,
                    "-")]
        for jobs in (1, 2):
            CPU[0] = 0.0
            seconds, total, statuses = ours(tmp, tmp / "subs", env, jobs)
            results.append((f"cnn-course grade --jobs {jobs}, sandboxed", seconds, CPU[0],
                            total, statuses))
    print()
    print("| method | wall time (s) | per submission (s) | vs stock | CPU per submission (s) "
          "| total score | statuses |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, seconds, cpu, total, statuses in results:
        print(f"| {name} | {seconds:.1f} | {seconds / args.n:.2f} | {seconds / base:.2f}x "
              f"| {cpu / args.n:.2f} | {total:g} | {statuses} |")
    print("\nCPU per submission: the command's CPU seconds, counted by a cgroup (its "
          "kernels and sandboxes included; start-up and preparation too), over N.")
    if len({r[3] for r in results[1:]}) != 1:
        print("\nWARNING: the two cnn-course runs disagree on the total score")


if __name__ == "__main__":
    main()
