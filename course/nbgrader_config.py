"""nbgrader configuration of the course (nbgrader reads this file from course/).

The settings themselves live in cnn_course.course.grading.config, shared with the
`cnn-course` commands. Run plain nbgrader commands from this folder, e.g.
`cd course && nbgrader export` or `nbgrader formgrader`.
"""

from pathlib import Path

from cnn_course.course.grading.config import configure

here = Path(__file__).resolve().parent
c = get_config()  # noqa: F821 (nbgrader provides get_config)
configure(c, workspace=here, solutions=here.parent / "solutions",
          release=here.parent / "assignments")
