"""Find and load ``solutions/<assignment>/spec.py`` (instructor side only)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from cnn_course.errors import CourseError

from .model import Assignment

SPEC_FILE = "spec.py"
_CACHE: dict[tuple[str, float], Assignment] = {}


def spec_path(solutions: Path, assignment: str) -> Path:
    return Path(solutions) / assignment / SPEC_FILE


def load_spec(solutions: Path, assignment: str) -> Assignment:
    """The ``SPEC`` of an assignment; ``CourseError`` when there is none."""
    path = spec_path(solutions, assignment).resolve()
    if not path.is_file():
        raise CourseError(f"{assignment} has no spec: expected {path}")
    key = (str(path), path.stat().st_mtime)
    if key not in _CACHE:
        name = f"cnn_course_spec_{assignment}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # dataclasses in the spec need their module
        module_spec.loader.exec_module(module)
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, Assignment):
            raise CourseError(f"{path} must define SPEC = Assignment(...)")
        if spec.name != assignment:
            raise CourseError(f"{path} defines {spec.name!r}, expected {assignment!r}")
        _CACHE[key] = spec
    return _CACHE[key]
