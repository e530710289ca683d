"""The course machinery: what an instructor runs, never what a lecture imports.

- ``cli``: the ``cnn-course`` command (release, grade, check, demo, lectures, train).
- ``grading``: release, grade and self-check of nbgrader assignments, sandboxed.
- ``notebooks``: one runner that executes notebooks (lectures, checks, tests).
- ``testing``: assertions with actionable messages for assignment test cells.

The library wing (everything else in ``cnn_course``) never imports from here; a test
checks that.
"""
