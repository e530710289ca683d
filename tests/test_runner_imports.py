"""The trusted runner's deferred imports (``LAZY`` packages, i.e. matplotlib): an
import costs nothing until first use, then the package runs as it would have."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from assignment_helpers import failures, filled_release, solution, trusted
from cnn_course.course.grading.trusted import LAZY, build_job
from cnn_course.course.spec import load_spec
from conftest import ROOT

PACKAGE = {
    "lazypkg/__init__.py": "import builtins\nbuiltins.RAN.append('lazypkg')\n"
                           "NAME = 'lp'\nfrom . import registry  # for its side effect\n",
    "lazypkg/registry.py": "import builtins\nbuiltins.RAN.append('registry')\n",
    "lazypkg/sub.py": "import builtins\nbuiltins.RAN.append('sub')\nimport lazypkg\n"
                      "VALUE = lazypkg.NAME + '!'\n",
    "lazypkg/later.py": "import builtins\nbuiltins.RAN.append('later')\n",
    "lazybroken/__init__.py": "raise ValueError('boom')\n",
}

SCRIPT = """
import builtins, json, sys
builtins.RAN = []
from cnn_course.course.grading.runner import _LazyFinder
sys.meta_path.insert(0, _LazyFinder(["lazypkg", "lazybroken"]))
seen = {}
import lazypkg.sub as sub
from lazypkg import sub as again
import lazypkg.sub
seen["after_imports"] = list(RAN)
seen["same_module"] = sub is again is sys.modules["lazypkg.sub"]
seen["value"] = sub.VALUE
seen["after_use"] = list(RAN)
import lazypkg.later
seen["after_started"] = list(RAN)
import lazybroken
try:
    lazybroken.anything
except ValueError as err:
    seen["error"] = str(err)
seen["broken_left"] = "lazybroken" in sys.modules
print(json.dumps(seen))
"""

MAIN_LINE = """
import builtins, json, sys
builtins.RAN = []
from cnn_course.course.grading.runner import _LazyFinder, run_deferred_that_functions_use
sys.meta_path.insert(0, _LazyFinder(["lazypkg"]))
import lazypkg as lp
def unrelated(x):
    return x + 1
class Uses:
    @staticmethod
    def value():
        return [lp.NAME for _ in range(1)]  # inside a nested code object
ns = {"lp": lp, "unrelated": unrelated}
run_deferred_that_functions_use(ns)
seen = {"without_a_user": list(RAN)}
ns["Uses"] = Uses
run_deferred_that_functions_use(ns)
seen["with_a_user"] = list(RAN)
print(json.dumps(seen))
"""


def _run(script: str, folder) -> dict:
    """``script`` in a fresh interpreter, with PACKAGE written into ``folder``."""
    for rel, text in PACKAGE.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=folder,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": f"{folder}:{ROOT}", "PATH": "/usr/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_deferred_package_runs_on_first_use_parent_first_then_imports_normally(tmp_path):
    seen = _run(SCRIPT, tmp_path)
    assert seen["after_imports"] == []  # three import statements, no package code ran
    assert seen["same_module"]
    assert seen["value"] == "lp!"
    # the package before its submodule, and the import it makes for its side effect
    assert seen["after_use"] == ["lazypkg", "registry", "sub"]
    assert seen["after_started"] == ["lazypkg", "registry", "sub", "later"]
    assert seen["error"] == "boom" and not seen["broken_left"]


def test_the_main_line_runs_a_deferred_module_that_a_function_names(tmp_path):
    """Before the cases fork, so that each case does not import it again on its own
    CPU budget; a module no function names stays deferred."""
    seen = _run(MAIN_LINE, tmp_path)
    assert seen["without_a_user"] == []
    assert seen["with_a_user"] == ["lazypkg", "registry"]


def test_matplotlib_is_deferred_and_works_inside_a_graded_call():
    """01's setup cell imports pyplot; a correlate2d that plots and uses
    ``matplotlib.colors`` inside the graded call still earns its marks."""
    spec = load_spec(ROOT / "solutions", "01_convolution")
    job, _ = build_job(spec, filled_release("01_convolution", {}), total_cpu=60,
                       session_seed=0)
    assert "matplotlib" in LAZY and job["lazy"] == ["matplotlib"]
    assert not any(m.startswith("matplotlib") for m in job["preload"])
    answers = solution("01_convolution")
    answers["correlate2d"] = answers["correlate2d"].replace(
        "    return out",
        "    fig = plt.figure()\n"
        "    plt.imshow(out, norm=matplotlib.colors.Normalize(0, 1))\n"
        "    plt.close(fig)\n"
        "    return out") + "\nimport matplotlib.colors\n"
    result = trusted("01_convolution", answers)
    assert not failures(result)
    assert result.score == sum(t.points for t in spec.tests)

