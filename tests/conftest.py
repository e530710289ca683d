"""Shared fixtures. Tests run on 2 cores: one torch thread each, fixed seeds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("CNN_COURSE_FAST", "1")
# Kernels started by the tests (lectures, graded notebooks) run two at a time on two
# cores: one thread each, or small torch operations slow down tenfold.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
# The local copies of MNIST, Fashion-MNIST and CIFAR-10 next to the checkout; loaders
# (and the lectures the tests run) read them instead of downloading.
DATASETS = ROOT.parent / "shared" / "datasets"
if DATASETS.is_dir():
    os.environ.setdefault("CNN_COURSE_DATA", str(DATASETS))


@pytest.fixture(scope="session")
def layout():
    from cnn_course.course.grading.paths import find_layout

    return find_layout(ROOT)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def graded_examples(layout, tmp_path_factory):
    """``graded_examples(name)``: every example of assignment ``name``, graded once per
    session (per xdist worker) by `cnn-course grade`, in a workspace of its own.

    Each assignment's examples are asked for by one test file only (``--dist loadfile``
    keeps a file on one worker), so no assignment is graded twice. The result's
    ``.out`` is the folder (``grades.csv``, ``feedback/`` for 01, ``ws/`` the nbgrader
    workspace, ``subs/<example>/``); ``.rows`` maps each example's name to its CSV row.
    """
    from types import SimpleNamespace

    from cnn_course.course.grading.examples import write_examples
    from cnn_course.course.grading.grade import grade

    done = {}

    def graded(name: str) -> SimpleNamespace:
        if name not in done:
            out = tmp_path_factory.mktemp(f"examples_{name}")
            subs = write_examples(layout, name, out / "subs")
            rows = grade(layout, name, subs, out / "grades.csv", workspace=out / "ws",
                         progress=False, jobs=2,
                         feedback=name == "01_convolution",  # the feedback tests read 01's
                         allow_unsandboxed=True, similarity=False, log=lambda *a: None)
            done[name] = SimpleNamespace(out=out, rows={r.student_id: r for r in rows})
        return done[name]

    return graded
