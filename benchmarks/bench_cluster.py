"""Grading on a Dask cluster: throughput, CPU per submission, and a plan for a big class.

1. **Throughput**: N submissions of assignment 01 (full, partly correct and blank in
   turn), graded by ``cnn-course grade --jobs 2`` and by ``cnn-course grade --cluster
   ADDR --jobs 2`` on a ``distributed.LocalCluster`` of two single-threaded worker
   processes on this same machine. Wall time, and the CPU time of the grader (the
   ``grade`` process and its pool) and of the workers (their processes and the
   sandboxes they ran); the two CSVs must agree.
2. **CPU per submission, per assignment**: each assignment's ``full_solution``,
   ``partly_correct`` and ``blank`` examples graded on the cluster, one at a time; a
   worker plugin measures every task's CPU time (the worker's and its sandboxes'),
   and the grader's CPU is the time its ``grade_student`` takes in this process.
3. **A plan**: S students x the assignments, on W single-threaded workers, from those
   CPU times (a paper estimate: perfect packing, no failures).

    python benchmarks/bench_cluster.py                       # all of it
    python benchmarks/bench_cluster.py --n 6 --assignments 01_convolution
    python benchmarks/bench_cluster.py --skip-throughput

Assignments 04-06 read MNIST/CIFAR-10: ``CNN_COURSE_DATA`` (default: ../shared/datasets
next to the checkout, when it exists) must hold them, or they are skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIX = ("full_solution", "partly_correct", "blank")


def _cpu_of_this_process_tree(dask_worker=None) -> float:
    """On a worker: its CPU time and that of everything it started (the sandboxes):
    the meter's cgroup where it has one, else itself and its finished children."""
    import resource

    group = getattr(getattr(dask_worker, "plugins", {}).get("bench-cpu-meter"), "group", None)
    if group is not None:
        return group.cpu_seconds()

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _warm_up() -> None:
    """On a worker: what its first task would import and check, before any is timed."""
    from cnn_course.course.grading import cluster, execute, trusted  # noqa: F401
    from cnn_course.course.grading.sandbox import detect

    detect()


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _meter_plugin(folder: str):
    """A worker plugin that writes each task's CPU time (worker + sandboxes) to folder."""
    from distributed import WorkerPlugin

    class CpuMeter(WorkerPlugin):
        name = "bench-cpu-meter"

        def __init__(self, folder):
            self.folder = folder
            self.started = {}

        def setup(self, worker):
            import os

            from cnn_course.course.grading import sandbox
            from cnn_course.course.grading.sandbox import counting_cgroup

            self.worker = worker
            # the worker and everything it starts (its sandboxes, their kernels, which
            # RUSAGE_CHILDREN misses) in a cgroup of its own; one task at a time
            self.group = counting_cgroup()
            for procs in self.group.procs_files() if self.group else ():
                procs.write_text(str(os.getpid()))
            sandbox._hierarchies.cache_clear()  # its sandboxes now go below the group

        def teardown(self, worker):
            import os

            if self.group is not None:  # back where it was, then the cgroup goes
                for procs in self.group.procs_files():
                    (procs.parent.parents[1] / "cgroup.procs").write_text(str(os.getpid()))
                self.group.remove()

        def transition(self, key, start, finish, **kwargs):
            import json
            import os
            import resource
            import time

            def cpu():
                if self.group is not None:
                    return self.group.cpu_seconds()
                own = resource.getrusage(resource.RUSAGE_SELF)
                kids = resource.getrusage(resource.RUSAGE_CHILDREN)
                return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

            if finish == "executing":
                self.started[key] = (cpu(), time.monotonic())
            elif start == "executing" and key in self.started:
                cpu0, t0 = self.started.pop(key)
                with open(os.path.join(self.folder, f"{os.getpid()}.jsonl"), "a") as f:
                    f.write(json.dumps({"key": str(key), "cpu": cpu() - cpu0,
                                        "wall": time.monotonic() - t0,
                                        "finish": finish}) + "\n")

    return CpuMeter(folder)


def _read_meter(folder: Path) -> list[dict]:
    out = []
    for path in folder.glob("*.jsonl"):
        out += [json.loads(line) for line in path.read_text().splitlines() if line]
    return out


def make_submissions(layout, assignment: str, folder: Path, kinds) -> dict[str, str]:
    from cnn_course.course.grading.examples import write_examples

    examples = write_examples(layout, assignment, folder.parent / f"examples-{assignment}")
    (name,) = layout.notebooks(assignment)
    out = {}
    for i, kind in enumerate(kinds):
        student = f"s{i:03d}_{kind}"
        (folder / student).mkdir(parents=True)
        shutil.copy(examples / kind / name, folder / student / name)
        out[student] = kind
    return out


def run_grade(assignment: str, subs: Path, out: Path, extra: list[str], env: dict
              ) -> tuple[float, float, list[dict]]:
    """``cnn-course grade``: (wall s, CPU s of the command and its pool, CSV rows)."""
    cli = str(Path(sys.executable).with_name("cnn-course"))
    cmd = [cli, "grade", assignment, "--submissions", str(subs), "--out",
           str(out / "grades.csv"), "--workspace", str(out / "ws"), "--no-similarity",
           *extra]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    with open(out / "grades.csv", newline="") as f:
        return wall, cpu, list(csv.DictReader(f))


def worker_cpu(client) -> float:
    return sum(client.run(_cpu_of_this_process_tree).values())


def throughput(layout, client, address: str, n: int, tmp: Path, env: dict) -> list:
    a = "01_convolution"
    make_submissions(layout, a, tmp / "subs", [MIX[i % len(MIX)] for i in range(n)])
    results = []
    wall, cpu, rows = run_grade(a, tmp / "subs", tmp / "jobs2", ["--jobs", "2"], env)
    results.append(("`--jobs 2`", wall, cpu, None, rows))
    w0 = worker_cpu(client)
    wall, cpu, rows = run_grade(a, tmp / "subs", tmp / "cluster",
                                ["--cluster", address, "--jobs", "2"], env)
    results.append(("`--cluster` (LocalCluster, 2 workers x 1 thread), `--jobs 2`", wall,
                    cpu, worker_cpu(client) - w0, rows))
    same = (tmp / "jobs2" / "grades.csv").read_bytes() == \
        (tmp / "cluster" / "grades.csv").read_bytes()
    print(f"\n**Throughput**: {n} submissions of {a} ({', '.join(MIX)} in turn), feedback "
          f"on, {os.cpu_count()} CPUs; the two CSVs are "
          f"{'identical' if same else 'DIFFERENT'}.\n")
    print("| run | wall (s) | submissions/min | grader CPU (s) | worker CPU (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, wall, cpu, wcpu, _ in results:
        print(f"| {name} | {wall:.1f} | {60 * n / wall:.1f} | {cpu:.1f} | "
              f"{'-' if wcpu is None else f'{wcpu:.1f}'} |")
    print("\n(`--jobs 2`: the grader's CPU includes the sandboxes, which run on it.)")
    return results


def per_assignment(layout, address: str, names: list[str], tmp: Path, meter: Path
                   ) -> dict[str, dict]:
    """Each assignment's examples graded on the cluster, one at a time, by ``grade`` in
    this process, so that the grader's CPU per submission is measured too (the time
    spent in its ``grade_student``: nbgrader's pipeline, references, judging,
    gradebook, feedback; the Dask client's thread included, start-up excluded)."""
    import cnn_course.course.grading.grade as grade_module
    from cnn_course.course.grading.cluster import _slug

    spent = {}
    real = grade_module.grade_student

    def metered(settings, entry):
        t0 = time.process_time()
        try:
            return real(settings, entry)
        finally:
            spent[entry.name] = time.process_time() - t0

    grade_module.grade_student = metered
    found = {}
    try:
        for a in names:
            try:
                students = make_submissions(layout, a, tmp / f"subs-{a}", MIX)
            except Exception as err:  # no data set for its spec, no release
                print(f"skipped {a}: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
                continue
            for path in meter.glob("*.jsonl"):
                path.unlink()
            spent.clear()
            t0 = time.perf_counter()
            rows = grade_module.grade(layout, a, tmp / f"subs-{a}", tmp / f"plan-{a}" / "g.csv",
                                      workspace=tmp / f"plan-{a}" / "ws", jobs=1,
                                      cluster=address, similarity=False, progress=False,
                                      log=lambda *x: None)
            wall = time.perf_counter() - t0
            tasks = _read_meter(meter)
            worker = {kind: sum(t["cpu"] for t in tasks if f"-{_slug(student)}-" in t["key"])
                      for student, kind in students.items()}
            grader = {kind: spent[student] for student, kind in students.items()}
            found[a] = {"wall": wall, "worker_cpu": worker, "grader_cpu": grader,
                        "rows": {r.student_id: [r.score, r.status] for r in rows}}
            print(f"{a}: {wall:.0f} s for 3 in turn; worker CPU "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in worker.items()) + "; grader CPU "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in grader.items())
                  + f"; rows {found[a]['rows']}", flush=True)
    finally:
        grade_module.grade_student = real
    return found


def plan(found: dict[str, dict], students: int, workers: list[int], grader_cores: int):
    print("\n**CPU per submission**, worker (the notebook's kernel and the trusted runner "
          "in their sandboxes) / grader (nbgrader's pipeline, references, judging, "
          "gradebook, feedback), in seconds\n")
    print("| assignment | full solution | partly correct | blank |")
    print("| --- | ---: | ---: | ---: |")
    worker_total = grader_total = 0.0
    for a, f in found.items():
        w, g = f["worker_cpu"], f["grader_cpu"]
        print(f"| {a} | " + " | ".join(f"{w[k]:.1f} / {g[k]:.1f}" for k in MIX) + " |")
        worker_total += w["full_solution"]  # every student hands in a working solution
        grader_total += g["full_solution"]
    n = len(found)
    print(f"\n**Plan for {students} students x {n} assignments** ({students * n} "
          "submissions), each costing what a full solution costs (the dearest honest "
          f"case): {students * worker_total / 3600:.1f} worker CPU-hours, "
          f"{students * grader_total / 3600:.1f} grader CPU-hours.\n")
    print("| workers (1 thread each) | worker time, all assignments | per assignment "
          f"(mean) | grader time on {grader_cores} cores |")
    print("| ---: | ---: | ---: | ---: |")
    grader_hours = students * grader_total / grader_cores / 3600
    for w in workers:
        hours = students * worker_total / w / 3600
        print(f"| {w} | {_hm(hours)} | {_hm(hours / max(n, 1))} | {_hm(grader_hours)} |")
    print("\nWall time is the larger of the worker and grader columns (they overlap); "
          "the grader keeps `--jobs` submissions in flight, by default the workers' "
          "threads, at most 4 per grader core.")


def _hm(hours: float) -> str:
    minutes = round(hours * 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12, help="submissions for the throughput")
    parser.add_argument("--assignments", nargs="*", default=None,
                        help="for the CPU table (default: every assignment with a spec)")
    parser.add_argument("--students", type=int, default=600)
    parser.add_argument("--workers", type=int, nargs="*", default=[16, 64, 256])
    parser.add_argument("--grader-cores", type=int, default=8)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-plan", action="store_true")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    from cnn_course.course.grading.paths import find_layout
    from cnn_course.course.grading.sandbox import detect

    layout = find_layout(ROOT)
    data = ROOT.parent / "shared" / "datasets"
    if data.is_dir():
        os.environ.setdefault("CNN_COURSE_DATA", str(data))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    print(f"{os.cpu_count()} CPUs; isolation: {detect().description}")
    names = args.assignments or sorted(p.parent.name for p in layout.solutions.glob("*/spec.py"))
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp, \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None, memory_limit=0) as cluster, \
            Client(cluster) as client:
        tmp = Path(tmp)
        meter = tmp / "meter"
        meter.mkdir()
        client.register_plugin(_meter_plugin(str(meter)))
        client.run(_warm_up)  # imports, the sandbox check: once per worker, not measured
        if not args.skip_throughput:
            throughput(layout, client, cluster.scheduler_address, args.n, tmp / "tp", env)
        if not args.skip_plan:
            found = per_assignment(layout, cluster.scheduler_address, names, tmp, meter)
            print(json.dumps(found, indent=1))
            plan(found, args.students, args.workers, args.grader_cores)


if __name__ == "__main__":
    main()
