"""Shortcuts: library code a hand-written part may not call, named once, found by what it runs.

An assignment spec forbids names: a package (``"torch"``, ``"scipy"``), or a numpy
function (``"numpy.pad"``). :data:`IMPLEMENTATIONS` says what each numpy function
computes with, so that forbidding the public name also forbids its private helpers
and the C routine behind it (``numpy.correlate`` runs ``correlate2`` in numpy's C
core; ``numpy.pad`` is the whole ``_arraypad_impl`` module). Two places use this:

- the grader's sandbox (:mod:`cnn_course.course.grading.runner`), where forbidden
  packages are absent and replaced by stubs, forbidden implementation modules are
  replaced by stubs, and forbidden C routines are unbound everywhere;
- :class:`Watch`, the in-notebook self-check's detector, which watches every call a
  graded function makes, on every thread, and names the first forbidden one.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterable
from typing import Any

# Forbidding a key forbids what its value lists: "modules" (every function defined
# there), "functions" (code of these Python functions) and "builtins" (C routines,
# matched by module and name, so a re-created copy is matched too).
IMPLEMENTATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "numpy.pad": {"modules": ("numpy.lib._arraypad_impl",)},
    "numpy.correlate": {
        "functions": ("numpy._core.numeric.correlate",),
        "builtins": ("numpy._core._multiarray_umath.correlate",
                     "numpy._core._multiarray_umath.correlate2"),
    },
    "numpy.convolve": {
        "functions": ("numpy._core.numeric.convolve",),
        "builtins": ("numpy._core._multiarray_umath.correlate",
                     "numpy._core._multiarray_umath.correlate2"),
    },
}

# The checker's own frames are never shortcuts, even where "cnn_course" is forbidden.
ALLOWED_PREFIXES = ("cnn_course.course.testing",)


def packages(forbidden: Iterable[str]) -> tuple[str, ...]:
    """The forbidden names that are whole packages (not numpy functions)."""
    return tuple(n for n in forbidden if n not in IMPLEMENTATIONS)


def builtins_of(forbidden: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({b for n in forbidden for b in IMPLEMENTATIONS.get(n, {}).get(
        "builtins", ())}))


def functions_of(forbidden: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({f for n in forbidden for f in IMPLEMENTATIONS.get(n, {}).get(
        "functions", ())}))


def modules_of(forbidden: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({m for n in forbidden for m in IMPLEMENTATIONS.get(n, {}).get(
        "modules", ())}))


def _resolve(dotted: str) -> Any:
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def builtin_name(fn: Any) -> str:
    """``module.name`` of a C function, from its bound module (as a profiler sees it)."""
    owner = getattr(fn, "__self__", None)
    module = getattr(owner, "__name__", None) if type(owner).__name__ == "module" else None
    module = module or getattr(fn, "__module__", None) or type(owner).__module__
    return f"{module}.{getattr(fn, '__name__', '?')}"


class Watch:
    """Record forbidden calls made while a graded function runs, on every thread.

    ``with Watch(["numpy.pad", "torch"]) as watch: f(x)``, then ``watch.hits`` lists
    the forbidden names ``f`` reached (entry points only, not the library's own
    inner calls). It profiles the calling thread and every thread started during
    the call (``threading.setprofile``; on Python 3.12+ also threads that were
    already running), and for threads that were running before, it swaps the
    forbidden functions in every loaded module for recording wrappers, so a call
    through any module attribute is seen from any thread.
    """

    def __init__(self, forbidden: Iterable[str]):
        forbidden = tuple(forbidden)
        self.prefixes = packages(forbidden)
        self.builtins = set(builtins_of(forbidden))
        self.files: dict[str, str] = {}
        self.codes: dict[Any, str] = {}
        for name in forbidden:
            entry = IMPLEMENTATIONS.get(name, {})
            for module in entry.get("modules", ()):
                path = getattr(sys.modules.get(module) or _try_import(module), "__file__", None)
                if path:
                    self.files[path] = name
            for fn in entry.get("functions", ()):
                code = getattr(_try_resolve(fn), "__code__", None)
                if code is not None:
                    self.codes[code] = name
        self.names = {b: n for n in forbidden for b in builtins_of([n])}
        self.hits: list[str] = []
        self._swapped: list[tuple[dict, str, Any]] = []

    # -- classify one profiler event ------------------------------------------
    def _forbidden(self, frame, event: str, arg: Any) -> str | None:
        if event == "call":
            code = frame.f_code
            if code in self.codes:
                return self.codes[code]
            if code.co_filename in self.files:
                return self.files[code.co_filename]
            module = frame.f_globals.get("__name__", "")
        elif event == "c_call":
            name = builtin_name(arg)
            if name in self.builtins:
                return self.names.get(name, name)
            module = name
        else:
            return None
        if any(_matches(module, a) for a in ALLOWED_PREFIXES):
            return None
        for prefix in self.prefixes:
            if _matches(module, prefix):
                return module if event == "call" else name
        return None

    def _profile(self, frame, event, arg):
        name = self._forbidden(frame, event, arg)
        if name is None:
            return
        caller = frame.f_back if event == "call" else frame
        if caller is not None and self._forbidden(caller, "call", None):
            return  # a library's own inner call; its entry point was recorded
        if name not in self.hits:
            self.hits.append(name)

    # -- wrappers for threads that were running before the call -----------------
    def _swap_module_attributes(self) -> None:
        targets = {}
        for key in [*self.codes.values(), *self.files.values()]:
            obj = _try_resolve(key)
            if obj is not None:
                targets[id(obj)] = (obj, key)
        for name in self.builtins:
            obj = _try_resolve(name)
            if obj is not None:
                targets[id(obj)] = (obj, self.names.get(name, name))
        if not targets:
            return
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            for attr, value in list(namespace.items()):
                hit = targets.get(id(value))
                if hit is not None and hit[0] is value:
                    namespace[attr] = self._recording(value, hit[1])
                    self._swapped.append((namespace, attr, value))

    def _recording(self, fn, name: str):
        def wrapper(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread() \
                    and name not in self.hits:
                self.hits.append(name)
            return fn(*args, **kwargs)
        return wrapper

    def __enter__(self) -> Watch:
        self.hits = []
        self._previous = sys.getprofile()
        self._swap_module_attributes()
        sys.setprofile(self._profile)
        threading.setprofile(self._profile)
        if hasattr(threading, "setprofile_all_threads"):  # Python 3.12+
            threading.setprofile_all_threads(self._profile)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(self._previous)
        threading.setprofile(None)
        if hasattr(threading, "setprofile_all_threads"):
            threading.setprofile_all_threads(None)
        for namespace, attr, value in reversed(self._swapped):
            namespace[attr] = value
        self._swapped = []


def _try_import(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _try_resolve(dotted: str):
    try:
        return _resolve(dotted)
    except (ImportError, AttributeError, ValueError):
        return None


def forbid_shortcuts(fn, *args: Any, forbidden: Iterable[str], part: str = "",
                     **kwargs: Any) -> Any:
    """Call ``fn`` and fail if it (directly or not) calls a forbidden library function."""
    with Watch(forbidden) as watch:
        result = fn(*args, **kwargs)
    if watch.hits:
        what = part or getattr(fn, "__name__", "this function")
        raise AssertionError(
            f"shortcut used: {what} calls {', '.join(watch.hits[:3])}. This part asks "
            "for your own code; library implementations earn no points here."
        )
    return result
