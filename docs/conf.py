"""Sphinx configuration of the course website (``make site`` / ``cnn-course site``).

``cnn_course.course.site`` stages these pages, the lectures, the assignments and the
generated pages in ``_build/site-work/`` and runs Sphinx there; it passes the settings
that depend on the build (execution on or off, the cache folder) as overrides.
"""

import copy

from cnn_course.course.mathjax import CONFIG as MATHJAX_CONFIG
from cnn_course.course.mathjax import relative_url

project = "CNN course"
author = "the course's instructors"
copyright = "the course's instructors"  # noqa: A001 (Sphinx's name)

extensions = [
    "myst_nb",  # Markdown pages and notebooks, executed through jupyter-cache
    "sphinx.ext.autodoc",  # the library reference, from the docstrings
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_downloads", "_static"]
# A list of this build's own: the themes add their folders to it in place, and
# Sphinx's default list is shared by every build in a process (a second build would
# see a changed configuration and write every page again).
templates_path: list[str] = []
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]

# MyST: $...$ and $$...$$ as in JupyterLab; ::: fences for notes.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Notebooks: run through jupyter-cache (a notebook whose code is unchanged is not run
# again); the assignments are shown as released, never run. A lecture that fails
# is reported, not fatal, so one broken lecture does not hide the others.
nb_execution_mode = "cache"
nb_execution_excludepatterns = ["assignments/*"]
nb_execution_timeout = 1800
nb_execution_raise_on_error = False
nb_execution_show_tb = True
nb_merge_streams = True
# Progress bars are widgets: show their text, and load no widget JavaScript from a CDN.
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

# Maths renders offline: MathJax 3 from the copy in _static/ (cnn_course.course.mathjax).
html_static_path = ["_static"]
mathjax_path = relative_url()
# A copy: myst-parser adds its classes to this dict in place, and the library's dict
# must stay as it is (the feedback pages use it; a second build in the same process
# would otherwise see a changed configuration and rewrite every page).
mathjax3_config = copy.deepcopy(MATHJAX_CONFIG)

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "sphinx_book_theme"
html_title = "CNN course"
html_theme_options = {
    "show_navbar_depth": 1,
    "home_page_in_toc": True,
    "use_download_button": True,
    "navigation_with_keys": False,
}
html_last_updated_fmt = None
html_show_sourcelink = False
