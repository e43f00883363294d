"""
Sphinx configuration of netlab's documentation.

Build it with one command, from the checkout's root::

    python -m sphinx -W -b html docs docs/_build/html

(the ``test`` extra installs Sphinx), then open ``docs/_build/html/index.html``.
The API reference is built by pydoctor as part of the same build, into
``docs/_build/html/api``.  Nothing is fetched from the network.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "_ext"))

from netlab import __version__  # noqa: E402

project = "netlab"
author = "the netlab developers"
copyright = "netlab's authors"
version = release = __version__

extensions = [
    "sphinx.ext.intersphinx",
    "pydoctor.sphinx_ext.build_apidocs",
    "netlabdocs",
]

# The API reference: pydoctor, built into api/ of the HTML output. Its
# inventory is read from the build (a local file), so that :py: roles link
# into it without fetching anything.
pydoctor_args = [
    "--quiet",
    "--project-name=netlab",
    f"--project-version={__version__}",
    "--docformat=epytext",
    "--privacy=HIDDEN:netlab.tests",
    "--html-output={outdir}/api",
    f"--project-base-dir={ROOT}",
    str(ROOT / "netlab"),
]
pydoctor_url_path = "api/"
intersphinx_mapping: dict[str, object] = {}

root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"netlab {release}"
html_theme_options = {
    "description": "Timestamp, echo and chat services for Twisted",
    "fixed_sidebar": True,
}
nitpicky = True
highlight_language = "none"
