"""Release, grade and self-check the course's nbgrader assignments.

- ``config``: one nbgrader configuration, used by ``course/nbgrader_config.py`` and by
  the ``cnn-course`` commands alike.
- ``release``: regenerate ``assignments/`` from ``solutions/``.
- ``grade``: autograde a folder of submissions into a CSV and feedback HTML.
- ``check``: the student's self-check before submitting.
- ``demo``: release, then grade the example submissions shipped in ``course/``.
"""
