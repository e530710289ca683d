"""Time copy detection on a synthetic class, and check that planted copies are found.

Run:  python benchmarks/bench_similarity.py [--students 500] [--copies 20]

Each synthetic student writes five functions of 8 to 16 statements, drawn at random
from statement shapes students write in assignment 01 (loops over output positions,
slices, numpy reductions, shape checks), with their own names and numbers. Then
``--copies`` of them hand in another student's answer with the names changed, the
comments cut and the indentation redone. The benchmark prints the time of
``find_copies`` (the library's files included as references) and how many copies
and how many honest students were reported.
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import time

from cnn_course.course.grading.similarity import THRESHOLD, find_copies

STARTER = '''def part{k}(x, w, b, stride=1, pad=0):
    """Part {k} of the assignment."""
    # YOUR CODE HERE
    raise NotImplementedError()
'''

SHAPES = [
    "{a} = np.zeros(({b}, {c}))",
    "{a} = np.{red}({b}[{i}:{i} + {n}, {j}:{j} + {m}] * {c})",
    "{a}, {b} = {c}.shape[{n}], {c}.shape[{m}]",
    "{a} = ({b} + 2 * {c} - {n}) // {d} + 1",
    "{a}[{i}, {j}] = {b}[{i}, {j}] {op} {c}",
    "if {a} {cmp} {n}:\n        raise ValueError(f'bad {a}: {{{a}}}')",
    "{a} = np.asarray({b}, dtype=float)",
    "{a} = {b}.reshape({n}, -1) @ {c}.T",
    "{a} += {b} * {c}[{i}]",
    "{a} = np.where({b} > {n}, {c}, {d})",
    "for {i} in range({a}):\n        {b}[{i}] = {c}[{i}] {op} {n}",
    "for {i} in range({a}.shape[{n}]):\n        for {j} in range({b}):\n"
    "            {c}[{i}, {j}] = np.{red}({d}[{i}, {j}])",
    "{a} = [{b}[{i}] for {i} in range({n})]",
    "assert {a}.ndim == {n}, '{a} should be {n}-d'",
    "{a} = np.{red}({b}, axis={n}) {op} {c}",
]
NAMES = ["x", "y", "w", "k", "out", "res", "img", "ker", "acc", "tmp", "H", "W", "n",
         "h", "wd", "rows", "cols", "xp", "patch", "total", "val", "s", "t", "u"]


def honest_answer(rng: random.Random) -> str:
    functions = []
    for k in range(5):
        body = []
        for _ in range(rng.randint(8, 16)):
            names = rng.sample(NAMES, 4)
            body.append("    " + rng.choice(SHAPES).format(
                a=names[0], b=names[1], c=names[2], d=names[3],
                i=rng.choice("ijpq"), j=rng.choice("rcmn"), n=rng.randint(0, 9),
                m=rng.randint(0, 9), op=rng.choice("+-*/"),
                cmp=rng.choice(["<", ">", "==", "!="]),
                red=rng.choice(["sum", "max", "mean", "min"])))
        body.append(f"    return {rng.choice(NAMES)}")
        header = STARTER.format(k=k).split("    # YOUR")[0]
        functions.append(header + "\n".join(body) + "\n")
    return "\n\n".join(functions)


def disguise(source: str, suffix: str) -> str:
    """Rename every name from NAMES, drop comments, indent by two spaces."""
    renamed = re.sub(r"\b(" + "|".join(NAMES) + r")\b", r"\1" + suffix, source)
    lines = [line.split("#")[0].rstrip() for line in renamed.splitlines()]
    return "\n".join(line.replace("    ", "  ") for line in lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    answers = {f"s{i:04d}": honest_answer(rng) for i in range(args.students)}
    copiers = rng.sample(sorted(answers), args.copies)
    planted = {}
    for copier in copiers:
        source = rng.choice([s for s in sorted(answers) if s not in copiers])
        answers[copier] = disguise(answers[source], "_2")
        planted[copier] = source
    boilerplate = "\n\n".join(STARTER.format(k=k) for k in range(5))

    started = time.perf_counter()
    found = find_copies(answers, boilerplate=boilerplate)
    seconds = time.perf_counter() - started

    caught = sum(any(m.other == planted[c] for m in found[c]) for c in planted)
    honest = [s for s in answers if s not in planted and s not in planted.values()]
    false_alarms = sum(bool(found[s]) for s in honest)
    print(f"{platform.processor() or platform.machine()}, python "
          f"{platform.python_version()}, threshold {THRESHOLD}")
    print(f"{args.students} students: find_copies took {seconds:.1f} s; planted copies "
          f"found {caught} of {len(planted)}; honest students reported "
          f"{false_alarms} of {len(honest)}")


if __name__ == "__main__":
    main()
