"""Feedback pages that work offline, e.g. opened from an e-mail on a train.

nbgrader's feedback template (``feedback/index.html.j2``) loads MathJax 2 from a CDN, names
every test "Test cell" in its navigation and lets long messages run off the page.
``autograder/templates/dlcourse_feedback/`` fixes that, a template based on nbgrader's that the
course config (``nbgrader_config.py``) selects:

- ``dlcourse.html.j2``: nbgrader's page with each test's name and points in the navigation and
  wrapped output;
- ``mathjax.html.j2``: replaces nbconvert's MathJax macro with the :func:`inline_mathjax` filter.
"""

import functools
import importlib.util
import re
from pathlib import Path

from markupsafe import Markup

from autograder.course import PACKAGE

TEMPLATES = PACKAGE / "templates"
# Notebook maths: $...$ and $$...$$ as in Jupyter; \$ is a dollar sign.
MATHJAX_CONFIG = """window.MathJax = {
  tex: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
        processEscapes: true},
  svg: {fontCache: "global"},
};"""


def mathjax_folder() -> Path:
    spec = importlib.util.find_spec("sphinx-mathjax-offline")  # the package's name has hyphens
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the sphinx-mathjax-offline package (requirements.txt) is missing")
    return Path(spec.submodule_search_locations[0]) / "static" / "mathjax"


@functools.cache
def inline_mathjax(bundle: str) -> Markup:
    """Jinja filter: ``<script>`` elements that configure and hold a bundle of MathJax 3, as on
    the site from the sphinx-mathjax-offline package, e.g. ``"tex-svg-full.js" | inline_mathjax``."""
    code = (mathjax_folder() / bundle).read_text(encoding="utf-8")
    if re.search(r"</script|<script", code, re.IGNORECASE):  # would end or nest the element
        raise ValueError(f"{bundle} cannot be inlined in a <script> element")
    return Markup(f"<script>\n{MATHJAX_CONFIG}\n</script>\n<script>{code}</script>")
