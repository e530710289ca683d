"""The install story: pins agree, torch is pinned, notebooks carry no outputs."""

import re
import subprocess
import tomllib

import nbformat
import yaml

from conftest import ROOT


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject_pins():
    project = _pyproject()["project"]
    wanted = set(project["dependencies"]).union(*project["optional-dependencies"].values())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {p for p in pip_section if not p.startswith("-e")}
    assert pins == wanted, f"only in environment.yml: {pins - wanted}; only in pyproject: {wanted - pins}"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.startswith("python=3.1")


def test_every_dependency_is_pinned_and_torch_is_cpu_safe():
    project = _pyproject()["project"]
    extras = [dep for group in project["optional-dependencies"].values() for dep in group]
    for dep in project["dependencies"] + extras:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", dep), f"{dep} is not pinned"
    assert "torch==2.13.0" in project["dependencies"]
    assert not any(d.startswith("torchvision") for d in project["dependencies"])
    assert project["scripts"]["cnn-course"] == "cnn_course.course.cli:main"


def _tracked_notebooks():
    out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    return [ROOT / p for p in out]


def test_committed_notebooks_carry_no_outputs():
    notebooks = _tracked_notebooks()
    assert any(p.parent.name == "lectures" for p in notebooks)
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs, f"{path.relative_to(ROOT)} has outputs: clear them"
                assert cell.execution_count is None, f"{path.relative_to(ROOT)} has counts"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)$", quickstart, flags=re.M)
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    for folder in ("course/", "lectures/", "assignments/", "solutions/", "cnn_course/",
                   "tests/", "environment.yml"):
        assert f"`{folder}`" in readme, f"the README does not explain {folder}"
