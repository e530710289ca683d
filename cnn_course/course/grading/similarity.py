"""Noticing copied answers: each student's code against the class and the library.

Built on copydetect (winnowed fingerprints of the tokenised code, the method of MOSS;
Schleimer, Wilkerson and Aiken, SIGMOD 2003). copydetect's tokeniser turns every
variable into ``V``, every function name into ``F`` and every string into ``S``, and
drops comments and whitespace, so renaming variables, deleting comments or
re-indenting a pasted answer changes nothing. The similarity of an answer to another
text is copydetect's: the share of the answer's fingerprinted code that also occurs
in the other text, after the starter code (``boilerplate``) is removed from both.

Settings, chosen from a measurement (``tests/test_similarity.py`` asserts the cases;
``benchmarks/bench_similarity.py`` times a class):

- ``NOISE = 30``: a match must span at least 30 characters of tokenised code, a
  little more than one statement (``V[V,V]=V.V(V[V:V+V,V:V+V]*V)``, the heart of a
  correlation loop, is 27), so short idioms that everybody writes do not count.
  ``GUARANTEE = 30`` as well, a winnowing window of 1: every 30-character run is a
  fingerprint. A wider window is faster but not repeatable: copydetect hashes with
  Python's ``hash()``, salted anew in every process, so the fingerprints a window
  keeps change from run to run (with ``NOISE = 25`` and a window of 6, one honest
  pair scored 0.58 in one run and 0.62 in the next). With window 1 every run gives
  the same scores.
- ``THRESHOLD = 0.65``. Measured on assignment 01's answers, starter code removed
  (``tests/similarity_cases.py``: 3 to 5 independent ways of writing each part):

  =====================================================  ============
  pair                                                   similarity
  =====================================================  ============
  honest, one function, any two ways (44 ordered pairs)  0.00 to 0.44
  honest, two correlate2d loops (slice sum, 4 loops)     0.24, 0.27
  honest, correlate2d loop vs einsum                     0.00
  honest, one function vs the library (17 answers)       0.00 to 0.58
  honest, whole submissions (3 students, 6 pairs)        0.09 to 0.18
  honest, whole submissions vs the library               at most 0.16
  copy, identical                                        1.00
  copy, renamed, comments cut, re-indented               1.00
  copy with one of five parts written anew               0.76 to 0.85
  ``correlate2d_naive`` pasted, renamed: signal.py       1.00
  ``conv2d_forward_naive`` pasted, renamed: conv.py      1.00
  =====================================================  ============

  0.65 sits between the highest honest score (0.58, a one-function answer) and the
  lowest copy (0.76). Two honest students who both write the lecture's loop almost
  token for token can still meet: a report is a reason to look, not a verdict.
- Time: 500 synthetic students (3,000 characters of answer code each, 20 of them
  disguised copies) against each other and 37 library files:
  about 10 s of CPU time (9.7 s wall on an idle core, up to 34 s while other jobs
  shared the machine's two cores; 370 MB peak), of which tokenising takes 6 s and
  the screen in :func:`_shares` 3.5 s. All 20 copies were found and none of the 461
  honest students reported.

Empty answers and answers that do not parse are fine: the tokeniser reads any text,
and an answer with no code beyond the starter code has similarity 0 to everything.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from copydetect import CodeFingerprint, CopyDetector, compare_files
from scipy.sparse import csc_matrix

__all__ = ["GUARANTEE", "NOISE", "THRESHOLD", "Match", "find_copies",
           "library_references"]

NOISE = 30
GUARANTEE = 30
THRESHOLD = 0.65

# The library files that implement what the assignments ask for, relative to the
# package's parent folder. Globs; a pattern that matches nothing is skipped.
LIBRARY_PATTERNS = (
    "cnn_course/ops/*.py",
    "cnn_course/kernels.py",
    "cnn_course/similarity.py",
    "cnn_course/models/*.py",
    "cnn_course/transfer.py",
    "cnn_course/analysis/*.py",
    "cnn_course/data/augment*.py",
)


@dataclass
class Match:
    """One text that an answer resembles."""

    other: str  # a student id, or a library file ("cnn_course/ops/conv.py")
    kind: str  # "student" or "library"
    similarity: float  # 0..1, the share of this answer's code that matches


def library_references() -> dict[str, str]:
    """The library's own source files that implement what assignments ask for.

    Keys are paths relative to the package's parent folder (``cnn_course/ops/conv.py``);
    empty files (most ``__init__.py``) are left out.
    """
    base = Path(__file__).resolve().parents[3]  # the folder that holds cnn_course/
    sources = {}
    for pattern in LIBRARY_PATTERNS:
        for path in sorted(base.glob(pattern)):
            text = path.read_text(encoding="utf-8")
            if text.strip():
                sources[path.relative_to(base).as_posix()] = text
    return sources


def _fingerprint(source: str, boilerplate: np.ndarray) -> CodeFingerprint:
    # "file" names the text in copydetect's report only; the language is fixed
    fp = CodeFingerprint("answer.py", NOISE, GUARANTEE - NOISE + 1, boilerplate,
                         language="python", fp=io.StringIO(source))
    # plain ints, not numpy scalars: quicker to hash in the sets and dicts below
    fp.hashes = {int(h) for h in fp.hashes}
    fp.hash_idx = {int(h): idx for h, idx in fp.hash_idx.items()}
    return fp


def _boilerplate_hashes(boilerplate: str) -> np.ndarray:
    """Every fingerprint of the starter code (window 1: none is skipped)."""
    if not boilerplate.strip():
        return np.array([], dtype=np.int64)
    fingerprint = CodeFingerprint("boilerplate.py", NOISE, 1, language="python",
                                  fp=io.StringIO(boilerplate))
    return np.unique(np.array(sorted(fingerprint.hashes), dtype=np.int64))


def _shares(texts: list[CodeFingerprint], rows: int) -> np.ndarray:
    """``shares[a, b]``: copydetect's similarity of text ``a`` to text ``b``.

    For the first ``rows`` texts against all of them, in one pass per row instead of
    one ``compare_files`` call per pair (a class of 500 is 125,000 pairs).
    copydetect's similarity of ``a`` is the length of the union of the ``NOISE``-long
    windows that start at a's fingerprints found in ``b``, over a's coverage; the
    union is the sum, over those positions, of the distance to the next one, capped
    at ``NOISE``. ``find_copies`` asks ``compare_files`` again for each pair it
    reports, so this is only a screen.
    """
    column: dict[int, int] = {}  # fingerprint -> column of `holds`
    text_of, column_of = [], []
    for t, fp in enumerate(texts):
        for h in fp.hashes:
            text_of.append(t)
            column_of.append(column.setdefault(h, len(column)))
    holds = csc_matrix((np.ones(len(text_of), dtype=bool), (text_of, column_of)),
                       shape=(len(texts), len(column)))  # (texts, fingerprints)
    shares = np.zeros((rows, len(texts)))
    for a, fp in enumerate(texts[:rows]):
        if fp.token_coverage == 0:
            continue
        pos = np.array([i for idx in fp.hash_idx.values() for i in idx], dtype=np.int32)
        cols = np.array([column[h] for h, idx in fp.hash_idx.items() for _ in idx])
        order = np.argsort(pos, kind="stable")
        pos, cols = pos[order], cols[order]  # (m,) a's fingerprints in text order
        found = holds[:, cols].toarray()  # (texts, m): does text b hold fingerprint i?
        # the next found position after each one; past the end, far enough to cap
        far = np.int32(pos[-1] + NOISE)
        at = np.where(found[:, 1:], pos[1:], far)  # (texts, m - 1)
        after = np.full(found.shape, far)
        after[:, :-1] = np.minimum.accumulate(at[:, ::-1], axis=1)[:, ::-1]
        covered = np.where(found, np.minimum(after - pos, NOISE), 0).sum(axis=1)
        shares[a] = covered / fp.token_coverage
        shares[a, a] = 0.0
    return shares


def find_copies(
    answers: dict[str, str],
    *,
    boilerplate: str = "",
    references: dict[str, str] | None = None,
    threshold: float = THRESHOLD,
    report: Path | None = None,
) -> dict[str, list[Match]]:
    """For each student, the other students and library files their answer resembles.

    Args:
        answers: student id -> the concatenated source of that student's answer cells.
        boilerplate: the starter code everybody got (the release's answer cells:
            signatures, docstrings, ``# YOUR CODE HERE``); it never counts as copying.
        references: name -> source of texts students might copy from; default
            :func:`library_references`. Pass ``{}`` to compare students only.
        threshold: the smallest similarity reported (0..1).
        report: where to write copydetect's HTML report of the reported pairs.

    Returns:
        student id -> matches at or above ``threshold``, most similar first; a
        student with none maps to ``[]``.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"expected a threshold between 0 and 1, got {threshold}")
    if references is None:
        references = library_references()
    skip = _boilerplate_hashes(boilerplate)
    students = {sid: _fingerprint(src or "", skip) for sid, src in answers.items()}
    library = {name: _fingerprint(src, skip) for name, src in references.items()}

    texts = list(students.values()) + list(library.values())
    names = [(sid, "student") for sid in students] + [(n, "library") for n in library]
    shares = _shares(texts, rows=len(students))
    found: dict[str, list[Match]] = {sid: [] for sid in answers}
    # shares > 0 as well: with threshold 0, texts that share nothing are no match
    for a, b in zip(*np.nonzero((shares >= threshold - 1e-9) & (shares > 0))):
        sid, (other, kind) = names[a][0], names[b]
        _, (similarity, _), _ = compare_files(texts[a], texts[b])  # copydetect's word
        if similarity >= threshold and similarity > 0:
            found[sid].append(Match(other, kind, float(similarity)))
    for matches in found.values():
        matches.sort(key=lambda m: (-m.similarity, m.kind, m.other))
    if report is not None:
        _write_report(found, answers, boilerplate, references, threshold, Path(report))
    return found


def _write_report(found: dict[str, list[Match]], answers: dict[str, str],
                  boilerplate: str, references: dict[str, str], threshold: float,
                  report: Path) -> None:
    """copydetect's HTML report of the reported students and what they match.

    copydetect reads files, so those answers and references are written to a scratch
    folder first; the report covers only them, so it stays small for a big class.
    """
    involved = sorted({sid for sid, matches in found.items() if matches}
                      | {m.other for ms in found.values() for m in ms
                         if m.kind == "student"})
    library = sorted({m.other for ms in found.values() for m in ms
                      if m.kind == "library"})
    report.parent.mkdir(parents=True, exist_ok=True)
    if not involved:
        report.write_text("<!DOCTYPE html><html><body><h1>copydetect</h1><p>No answer "
                          f"is {threshold:.0%} or more similar to another text.</p>"
                          "</body></html>", encoding="utf-8")
        return
    with tempfile.TemporaryDirectory(prefix="similarity-") as scratch:
        folders = {name: Path(scratch) / name
                   for name in ("students", "library", "starter")}
        for folder in folders.values():
            folder.mkdir()
        for i, sid in enumerate(involved):  # the index keeps two odd ids apart
            name = f"{_safe(sid)}.py" if _safe(sid) == sid else f"{_safe(sid)}_{i}.py"
            (folders["students"] / name).write_text(answers[sid] or "",
                                                    encoding="utf-8")
        for name in library:
            (folders["library"] / name.replace("/", "__")).write_text(
                references[name], encoding="utf-8")
        (folders["starter"] / "starter.py").write_text(boilerplate, encoding="utf-8")
        ref_dirs = [folders["students"]] + ([folders["library"]] if library else [])
        detector = CopyDetector(
            test_dirs=[str(folders["students"])], ref_dirs=[str(d) for d in ref_dirs],
            boilerplate_dirs=[str(folders["starter"])], extensions=["py"],
            noise_t=NOISE, guarantee_t=GUARANTEE, display_t=max(threshold - 1e-9, 0.0),
            force_language="python", autoopen=False, silent=True,
            out_file=str(Path(scratch) / "report.html"),
        )
        detector.run()
        with warnings.catch_warnings():  # copydetect 0.5.0 reads its template with
            warnings.simplefilter("ignore", DeprecationWarning)  # a deprecated call
            html = detector.generate_html_report(output_mode="return")
        report.write_text(html, encoding="utf-8")


def _safe(student: str) -> str:
    """A student id as a file name (the report shows it)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in student)
