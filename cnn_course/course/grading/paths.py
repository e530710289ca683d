"""Where the course lives: the repository's ``course/``, ``solutions/``, ``assignments/``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


from cnn_course.errors import CourseError

__all__ = ["CourseError", "CourseLayout", "find_layout"]


@dataclass(frozen=True)
class CourseLayout:
    """The folders of one course checkout."""

    root: Path  # the repository root

    @property
    def course(self) -> Path:
        return self.root / "course"

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def assignments(self) -> Path:
        return self.root / "assignments"

    @property
    def examples(self) -> Path:
        return self.course / "examples"

    def assignment_names(self) -> list[str]:
        if not self.solutions.is_dir():
            return []
        return sorted(p.name for p in self.solutions.iterdir() if p.is_dir()
                      and any(p.glob("*.ipynb")))

    def notebooks(self, assignment: str) -> list[str]:
        """File names of the assignment's notebooks; ``CourseError`` if unknown."""
        names = self.assignment_names()
        if assignment not in names:
            raise CourseError(
                f"no assignment {assignment!r} in {self.solutions}; "
                f"available: {', '.join(names) or 'none'}"
            )
        return sorted(p.name for p in (self.solutions / assignment).glob("*.ipynb"))


def _looks_like_root(path: Path) -> bool:
    return (path / "course" / "nbgrader_config.py").is_file() and (path / "solutions").is_dir()


def find_layout(root: str | os.PathLike | None = None) -> CourseLayout:
    """Find the course checkout.

    Order: the explicit ``root``, the ``CNN_COURSE_ROOT`` variable, the current folder
    or one of its parents, and last the checkout this package was installed from.
    """
    if root is None:
        root = os.environ.get("CNN_COURSE_ROOT")
    if root is not None:
        path = Path(root).resolve()
        if not _looks_like_root(path):
            raise CourseError(
                f"{path} is not a course checkout: expected course/nbgrader_config.py "
                "and solutions/ inside it"
            )
        return CourseLayout(path)
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents, Path(__file__).resolve().parents[3]):
        if _looks_like_root(candidate):
            return CourseLayout(candidate)
    raise CourseError(
        "cannot find the course checkout (a folder with course/nbgrader_config.py and "
        "solutions/): run from inside it, or pass --course-root / set CNN_COURSE_ROOT"
    )
