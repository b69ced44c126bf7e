"""Feedback pages work offline: no script, stylesheet or image from another host, MathJax inlined,
long messages wrapped, each test named in the navigation.

The page is rendered as nbgrader's GenerateFeedback renders it (the course config, the course's
template) from the ch10 release with scores and a check's long message filled in, as
autograding leaves them; the grading tests make real ones.
"""

import os
import re
import shutil
import subprocess

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.apps import NbGraderAPI
from nbgrader.converters import GenerateFeedback
from nbgrader.coursedir import CourseDirectory

from autograder import worker
from autograder.course import nbgrader_config
from autograder.preprocessors import FeedbackSummary, RedactHiddenTests
from tests.notebooks import nbgrader_meta, submission
from tests.test_book import CHROMIUM, CHROMIUM_FLAGS
from tools.book import EXTERNAL_ASSET

ASSIGNMENT = "ch10_softmax"
LONG_MESSAGE = ("softmax overflows for logits around 1000: the result contains inf or nan. Subtract "
                "each row's own maximum before exp (it does not change the result). " * 3).strip()
# Anything the browser fetches by itself: src of any element, href of <link>, url() in CSS.
REMOTE = re.compile(
    r"""(?:\bsrc\s*=\s*["']?|<link\b[^>]*\bhref\s*=\s*["']?|url\(\s*["']?|@import\s+["'])"""
    r"(?:https?:)?//", re.IGNORECASE,
)  # fmt: skip


def graded_notebook() -> nbformat.NotebookNode:
    """The correct ch10 submission as autograding leaves it: scores in the test cells' metadata,
    softmax's hidden test failed with a long message."""
    nb = submission(ASSIGNMENT)
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and not meta.get("solution"):
            meta["score"] = 0 if meta["grade_id"] == "softmax_hidden" else meta["points"]
        if meta.get("grade_id") == "softmax_hidden":
            cell.source = "### BEGIN HIDDEN TESTS\ncheck_softmax(softmax)\n### END HIDDEN TESTS"
            error = {"ename": "AssertionError", "evalue": LONG_MESSAGE, "traceback": ["Traceback"]}
            cell.outputs = [nbformat.v4.new_output("error", **error)]
    return nb


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    config = nbgrader_config()
    feedback = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)
    exporter = HTMLExporter(config=feedback.config)  # what GenerateFeedback renders with
    for preprocessor in (FeedbackSummary, RedactHiddenTests, CSSHTMLHeaderPreprocessor):
        exporter.register_preprocessor(preprocessor, enabled=True)
    resources = {"nbgrader": {"notebook": ASSIGNMENT, "score": 7, "max_score": 9, "late_penalty": 0}}
    html, _ = exporter.from_notebook_node(graded_notebook(), resources)
    return html


def test_page_loads_nothing_from_another_host(page):
    assert EXTERNAL_ASSET.findall(page) == []
    assert REMOTE.findall(page) == []
    assert "colab.research.google.com" in page, "links to other hosts stay (they load nothing)"


def test_mathjax_is_inlined(page):
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
    assert all("src=" not in attributes for attributes, _ in scripts)
    inlined = [code for _, code in scripts if "MathJax" in code and len(code) > 1_000_000]
    assert len(inlined) == 1, "one MathJax bundle, in the page itself"
    assert 'inlineMath: [["$", "$"]' in page, "the notebooks' $...$ maths is typeset"
    assert "$\\log q$" in page, "the chapter's maths is on the page for MathJax"


def test_long_messages_wrap(page):
    assert re.search(r"div\.output_area pre\s*\{[^}]*white-space:\s*pre-wrap", page)
    in_output = r'<div class="output_area">(?:(?!</pre>).)*' + re.escape(LONG_MESSAGE[:60])
    output = re.search(in_output, page, re.S)
    assert output and "<pre>" in output.group(0), "the message is in an output <pre> that wraps"


def test_navigation_names_each_test_with_its_points(page):
    toc = re.search(r'<div id="toc">(.*?)</div>', page, re.S).group(1)
    assert "Test cell" not in toc
    assert '<a href="#softmax_hidden">softmax_hidden</a> (2 points): score 0' in toc
    assert '<a href="#softmax_visible">softmax_visible</a> (1 point): score 1' in toc
    assert toc.count("<li>") == 6


def test_the_worker_renders_with_the_course_template(monkeypatch, tmp_path):
    """NbGraderAPI.generate_feedback forces nbgrader's template name; the worker must not."""
    used = []
    monkeypatch.setattr(GenerateFeedback, "init_notebooks", lambda app: None)
    record = lambda app: used.append(app.exporter.template_name)  # noqa: E731
    monkeypatch.setattr(GenerateFeedback, "convert_notebooks", record)
    config = nbgrader_config()
    config.CourseDirectory.root = str(tmp_path)
    worker.generate_feedback(NbGraderAPI(config=config), ASSIGNMENT, "student")
    assert used == [config.HTMLExporter.template_name]


@pytest.mark.slow
def test_browser_typesets_the_maths_offline(page, tmp_path):
    if not shutil.which(CHROMIUM):
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("DLCOURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"DLCOURSE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    path = tmp_path / "feedback.html"
    path.write_text(page, encoding="utf-8")
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", path.as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=180, check=True).stdout
    assert dom.count("<mjx-container") >= 10, "MathJax did not typeset the maths"
    assert "<mjx-merror" not in dom, "MathJax could not parse a formula"
