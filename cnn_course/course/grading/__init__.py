"""Release, grade and self-check the course's nbgrader assignments.

- ``config``: one nbgrader configuration, used by ``course/nbgrader_config.py`` and by
  the ``cnn-course`` commands alike.
- ``release``: regenerate ``assignments/`` from ``solutions/``.
- ``grade``: autograde a class (folder or LMS zip) into a CSV and feedback HTML,
  with ``intake`` (files to students), ``sanitise`` (answers only), ``sandbox`` and
  ``execute`` (bubblewrap around the kernel), ``verdicts`` and ``probe_runner`` (the
  trusted check outside the student's process) and ``worker`` (one student).
- ``check``: the student's self-check before submitting.
- ``demo``: release, then grade the example submissions shipped in ``course/``.
"""
