"""Checks for assignment notebooks: what test cells and the student's ``check()`` run.

- :mod:`.expect`: assertions with messages that name what was expected;
- :mod:`.judge`: the verdict on one case, shared with the grader;
- :mod:`.shortcuts`: forbidden library calls, named once, found by what they run;
- :mod:`.check`: ``check_for(assignment)``, the self-check inside the notebook;
- :mod:`.codec`: case data as JSON (arrays included).

Only numpy and the standard library are imported here, so these modules work in the
grader's minimal sandbox exactly as in the notebook.
"""

from .check import Checker, Report, check_for, cpu_limit, run_case
from .expect import expect_array, expect_close, expect_raises, expect_shape
from .judge import Verdict, judge
from .shortcuts import Watch, forbid_shortcuts

__all__ = [
    "Checker", "Report", "Verdict", "Watch", "check_for", "cpu_limit", "expect_array",
    "expect_close", "expect_raises", "expect_shape", "forbid_shortcuts", "judge",
    "run_case",
]
