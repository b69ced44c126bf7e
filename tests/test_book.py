"""The book: the table of contents covers every chapter, and the built site works offline.

The site tests build the book once (``python -m tools.book build --quick``) and open every
chapter page in headless Chromium; without Chromium they skip, unless DLCOURSE_REQUIRE_BROWSER=1.
"""

import functools
import html
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from tools import book

CHAPTERS = [entry for entry in book.toc_files() if entry.startswith("solutions/")]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000", "--dump-dom",
    # Only the local server resolves: a page that needs a CDN fails here even with internet.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]  # fmt: skip
slow = pytest.mark.slow


def test_toc_lists_every_chapter_and_only_existing_pages():
    entries = book.toc_files()
    missing = [
        e
        for e in entries
        if not any((book.ROOT / f"{e}{ext}").exists() for ext in (".md", ".ipynb"))
    ]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"
    chapters = {
        str(nb.with_suffix("").relative_to(book.ROOT))
        for nb in book.ROOT.glob("solutions/*/*.ipynb")
    }
    assert chapters <= set(entries), (
        f"chapters missing from _toc.yml: {sorted(chapters - set(entries))}"
    )


# "term (中文)": the first use of a key term gives its Chinese name, which the glossary lists.
CHINESE_GLOSS = re.compile(r"[（(]([\u4e00-\u9fff][\u4e00-\u9fff0-9，、/ ·A-Za-z]*)[)）]")


def test_glossary_lists_every_chinese_term_of_the_chapters():
    glossary = (book.ROOT / "book" / "glossary.md").read_text()
    missing = {}
    for notebook in sorted(book.ROOT.glob("solutions/*/*.ipynb")):
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "markdown":
                for term in CHINESE_GLOSS.findall(cell.source):
                    if term not in glossary:
                        missing.setdefault(notebook.stem, []).append(term)
    assert not missing, f"terms glossed in chapters but missing from book/glossary.md: {missing}"


def test_toc_lists_the_chapters_in_order():
    assert CHAPTERS, "_toc.yml lists no chapter"
    assert CHAPTERS == sorted(CHAPTERS), "chapters must appear in the order of their numbers"


def test_external_assets_finds_scripts_and_stylesheets_from_other_hosts(tmp_path):
    (tmp_path / "a.html").write_text(
        '<script src="_static/local.js"></script><a href="https://example.org">a link</a>'
        '<link rel="canonical" href="https://example.org/a.html">'
        '<link rel="stylesheet" href="//cdn.example.org/x.css">'
        '<script async src="https://cdn.example.org/y.js">'
    )
    assert book.external_assets(tmp_path) == {
        "a.html": ["//cdn.example.org/x.css", "https://cdn.example.org/y.js"]
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built once, with short runs."""
    out = tmp_path_factory.mktemp("book") / "html"
    command = [sys.executable, "-m", "tools.book", "build", "--quick", "--out", str(out)]
    subprocess.run(command, cwd=book.ROOT, check=True)
    return out


@pytest.fixture(scope="module", params=CHAPTERS, ids=lambda entry: entry.rsplit("/", 1)[-1])
def chapter(request) -> str:
    """A chapter's path in the book, without suffix (tests using it run once per chapter)."""
    return request.param


@pytest.fixture(scope="module")
def page(site, chapter) -> str:
    """The chapter page as built (before any JavaScript runs)."""
    return (site / f"{chapter}.html").read_text(encoding="utf-8")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the site quietly and remembers every request as (path, status)."""

    requests: list[tuple[str, int]] = []

    def log_request(self, code="-", size="-"):
        self.requests.append((self.path, int(code)))

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    """Base URL of the site served on 127.0.0.1, and the requests it received."""
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(site))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", _Handler.requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def dom(server, chapter, tmp_path_factory) -> str:
    """The chapter page's DOM after Chromium ran its scripts (MathJax, widgets)."""
    if not shutil.which(CHROMIUM):
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("DLCOURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"DLCOURSE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    base, _ = server
    profile = tmp_path_factory.mktemp("chromium-profile")
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"{base}/{chapter}.html"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)
    return result.stdout


@slow
def test_pages_load_no_script_or_stylesheet_from_other_hosts(site):
    assert book.external_assets(site) == {}


@slow
def test_colab_button_opens_the_student_release(page):
    assert (
        "https://colab.research.google.com/github/dl-course/pytorch-course/blob/main/notebooks/"
        in page
    )
    assert (
        "colab.research.google.com/github/dl-course/pytorch-course/blob/main/solutions/" not in page
    )


@slow
def test_hidden_tests_are_neither_on_the_page_nor_in_the_download(site, chapter, page):
    download = (site / "_sources" / f"{chapter}.ipynb").read_text(encoding="utf-8")
    for text in (page, download):
        assert "BEGIN HIDDEN TESTS" not in text
        assert "autograder.checks" not in text
        assert "injected-parameters" not in text


@slow
def test_no_cell_output_shows_an_error(page):
    assert "Traceback" not in page
    assert 'class="output traceback' not in page
    assert 'class="output stderr' not in page


@slow
def test_solutions_are_behind_a_toggle(chapter, page):
    source = nbformat.read(book.ROOT / f"{chapter}.ipynb", as_version=4)
    solutions = [
        c.metadata.nbgrader["grade_id"]
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    ]
    assert solutions, "the chapter has no nbgrader solution cells"
    toggles = [
        html.unescape(re.sub(r"<[^>]+>", "", block))
        for block in re.findall(
            r'<details class="[^"]*\babove-input\b[^"]*">.*?</details>', page, re.DOTALL
        )
    ]
    for grade_id in solutions:
        assert any(f"def {grade_id}(" in t or f"class {grade_id}" in t for t in toggles), grade_id
    assert all("Show solution" in t for t in toggles if "BEGIN SOLUTION" in t)


@slow
def test_browser_typesets_the_maths(page, dom):
    maths = page.count('class="math notranslate nohighlight"')
    assert maths > 0, "the chapter has no maths"
    assert dom.count("<mjx-container") >= maths, "MathJax did not typeset every formula"
    assert "<mjx-merror" not in dom, "MathJax could not parse a formula"
    assert "$$" not in dom


@slow
def test_browser_shows_the_plots(site, chapter, dom):
    images = re.findall(r'<img[^>]*\bsrc="([^"]+)"', dom)
    plots = [src for src in images if src.startswith("data:image/png") or "_images/" in src]
    assert plots, "no plot on the chapter page"
    page_dir = (site / chapter).parent
    for src in plots:
        assert src.startswith("data:") or (page_dir / src).resolve().is_file(), src


@slow
def test_browser_renders_the_widgets(page, dom):
    views = page.count('type="application/vnd.jupyter.widget-view+json"')
    assert views > 0, "the chapter has no widget"
    assert dom.count('class="widget-subarea"') == views, "html-manager did not render every widget"
    assert re.search(r'class="[^"]*\bjupyter-widgets\b', dom)
    assert "Error displaying widget" not in dom


@slow
def test_browser_finds_every_file_the_page_asks_for(dom, server):
    _, requests = server
    assert requests, "the browser requested nothing"
    assert [r for r in requests if r[1] >= 400 and r[0] != "/favicon.ico"] == []
