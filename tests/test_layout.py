"""The package's two wings: the library never imports the course machinery.

``cnn_course`` is the library that lectures import; ``cnn_course.course`` is the
machinery an instructor runs (commands, grading, notebook runner, test-cell helpers).
The machinery may use the library, never the other way round, and no module reaches
into another package's private (underscore) modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnn_course"
MACHINERY = PACKAGE / "course"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append(module)
            # `from cnn_course import course` imports a submodule too
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def library_modules() -> list[Path]:
    # ``python -m cnn_course`` starts the command line: an entry point, not a module
    # that a lecture imports.
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if MACHINERY not in p.parents and p.name != "__main__.py")


def test_the_walker_resolves_relative_imports(tmp_path):
    """A check that could not fail would prove nothing: resolve a known case."""
    names = imports_of(MACHINERY / "cli" / "__init__.py")
    assert "cnn_course.course.cli.main" in names


@pytest.mark.parametrize("path", library_modules(), ids=lambda p: _module_name(p))
def test_library_does_not_import_the_machinery(path):
    bad = [n for n in imports_of(path)
           if n == "cnn_course.course" or n.startswith("cnn_course.course.")]
    assert not bad, f"{_module_name(path)} imports the course machinery: {bad}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: _module_name(p))
def test_no_private_module_crosses_package_lines(path):
    """``cnn_course.ops._validate`` is for ``cnn_course.ops`` itself; others use ``ops``."""
    me = _module_name(path)
    for name in imports_of(path):
        parts = name.split(".")
        for i, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__") and i > 0:
                owner = ".".join(parts[:i])
                assert me == owner or me.startswith(owner + "."), (
                    f"{me} imports the private module {name}; use {owner}'s public names"
                )
                break
