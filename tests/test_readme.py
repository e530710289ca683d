"""The README's lecture and assignment tables say what the notebooks say.

The tables are written from the notebooks (titles, the assignments' part tables and
the lectures they examine); these tests read both and fail when one changes without
the other.
"""

from __future__ import annotations

import re

import pytest

from conftest import ROOT
from cnn_course.course.site import assignment_info, lecture_info

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _rows(first_cell: str) -> dict[str, list[str]]:
    """Table rows whose first cell links to ``first_cell/...``: name -> cells."""
    rows = {}
    for line in README.splitlines():
        match = re.match(rf"^\| \[([^\]]+)\]\({first_cell}/[^)]+\) \|(.*)\|$", line)
        if match:
            rows[match[1]] = [c.strip() for c in match[2].split(" | ")]
    return rows


@pytest.mark.parametrize("path", sorted((ROOT / "lectures").glob("[0-9]*.ipynb")),
                         ids=lambda p: p.stem)
def test_every_lecture_has_its_row(path):
    lecture = lecture_info(path)
    row = _rows("lectures")[f"{lecture.number:02d}"]
    assert row[0] == lecture.title and row[1] == lecture.line


@pytest.mark.parametrize("path", sorted((ROOT / "assignments").glob("*/*.ipynb")),
                         ids=lambda p: p.stem)
def test_every_assignment_has_its_row(path):
    info = assignment_info(path)
    lectures, parts, total = _rows("assignments")[info.name]
    assert lectures == ", ".join(info.lectures)
    assert parts == "; ".join(f"{t} ({p:g})" for t, p in info.parts)
    assert float(total) == info.total == sum(p for _, p in info.parts)


def test_the_tables_hold_nothing_else():
    assert len(_rows("lectures")) == len(list((ROOT / "lectures").glob("[0-9]*.ipynb")))
    assert len(_rows("assignments")) == len(list((ROOT / "assignments").glob("*/*.ipynb")))
