"""nbgrader configuration of the course (nbgrader reads this file from course/).

The settings themselves live in cnn_course.course.grading.config, shared with the
`cnn-course` commands. Run plain nbgrader commands from this folder, e.g.
`cd course && nbgrader export`, and JupyterLab too (`make lab`), so that its
formgrader finds the gradebook. On a shared JupyterHub, nbgrader_config_jupyterhub.py
next to this file holds the exchange's settings (README, "Running a real class").

The gradebook is course/gradebook.db (SQLite), or the SQLAlchemy URL in the
environment variable NBGRADER_DB_URL, e.g. a PostgreSQL server that several graders
and the formgrader share:
    export NBGRADER_DB_URL=postgresql+psycopg2://grader@dbhost/gradebook
(`cnn-course grade` reads the same variable; its --db-url option wins.)
"""

import os
from pathlib import Path

from cnn_course.course.grading.config import DB_URL_ENV, configure

here = Path(__file__).resolve().parent
c = get_config()  # noqa: F821 (nbgrader provides get_config)
configure(c, workspace=here, solutions=here.parent / "solutions",
          release=here.parent / "assignments", db_url=os.environ.get(DB_URL_ENV) or None)
