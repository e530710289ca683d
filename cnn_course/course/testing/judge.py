"""One judge for every check: in the notebook's self-check and in the grader.

A *case* is one call of student code; its *outcome* is what came back (a value, an
exception, a timeout, a shortcut); its *expectation* is what the grader wanted. The
in-notebook ``check()`` and the trusted grader both hand (expectation, outcome) to
:func:`judge`, so a student sees the same verdict, with the same hint, in both places.

Expectation keys (all optional): ``value`` (the reference), ``raises`` (an exception
class name), ``rtol``/``atol``, ``shape_only``, ``index`` (compare ``result[index]``),
``exact_type`` (e.g. ``"int"``), ``shape_hints`` (``[[shape, hint], ...]``: a wrong
shape that points at a known mistake), ``hint`` (appended to value failures) and
``metric`` (``{"name", "labels", "at_least", ...}``: score predictions against labels
the grader holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .expect import describe_difference

SHORTCUT_MARK = "[shortcut]"


@dataclass
class Verdict:
    """Whether a case passed, the kind of failure and a message that explains it."""

    ok: bool
    kind: str = ""  # shape, dtype, value, timeout, shortcut used, not written yet, ...
    message: str = ""
    score: float | None = None  # the metric, for metric cases

    def line(self) -> str:
        return "ok" if self.ok else f"[{self.kind}] {self.message}"


def _fail(kind: str, message: str, hint: str = "", score: float | None = None) -> Verdict:
    if hint:
        message = f"{message}. {hint}" if message else hint
    return Verdict(False, kind, message, score)


def judge(expect: dict, outcome: dict) -> Verdict:
    """The verdict on one case. Never raises, whatever ``outcome`` holds."""
    try:
        return _judge(expect, outcome if isinstance(outcome, dict) else {})
    except Exception as err:  # a malformed outcome is a failed case, not a crash
        return _fail("no result", f"the result could not be read ({type(err).__name__})")


def _judge(expect: dict, outcome: dict) -> Verdict:
    status = outcome.get("status")
    evalue = str(outcome.get("evalue", ""))[:500]
    raises = expect.get("raises")
    if status == "error":
        mro = outcome.get("mro") if isinstance(outcome.get("mro"), list) else []
        if raises and raises in mro:
            return Verdict(True)
        return _error_verdict(str(outcome.get("ename", "Exception"))[:80], evalue)
    if status == "shortcut":
        names = ", ".join(str(n) for n in outcome.get("names", [])[:3]) or "a library"
        return _fail("shortcut used", f"calls {names}: this part asks for your own code")
    if status == "timeout":
        return _fail("timeout", evalue or "the call did not finish in time")
    if status == "skipped":
        return _fail("timeout", evalue or "not called again: it timed out before")
    if status == "crashed":
        return _fail("error", evalue or "the call ended its own process")
    if status == "unreadable":
        return _fail("dtype", f"the result cannot be read as numbers: {evalue}")
    if status != "ok":
        return _fail("no result", evalue or "no result came back")
    if raises:
        return _fail("value", f"expected {raises}, but the call returned normally",
                     expect.get("hint", ""))
    got = outcome.get("value")
    if "metric" in expect:
        return _judge_metric(expect["metric"], got)
    exact = expect.get("exact_type")
    if exact and outcome.get("type") != exact:
        return _fail("type", f"expected a {exact}, got a {outcome.get('type')}",
                     expect.get("hint", ""))
    if "index" in expect and expect["index"] is not None:
        try:
            got = np.asarray(got)[expect["index"]]
        except (IndexError, TypeError, ValueError):
            return _fail("shape", f"cannot index the result by {expect['index']}")
    return compare(got, expect.get("value"), expect)


def _error_verdict(ename: str, evalue: str) -> Verdict:
    if SHORTCUT_MARK in evalue:
        return _fail("shortcut used", evalue.replace(SHORTCUT_MARK, "").strip())
    kind = {"NotImplementedError": "not written yet", "NameError": "not defined",
            "RecursionError": "error", "MemoryError": "error"}.get(ename, "error")
    if ename in ("TimeoutError", "CPUTimeLimit"):
        kind = "timeout"
    return _fail(kind, f"{ename}: {evalue}".rstrip(": "))


def compare(got: Any, expected: Any, expect: dict, where: str = "output") -> Verdict:
    """Compare a result with a reference: arrays and numbers, lists, dicts, others."""
    hint = expect.get("hint", "")
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return _fail("type", f"expected a dict, got {type(got).__name__}", hint)
        missing = [k for k in expected if k not in got]
        extra = [k for k in got if k not in expected]
        if missing or extra:
            parts = [f"missing {missing[:5]}" if missing else "",
                     f"unexpected {extra[:5]}" if extra else ""]
            return _fail("value", f"{where}: keys differ: " + ", ".join(p for p in parts if p),
                         hint)
        for key, value in expected.items():
            verdict = compare(got[key], value, expect, f"{where}[{key!r}]")
            if not verdict.ok:
                return verdict
        return Verdict(True)
    if isinstance(expected, (list, tuple)) and not _numeric(expected):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            n = len(got) if isinstance(got, (list, tuple)) else type(got).__name__
            return _fail("shape", f"{where}: expected {len(expected)} items, got {n}", hint)
        for i, (g, e) in enumerate(zip(got, expected)):
            verdict = compare(g, e, expect, f"{where}[{i}]")
            if not verdict.ok:
                return verdict
        return Verdict(True)
    if isinstance(expected, (str, bool)) or expected is None:
        if got != expected or type(got) is not type(expected):
            return _fail("value", f"{where}: expected {expected!r}, got {_short(got)}", hint)
        return Verdict(True)
    return _compare_arrays(got, expected, expect, where)


def _numeric(value: Any) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biufc"
    except (ValueError, TypeError):
        return False


def _compare_arrays(got: Any, expected: Any, expect: dict, where: str) -> Verdict:
    hint = expect.get("hint", "")
    reference = np.asarray(expected, dtype=np.float64)
    if got is None:
        return _fail("no result", f"{where} is None: did you forget to `return` it?")
    try:
        array = np.asarray(got)
    except (ValueError, TypeError):
        return _fail("type", f"{where} is a {type(got).__name__}, not an array")
    if array.dtype.kind not in "biufc":
        return _fail("dtype", f"{where} has dtype {array.dtype}, expected numbers")
    if array.shape != reference.shape:
        message = f"expected {where} of shape {reference.shape}, got {array.shape}"
        for shape, shape_hint in expect.get("shape_hints") or []:
            if tuple(shape) == array.shape:
                return _fail("shape", f"{message}: {shape_hint}")
        return _fail("shape", message, hint)
    if expect.get("shape_only"):
        return Verdict(True)
    if array.dtype.kind == "c" or reference.dtype.kind == "c":
        return _fail("dtype", f"{where} is complex; expected real numbers")
    rtol, atol = float(expect.get("rtol", 1e-6)), float(expect.get("atol", 1e-8))
    message = describe_difference(array, reference, rtol, atol, where)
    if message:
        return _fail("value", message, hint)
    return Verdict(True)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


# --- metrics: predictions against labels only the grader holds -----------------

def _judge_metric(metric: dict, got: Any) -> Verdict:
    labels = np.asarray(metric["labels"])
    try:
        predictions = np.asarray(got)
    except (ValueError, TypeError):
        return _fail("type", f"expected predictions as an array, got {type(got).__name__}")
    if predictions.shape != labels.shape or predictions.dtype.kind not in "biuf":
        return _fail("shape", f"expected {labels.shape[0]} integer predictions of shape "
                              f"{labels.shape}, got {predictions.dtype} {predictions.shape}")
    name = metric.get("name", "accuracy")
    if name == "accuracy":
        score = float(np.mean(predictions == labels))
    elif name == "mean_iou":
        score = mean_iou(predictions, labels, int(metric["num_classes"]))
    else:
        return _fail("error", f"unknown metric {name!r}")
    threshold = float(metric["at_least"])
    described = (f"{name.replace('_', ' ')} {score:.4f} on {labels.shape[0]:,} held-back "
                 f"examples; at least {threshold:.4f} earns these points")
    if score >= threshold:
        return Verdict(True, "", described, score)
    return _fail("below threshold", described, score=score)


def mean_iou(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """Mean intersection over union over the classes present in labels or predictions."""
    ious = []
    for c in range(num_classes):
        p, t = predictions == c, labels == c
        union = np.logical_or(p, t).sum()
        if union:
            ious.append(np.logical_and(p, t).sum() / union)
    return float(np.mean(ious)) if ious else 0.0
