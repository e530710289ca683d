"""Maths that renders offline, in every HTML page the course writes.

nbconvert's templates load MathJax from a CDN, so a lecture page or a feedback page
opened without a network shows raw ``$$...$$``. The course ships MathJax 3 instead:
the ``django-static-mathjax`` wheel carries MathJax's own distribution files (nothing
of Django is used), and of those the course uses the single-file build
``es5/tex-svg-full.js``, which needs no fonts and loads no further files.

- The lecture HTML (``cnn-course lectures --html``) and the website load it from a
  copy next to the pages (:func:`copy_mathjax`).
- The feedback HTML, which a student opens on its own, carries it inline.

:data:`TEMPLATES` holds ``base/mathjax.html.j2``, which replaces nbconvert's MathJax
macro in every HTML template (lab, classic, nbgrader's feedback) once
:data:`TEMPLATES` is in ``HTMLExporter.extra_template_basedirs`` and
:func:`mathjax_html` is registered as the ``offline_mathjax`` filter
(:data:`EXPORTER_SETTINGS`).
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import markupsafe

TEMPLATES = Path(__file__).resolve().parent / "templates"
FILE = "tex-svg-full.js"  # every TeX package and the SVG glyphs in one file
FOLDER = "mathjax"  # where the copy goes, next to the pages

# MathJax 3's configuration: nbconvert's delimiters ($...$ and $$...$$ as in
# JupyterLab), and no TeX package that loads files or writes links (\href, \require).
CONFIG = {
    "tex": {
        "inlineMath": [["$", "$"], ["\\(", "\\)"]],
        "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
        "packages": {"[-]": ["html", "require"]},
    },
    "svg": {"fontCache": "global"},
}

# HTMLExporter settings that turn its MathJax into the offline one.
EXPORTER_SETTINGS = {
    "extra_template_basedirs": [str(TEMPLATES)],
    "filters": {"offline_mathjax": "cnn_course.course.mathjax.mathjax_html"},
}


def source() -> Path:
    """The bundled MathJax file (installed with the ``django-static-mathjax`` wheel)."""
    import mathjax  # the wheel's package: MathJax's files under static/mathjax/

    path = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5" / FILE
    if not path.is_file():
        raise FileNotFoundError(f"MathJax is not where django-static-mathjax puts it: {path}")
    return path


def copy_mathjax(folder: Path) -> Path:
    """Copy MathJax to ``folder/mathjax/`` (once); return the copy's path."""
    target = Path(folder) / FOLDER / FILE
    if not target.is_file() or target.stat().st_size != source().stat().st_size:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source(), target)
    return target


def relative_url() -> str:
    """The copy's URL as seen from a page in the folder that holds ``mathjax/``."""
    return f"{FOLDER}/{FILE}"


@functools.cache
def _inline_script() -> str:
    code = source().read_text(encoding="utf-8")
    if "</script" in code.lower():  # would end the inline <script> early
        raise ValueError(f"{source()} cannot be inlined: it contains '</script'")
    return f"<script>\n{code}\n</script>"


def mathjax_html(url: str | None = None) -> markupsafe.Markup:
    """The ``<script>`` tags that typeset a page's maths without a network.

    A local ``url`` (relative, or ``file:``) is loaded from there; none, or a remote
    one such as nbconvert's CDN default, gives MathJax inline, so that the page works
    on its own.
    """
    config = f"<script>window.MathJax = {json.dumps(CONFIG)};</script>"
    remote = not url or url.startswith(("http:", "https:", "//"))
    script = _inline_script() if remote else f'<script src="{markupsafe.escape(url)}"></script>'
    return markupsafe.Markup(f"{config}\n{script}")  # noqa: S704 (our own file)


def html_exporter(mathjax_url: str | None = None, **kwargs):
    """An nbconvert ``HTMLExporter`` whose maths renders offline.

    ``mathjax_url`` is where the page finds MathJax (see :func:`copy_mathjax`);
    without it, MathJax is inlined.
    """
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config({"HTMLExporter": dict(EXPORTER_SETTINGS)})
    if mathjax_url:
        config.HTMLExporter.mathjax_url = mathjax_url
    return HTMLExporter(config=config, **kwargs)


def feedback_settings() -> dict:
    """``HTMLExporter`` settings for nbgrader's feedback: the offline MathJax inline.

    nbgrader adds its own template folder (the ``feedback`` template) only when no
    ``extra_template_basedirs`` is configured, so this list names it too.
    """
    import nbgrader

    nbgrader_templates = (Path(nbgrader.__file__).resolve().parent / "server_extensions"
                          / "formgrader" / "templates")
    return {**EXPORTER_SETTINGS,
            "extra_template_basedirs": [str(TEMPLATES), str(nbgrader_templates)]}
