"""Sphinx configuration of chainrule's documentation.

Build (offline; warnings are errors; the notebooks execute):

    python -m sphinx -W -b html docs docs/_build/html
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "chainrule"
author = "the chainrule authors"
copyright = "the chainrule authors"  # noqa: A001 - Sphinx's name
release = version = "0.1.0"

extensions = [
    "myst_nb",  # MyST Markdown, and notebooks written as MyST text (executed)
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax copied into the site: formulas render offline
    "chainrule_reference",  # the API reference, generated from the package (_ext/)
]

source_suffix = {".md": "myst-nb", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints"]

# MyST: $math$, ```{directive}```, heading anchors for [text](page.md#anchor) links.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Every notebook runs at every build: an example that breaks fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = True

# Offline: no intersphinx inventories are fetched, so nothing is looked up online.
html_theme = "furo"
html_title = "chainrule"
html_static_path: list[str] = []
html_show_sourcelink = False
# A heading one level too deep (# then ###) is cosmetic: pages written for GitHub
# (docs/reference/*.md) may have one, and it should not stop the build.
suppress_warnings = ["myst.header"]
