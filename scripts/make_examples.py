"""Regenerate the example submissions in course/examples/ from the release.

Each example is the student version of the assignment with some answer cells filled
in (taken from the solutions, or written below), as a real student would hand it in.
The demo grades them, and tests assert their scores. Run after changing an
assignment:

    python scripts/make_examples.py            # writes course/examples/
    python scripts/make_examples.py --out DIR  # writes elsewhere (the sync test)
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_convolution"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"

PAD_ZEROS_ONLY = '''def pad2d(x, pad, mode="zeros"):
    """Pad the last two axes of x: (N, C, H, W) -> (N, C, H + 2*pad, W + 2*pad)."""
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    out[:, :, pad : pad + H, pad : pad + W] = x
    if mode != "zeros":
        raise NotImplementedError("only zero padding so far")
    return out'''


def _cells_by_id(nb) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if "nbgrader" in c.metadata}


def solution_sources() -> dict[str, str]:
    """grade_id -> the solution's answer code, without nbgrader's markers."""
    sol = nbformat.read(ROOT / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    return {
        gid: re.sub(r"\n *### (BEGIN|END) SOLUTION", "", cell.source)
        for gid, cell in _cells_by_id(sol).items()
        if cell.metadata["nbgrader"].get("solution")
    }


def variant(release, answers: dict[str, str], tests: dict[str, str] | None = None):
    """A copy of the release with answer (and, to tamper, test) cells replaced."""
    nb = copy.deepcopy(release)
    cells = _cells_by_id(nb)
    for gid, source in {**answers, **(tests or {})}.items():
        cells[gid].source = source
    return nb


def examples() -> dict[str, object]:
    release = nbformat.read(ROOT / "assignments" / ASSIGNMENT / NOTEBOOK, as_version=4)
    full = solution_sources()
    blank_conv = {k: v for k, v in full.items() if k not in ("conv2d_forward", "sobel_edges")}
    tampered_tests = {
        gid: "pass  # nothing to test here"
        for gid, cell in _cells_by_id(release).items()
        if gid.startswith(("conv2d_", "sobel_")) and cell.metadata["nbgrader"]["grade"]
    }
    return {
        # everything right: full marks
        "full_solution": variant(release, full),
        # the release as handed out: 0
        "blank": variant(release, {}),
        # parts 1 and 3 right, zero padding only, no conv layer: partial credit
        "partly_correct": variant(release, {
            "correlate2d": full["correlate2d"],
            "conv_output_size": full["conv_output_size"],
            "pad2d": PAD_ZEROS_ONLY,
            "sobel_edges": full["sobel_edges"],
        }),
        # an import that fails in the pad2d cell: pad2d and the conv layer are lost
        "raises_at_import": variant(release, {
            **full, "pad2d": "import cv2  # not installed on the grader\n\n" + full["pad2d"],
        }),
        # an infinite loop before correlate2d: cut off by the cell timeout
        "infinite_loop": variant(release, {
            **full, "correlate2d": "while True:\n    pass\n\n" + full["correlate2d"],
        }),
        # conv layer and Sobel left blank, and their test cells replaced by `pass`
        "edited_test_cell": variant(release, blank_conv, tampered_tests),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "course" / "examples" / ASSIGNMENT)
    args = parser.parse_args()
    for student, nb in examples().items():
        target = args.out / student
        target.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target / NOTEBOOK)
        print(f"wrote {target / NOTEBOOK}")


if __name__ == "__main__":
    main()
