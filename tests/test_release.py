"""`cnn-course release`: the committed student versions are up to date and leak nothing."""

import re
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT
from cnn_course.course.grading.release import release


def _cells(path):
    return nbformat.read(path, as_version=4).cells


@pytest.fixture(scope="module")
def fresh_release(layout, tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    release(layout, out=out)
    return out


def test_committed_release_is_in_sync(layout, fresh_release):
    for name in layout.assignment_names():
        for nb in layout.notebooks(name):
            fresh = _cells(fresh_release / name / nb)
            committed = _cells(layout.assignments / name / nb)
            assert [(c.source, c.metadata) for c in fresh] == \
                   [(c.source, c.metadata) for c in committed], (
                f"assignments/{name}/{nb} is out of date: run `cnn-course release`")


def test_release_has_no_solutions_or_hidden_tests(layout, fresh_release):
    for name in layout.assignment_names():
        released_files = sorted(p.name for p in (fresh_release / name).iterdir())
        assert released_files == layout.notebooks(name), (
            f"the release of {name} holds more than its notebooks: {released_files}")
        committed = sorted(p.name for p in (layout.assignments / name).iterdir())
        assert committed == layout.notebooks(name)
        for nb in layout.notebooks(name):
            solution = _cells(layout.solutions / name / nb)
            released = _cells(layout.assignments / name / nb)
            text = "\n".join(c.source for c in released)
            assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
            secret_lines, public_lines = set(), set()
            block = re.compile(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END", re.S)
            for cell in solution:
                for secret in block.findall(cell.source):
                    secret_lines |= {ln.strip() for ln in secret.splitlines()
                                     if len(ln.strip()) > 25}
                public_lines |= {ln.strip() for ln in block.sub("", cell.source).splitlines()}
            secret_lines -= public_lines  # e.g. a setup line shared with a visible test
            assert secret_lines, "the solution should have solution code and hidden tests"
            leaked = [ln for ln in secret_lines if ln in text]
            assert not leaked, f"{name}/{nb} leaks: {leaked[:3]}"


def test_examples_are_in_sync_with_their_script(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_examples.py"),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    committed = ROOT / "course" / "examples" / "01_convolution"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in committed.iterdir())
    for student in names:
        fresh = _cells(tmp_path / student / "01_convolution.ipynb")
        ours = _cells(committed / student / "01_convolution.ipynb")
        assert [c.source for c in fresh] == [c.source for c in ours], (
            f"course/examples/01_convolution/{student} is stale: run scripts/make_examples.py")
