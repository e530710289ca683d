"""Assignment specs: an assignment's checks, points and rules, written once.

See :mod:`.model` for what an instructor writes and :mod:`.generate` for what is
generated from it.
"""

from .load import SPEC_FILE, load_spec, spec_path
from .model import (
    SOLUTION,
    Assignment,
    Case,
    Example,
    Limits,
    Metric,
    Part,
    SpecError,
    Test,
    call,
    run,
)

__all__ = [
    "SOLUTION", "SPEC_FILE", "Assignment", "Case", "Example", "Limits", "Metric", "Part",
    "SpecError", "Test", "call", "load_spec", "run", "spec_path",
]
