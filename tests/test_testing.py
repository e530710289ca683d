"""cnn_course.course.testing: the judge, the codec, shortcut detection and check()."""

import sys
import threading

import numpy as np
import pytest
import torch

from cnn_course.course.testing import (
    Checker,
    Watch,
    expect_close,
    expect_raises,
    expect_shape,
    forbid_shortcuts,
    judge,
    run_case,
)
from cnn_course.course.testing.codec import CodecError, decode, dumps, encode, loads

FORBIDDEN = ("torch", "scipy", "cnn_course", "numpy.pad", "numpy.correlate")


# --- messages --------------------------------------------------------------------

def test_shape_message_names_expected_and_got():
    with pytest.raises(AssertionError, match=r"expected output of shape \(2, 2\), got \(3, 3\): hint"):
        expect_shape(np.zeros((3, 3)), (2, 2), hint="hint")
    with pytest.raises(AssertionError, match="did you forget to `return`"):
        expect_shape(None, (2, 2))
    expect_shape(np.zeros((2, 2)), (2, 2))


def test_close_message_points_at_first_wrong_element():
    with pytest.raises(AssertionError, match=r"wrong at 1 of 4 positions; first at index \(1, 0\): got 9, expected -5"):
        expect_close(np.array([[-2, -8], [9, 0]]), [[-2, -8], [-5, 0]])
    expect_close(np.array([[1.0]]), [[1.0 + 1e-12]])


def test_a_float32_slip_prints_enough_digits_to_see_it():
    """"got 0.0300497, expected 0.0300497" hid the difference; ten digits show it."""
    got = np.array([0.0300497], dtype=np.float32)
    with pytest.raises(AssertionError) as err:
        expect_close(got, [0.03004975], rtol=1e-9, atol=0)
    message = str(err.value)
    assert "got 0.0300497002" in message and "difference 4.97e-08" in message
    assert "tolerance" in message and "difference" in message


def test_expect_raises():
    expect_raises(ValueError, int, "x")
    with pytest.raises(AssertionError, match="to raise ValueError, but it returned 3"):
        expect_raises(ValueError, int, "3")


# --- the judge ---------------------------------------------------------------------

def test_judge_kinds_and_hints():
    ok = {"status": "ok", "value": np.zeros((2, 2)), "type": "ndarray"}
    assert judge({"value": np.zeros((2, 2))}, ok).ok
    shape = judge({"value": np.zeros((3, 3)), "shape_hints": [[[2, 2], "did you pad?"]]}, ok)
    assert (shape.kind, shape.message) == ("shape", "expected output of shape (3, 3), got "
                                                    "(2, 2): did you pad?")
    value = judge({"value": np.ones((2, 2)), "hint": "add the bias"}, ok)
    assert value.kind == "value" and value.message.endswith("add the bias")
    err = {"status": "error", "ename": "NotImplementedError", "mro": ["NotImplementedError"],
           "evalue": ""}
    assert judge({"value": 1}, err).kind == "not written yet"
    assert judge({"raises": "ValueError"}, {"status": "error", "ename": "ValueError",
                                            "mro": ["ValueError", "Exception"]}).ok
    assert judge({"raises": "ValueError"}, ok).kind == "value"
    assert judge({"value": 5, "exact_type": "int"}, {"status": "ok", "value": 5.0,
                                                     "type": "float"}).kind == "type"
    assert judge({"value": 1}, {"status": "shortcut", "names": ["numpy.pad"]}).message \
        .startswith("calls numpy.pad")
    assert judge({"value": 1}, {"status": "timeout", "evalue": "too slow"}).kind == "timeout"


def test_judge_never_raises_on_malformed_outcomes():
    for outcome in [None, {}, {"status": "ok"}, {"status": "ok", "value": object()},
                    {"status": "error", "mro": 5}, {"status": "ok", "value": {"a": 1}}]:
        verdict = judge({"value": np.zeros(3)}, outcome)
        assert not verdict.ok and verdict.kind


def test_judge_compares_dicts_and_lists_of_structure():
    expect = {"value": {"conv1.weight": True, "fc.weight": False}}
    assert judge(expect, {"status": "ok", "value": {"conv1.weight": True,
                                                    "fc.weight": False}}).ok
    wrong = judge(expect, {"status": "ok", "value": {"conv1.weight": True,
                                                     "fc.weight": True}})
    assert wrong.kind == "value" and "fc.weight" in wrong.message


def test_metric_cases_score_predictions_against_held_labels():
    labels = np.array([0, 1, 2, 3])
    metric = {"metric": {"name": "accuracy", "labels": labels, "at_least": 0.75}}
    assert judge(metric, {"status": "ok", "value": np.array([0, 1, 2, 0])}).ok
    low = judge(metric, {"status": "ok", "value": np.array([0, 1, 0, 0])})
    assert low.kind == "below threshold" and low.score == 0.5
    assert judge(metric, {"status": "ok", "value": np.array([0, 1])}).kind == "shape"


# --- the codec ---------------------------------------------------------------------

def test_codec_round_trips_what_cases_use():
    value = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "t": (1, 2.5, None),
             "s": slice(None, 3), "l": [True, "a"], 3: float("nan")}
    back = loads(dumps(value))
    assert back["x"].dtype == np.float32 and (back["x"] == value["x"]).all()
    assert back["t"] == (1, 2.5, None) and back["s"] == slice(None, 3)
    assert back["l"] == [True, "a"] and np.isnan(back[3])
    assert (decode(encode(torch.ones(2))) == 1).all()


@pytest.mark.parametrize("bad", [
    {"__ndarray__": "AAAA", "dtype": "<f8", "shape": [2**40]},  # claims 8 TiB
    {"__ndarray__": "AAAA", "dtype": "|O", "shape": [1]},  # object array
    {"__ndarray__": "AAAA", "dtype": "<f8", "shape": [1]},  # too few bytes
    {"__dict__": [[[1, 2], 3]]},  # an unhashable key
    {"__evil__": 1},
])
def test_codec_refuses_what_it_should(bad):
    with pytest.raises(CodecError):
        decode(bad)
    with pytest.raises(CodecError):
        encode(np.array([object()]))


# --- shortcuts ---------------------------------------------------------------------

def _pad_with_numpy(x):
    return np.pad(x, 1)


def _pad_private_helper(x):
    from numpy.lib._arraypad_impl import _as_pairs
    return _as_pairs(1, x.ndim)


def _correlate_in_c(x):
    from numpy._core.multiarray import correlate2 as c
    return c(x[0], x[0], 0)


def _conv_with_renamed_torch(x):
    from torch.nn.functional import conv2d as innocent
    t = torch.from_numpy(x)[None, None]
    return innocent(t, t).numpy()


def _uses_course_library(x):
    from cnn_course.ops import correlate2d as mine
    return mine(x, x)


def _in_a_thread(x):
    box = []
    thread = threading.Thread(target=lambda: box.append(np.pad(x, 1)))
    thread.start()
    thread.join()
    return box[0]


def _honest(x):
    out = np.zeros((x.shape[0] + 2, x.shape[1] + 2))
    out[1:-1, 1:-1] = x
    return out


@pytest.mark.parametrize("fn, culprit", [
    (_pad_with_numpy, "numpy.pad"),
    (_pad_private_helper, "numpy.pad"),
    (_correlate_in_c, "numpy.correlate"),
    (_conv_with_renamed_torch, "torch"),
    (_uses_course_library, "cnn_course.ops"),
    (_in_a_thread, "numpy.pad"),
])
def test_forbid_shortcuts_catches_library_calls(fn, culprit):
    with pytest.raises(AssertionError, match=rf"shortcut used: {fn.__name__} calls .*{culprit}"):
        forbid_shortcuts(fn, np.ones((3, 3)), forbidden=FORBIDDEN)


def test_forbid_shortcuts_passes_honest_code_and_restores_everything():
    pad = np.pad
    assert forbid_shortcuts(_honest, np.ones((2, 2)), forbidden=FORBIDDEN).shape == (4, 4)
    assert sys.getprofile() is None and np.pad is pad
    # the forbidden list is a parameter: np.pad passes where only torch is forbidden
    assert forbid_shortcuts(_pad_with_numpy, np.ones((2, 2)), forbidden=("torch",)).shape \
        == (4, 4)


def test_a_thread_started_before_the_check_is_watched_too():
    """The worker thread exists before the call; the call hands it the work."""
    import queue

    jobs, results = queue.Queue(), queue.Queue()

    def serve():
        x = jobs.get()
        results.put(np.pad(x, 1))

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()

    def via_worker(x):
        jobs.put(x)
        return results.get(timeout=10)

    with Watch(FORBIDDEN) as watch:
        via_worker(np.ones((2, 2)))
    assert watch.hits == ["numpy.pad"]


# --- run_case and check() ------------------------------------------------------------

CHECKS = {
    "assignment": "demo", "helpers": "", "forbid": ["numpy.pad"],
    "limits": {"call_cpu": 2, "cell_cpu": 10},
    "tests": [
        {"id": "double_visible", "part": "double", "points": 1, "hidden": False, "doc": "",
         "cases": [{"call": {"func": "double", "args": [encode(np.arange(3.0))],
                             "kwargs": {}},
                    "expect": encode({"value": np.arange(3.0) * 2, "rtol": 1e-9,
                                      "atol": 0, "hint": "multiply by two"}),
                    "label": "a ramp"}]},
        {"id": "double_hidden", "part": "double", "points": 2, "hidden": True, "doc": ""},
    ],
}


def test_check_passes_fails_with_hint_and_keeps_hidden_hidden(capsys):
    ns = {"double": lambda x: 2 * x}
    report = Checker("demo", ns, checks=CHECKS)()
    out = capsys.readouterr().out
    assert report.ok and "PASS   double_visible (1 pt)" in out
    assert "hidden double_hidden (2 pt): run by the grader" in out
    ns["double"] = lambda x: 3 * x
    with pytest.raises(AssertionError, match="multiply by two"):
        Checker("demo", ns, checks=CHECKS)("double_visible")
    assert "FAIL   double_visible (1 pt): [value] (a ramp)" in capsys.readouterr().out


def test_run_case_reports_cpu_timeouts_and_shortcuts():
    def spin(x):
        while True:
            pass

    outcome = run_case({"func": "spin", "args": [1]}, {"spin": spin}, cpu_seconds=0.3)
    assert outcome["status"] == "timeout" and "0.3 s" in outcome["evalue"]
    outcome = run_case({"func": "f", "args": [encode(np.ones(2))]}, {"f": _pad_with_numpy},
                       forbidden=("numpy.pad",))
    assert outcome == {"status": "shortcut", "names": ["numpy.pad"],
                       "cpu": outcome["cpu"]}
    assert run_case({"func": "missing"}, {})["ename"] == "NameError"


WARM_UP_SCRIPT = '''
import sys
from cnn_course.course.testing.check import warm_up
warm_up()
assert "torch" not in sys.modules, "warm_up imported torch"
import torch
torch.manual_seed(3)
state = torch.get_rng_state().clone()
warm_up()
assert torch.equal(state, torch.get_rng_state()), "warm_up moved the random state"
known = set(sys.modules)
model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                            torch.nn.Flatten(), torch.nn.LazyLinear(3))
for make in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
    model(torch.randn(2, 1, 6, 6)).sum().backward()
    make(model.parameters(), lr=0.1).step()
late = sorted(m for m in set(sys.modules) - known if m.startswith("torch"))
assert not late, f"imported only at the first timed step: {late[:5]}"
print("OK")
'''


def test_warm_up_leaves_nothing_for_the_first_timed_training_step():
    """A fresh process's first backward and optimiser step import torch machinery for
    seconds of CPU; warm_up (run before any timed call, by check() and by the grader's
    runner) must have done it, without touching torch's random state."""
    import subprocess

    run = subprocess.run([sys.executable, "-c", WARM_UP_SCRIPT], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0 and run.stdout.strip() == "OK", run.stderr[-2000:]
