"""The library's one error base class; the course machinery reuses it.

:class:`CourseError` is a problem with the user's input (a missing file, an unknown
name, a shape that does not fit). The ``cnn-course`` command turns it into a one-line
message and exit code 2; library functions raise it, or a subclass, with a message
that names what was expected.
"""

from __future__ import annotations


class CourseError(Exception):
    """A problem with the user's input, explained in the message."""
