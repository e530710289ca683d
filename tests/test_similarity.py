"""Copy detection: honest answers stay below the threshold, copies land above it."""

from __future__ import annotations

import inspect
import itertools
from pathlib import Path

import nbformat
import pytest
from copydetect import compare_files
from similarity_cases import (
    CONV,
    CORRELATE,
    HONEST,
    INDEPENDENT,
    PARTS,
    disguise,
    submission,
)

import cnn_course
from cnn_course.course.grading import similarity
from cnn_course.course.grading.similarity import THRESHOLD, Match, find_copies
from cnn_course.ops import conv, signal
from conftest import ROOT


@pytest.fixture(scope="module")
def starter() -> str:
    """The release's answer cells: what every student starts from."""
    nb = nbformat.read(ROOT / "assignments/01_convolution/01_convolution.ipynb", 4)
    cells = [cell.source for cell in nb.cells
             if (cell.metadata.get("nbgrader") or {}).get("solution")]
    assert len(cells) == 5
    return "\n\n".join(cells)


@pytest.fixture(scope="module")
def library() -> dict[str, str]:
    return similarity.library_references()


def _score(a: str, b: str, starter: str) -> float:
    """The similarity of answer a to answer b (0 when not reported at threshold 0)."""
    found = find_copies({"a": a, "b": b}, boilerplate=starter, references={},
                        threshold=0.0)
    return max((m.similarity for m in found["a"] if m.other == "b"), default=0.0)


def test_library_references_are_the_files_that_implement_the_assignments(library):
    """library_references: package-relative names, conv and signal among them."""
    assert "cnn_course/ops/conv.py" in library and "cnn_course/ops/signal.py" in library
    assert "cnn_course/transfer.py" in library and "cnn_course/kernels.py" in library
    for name in library:
        assert name.startswith("cnn_course/") and name.endswith(".py"), name
    assert not any(name.startswith("cnn_course/course/") for name in library)
    assert "def correlate2d_naive" in library["cnn_course/ops/signal.py"]


@pytest.mark.parametrize("part", PARTS, ids=["correlate2d", "pad2d", "conv_output_size",
                                             "conv2d_forward", "sobel_edges"])
def test_honest_versions_of_one_function_stay_below_the_threshold(part, starter):
    """Two students writing one function their own way (loops, slices, einsum)."""
    for (name_a, a), (name_b, b) in itertools.permutations(part.items(), 2):
        score = _score(a, b, starter)
        assert score < THRESHOLD, f"honest {name_a} vs {name_b}: {score:.2f}"


def test_loop_and_einsum_share_nothing(starter):
    """A 2-D correlation loop and an einsum over sliding windows: similarity 0."""
    assert _score(CORRELATE["slices"], CORRELATE["einsum"], starter) == 0.0
    assert _score(CORRELATE["four_loops"], CORRELATE["einsum"], starter) == 0.0


def test_honest_submissions_are_not_reported(starter):
    """Three whole honest submissions: none is reported, even against the library."""
    answers = {sid: submission(HONEST[sid]) for sid in INDEPENDENT}
    assert find_copies(answers, boilerplate=starter) == {sid: [] for sid in INDEPENDENT}
    scores = [_score(answers[x], answers[y], starter)
              for x, y in itertools.permutations(INDEPENDENT, 2)]
    assert max(scores) < THRESHOLD - 0.3, f"honest submissions came close: {scores}"


@pytest.mark.parametrize("sid", INDEPENDENT)
def test_pasted_copies_are_reported(sid, starter):
    """Identical, renamed-and-reindented, and mostly copied answers are all found."""
    original = submission(HONEST[sid])
    choice = list(HONEST[sid])
    choice[3] = next(name for name in CONV if name != choice[3])  # rewrite one part
    answers = {
        sid: original,
        "identical": original,
        "disguised": disguise(original),
        "one_part_rewritten": disguise(submission(tuple(choice))),
    }
    found = find_copies(answers, boilerplate=starter, references={})
    assert disguise(original) != original
    for copier in ("identical", "disguised", "one_part_rewritten"):
        best = found[copier][0]
        assert (best.other, best.kind) in {(sid, "student"), ("identical", "student"),
                                           ("disguised", "student")}
        assert best.similarity >= THRESHOLD, f"{copier}: {best.similarity:.2f}"
    assert found["disguised"][0].similarity > 0.95
    assert found["one_part_rewritten"][0].similarity < 0.95
    assert {m.other for m in found[sid]} == {"identical", "disguised",
                                             "one_part_rewritten"}
    assert [m.similarity for m in found[sid]] == sorted(
        (m.similarity for m in found[sid]), reverse=True)


@pytest.mark.parametrize("function, name", [
    (signal.correlate2d_naive, "correlate2d"),
    (conv.conv2d_forward_naive, "conv2d_forward"),
])
def test_library_paste_names_the_library_file(function, name, starter):
    """A library function pasted as an answer, renamed, is matched to its file."""
    source = inspect.getsource(function).replace(function.__name__, name)
    pasted = disguise(source)
    expected = Path(inspect.getsourcefile(function)).relative_to(
        Path(cnn_course.__file__).parents[1]).as_posix()
    found = find_copies({"student": pasted}, boilerplate=starter)
    assert found["student"], "the pasted library code was not reported"
    best = found["student"][0]
    assert best == Match(expected, "library", best.similarity)
    assert best.similarity > 0.9


def test_honest_functions_are_not_library_copies(starter, library):
    """No honest way of writing a function reaches the threshold vs the library."""
    answers = {f"part{i}_{name}": text
               for i, part in enumerate(PARTS) for name, text in part.items()}
    assert len(answers) == 17
    found = find_copies(answers, boilerplate=starter, references=library)
    assert not any(m.kind == "library" for ms in found.values() for m in ms), found


def test_starter_code_alone_is_not_a_copy(starter):
    """Two blank submissions (the starter code, untouched) are not each other's copy."""
    blank = {"blank_1": starter, "blank_2": starter + "\n"}
    assert find_copies(blank, boilerplate=starter) == {"blank_1": [], "blank_2": []}
    # the proof that the boilerplate argument does the work: without it, they match
    without = find_copies(blank, references={})
    assert without["blank_1"][0].similarity == pytest.approx(1.0)


def test_empty_and_broken_answers_do_not_crash(starter):
    """Empty, unparsable and binary-looking answers give no matches and no error."""
    answers = {
        "empty": "",
        "blank": starter,
        "broken": "def correlate2d(image, kernel:\n    return [[[ for for\n\t\t'''",
        "control": "\x00\x01\x02 ünïcödé \u2028 ;;;",
        "ana": submission(HONEST["ana"]),
    }
    found = find_copies(answers, boilerplate=starter)
    assert set(found) == set(answers)
    for sid in ("empty", "blank", "broken", "control"):
        assert found[sid] == [], sid
    assert all(m.other not in ("empty", "blank") for m in found["ana"])


def test_report_is_copydetects_html(tmp_path, starter):
    """report=: copydetect's HTML, naming the copier and the library file."""
    pasted = disguise(inspect.getsource(signal.correlate2d_naive))
    answers = {"ana": submission(HONEST["ana"]), "copier": submission(HONEST["ana"]),
               "borrower": pasted, "ben": submission(HONEST["ben"])}
    report = tmp_path / "out" / "similarity.html"
    found = find_copies(answers, boilerplate=starter, report=report)
    assert found["ben"] == []
    html = report.read_text()
    assert "copydetect" in html.lower()
    assert "copier.py" in html and "cnn_course__ops__signal.py" in html
    assert "ben.py" not in html  # only the students involved in a match

    quiet = tmp_path / "quiet.html"
    find_copies({"ben": answers["ben"]}, boilerplate=starter, report=quiet)
    assert "No answer" in quiet.read_text()


def test_the_fast_screen_agrees_with_copydetect(starter, library):
    """_shares, which picks the pairs to report, equals compare_files on every pair."""
    skip = similarity._boilerplate_hashes(starter)
    texts = [text for part in PARTS for text in part.values()]
    texts += [submission(choice) for choice in HONEST.values()]
    texts += [library["cnn_course/ops/signal.py"], "", "def (:", starter]
    fps = [similarity._fingerprint(text, skip) for text in texts]
    shares = similarity._shares(fps, rows=len(fps))
    for a, b in itertools.permutations(range(len(fps)), 2):
        _, (expected, _), _ = compare_files(fps[a], fps[b])
        assert shares[a, b] == pytest.approx(expected, abs=1e-12), (a, b)


def test_threshold_must_be_a_share():
    """A threshold outside 0..1 is refused with the number in the message."""
    with pytest.raises(ValueError, match="1.5"):
        find_copies({"a": "x = 1"}, threshold=1.5)
