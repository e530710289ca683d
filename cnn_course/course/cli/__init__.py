"""The ``cnn-course`` command: release, grade, check, demo, lectures, train."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
