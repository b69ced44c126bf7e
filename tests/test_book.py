"""The book: the table of contents covers every chapter, and the built site works offline.

The site tests build the book once (``python -m tools.book build --quick``) and open every
chapter page in headless Chromium; without Chromium they skip, unless DLCOURSE_REQUIRE_BROWSER=1.
That build is the suite's one short run of each chapter: it fails when a cell, hidden tests
included, raises, and the pages must show no traceback and nothing on stderr.
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
from html.parser import HTMLParser
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


# "term (中文)": the first use of a key term gives its Chinese name, which the glossary lists. A
# parenthesis may hold English too ("(Huber损失)", "(learning-rate schedule, 学习率调度)"): every
# word with a Chinese character in it is a term; titles (《...》) and quotations are not.
CHINESE_PARENTHESIS = re.compile(r"[（(]([^()（）]*[\u4e00-\u9fff][^()（）]*)[)）]")
TITLES_AND_QUOTES = re.compile(r"《[^》]*》|\"[^\"]*\"|“[^”]*”")
CHINESE_TERM = re.compile(r"[A-Za-z0-9]*[\u4e00-\u9fff][\u4e00-\u9fffA-Za-z0-9·]*")


def chinese_terms(markdown: str) -> list[str]:
    inside = CHINESE_PARENTHESIS.findall(TITLES_AND_QUOTES.sub("", markdown))
    return [term for text in inside for term in CHINESE_TERM.findall(text)]


def test_chinese_terms_are_found_in_any_parenthesis():
    text = '(Huber损失) and (a schedule, 学习率调度; D2L) and (the course 《PyTorch深度学习实践》)'
    assert chinese_terms(text) == ["Huber损失", "学习率调度"]


def test_glossary_lists_every_chinese_term_of_the_chapters():
    glossary = (book.ROOT / "book" / "glossary.md").read_text()
    missing = {}
    for notebook in sorted(book.ROOT.glob("solutions/*/*.ipynb")):
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "markdown":
                for term in chinese_terms(cell.source):
                    if term not in glossary:
                        missing.setdefault(notebook.stem, []).append(term)
    assert not missing, f"terms glossed in chapters but missing from book/glossary.md: {missing}"


# Prose is the text outside these: code, maths that MathJax typeset, the page's head and scripts.
NOT_PROSE = {
    "head", "script", "style", "pre", "code", "kbd", "samp", "textarea", "svg", "math",
    "mjx-container",
}  # fmt: skip
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# A dollar sign or a TeX command (\mathbf, \sum...) that reached the reader as text.
RAW_TEX = re.compile(r"\$|\\[A-Za-z]+")


class _Prose(HTMLParser):
    """Collects the text nodes of a page's prose: outside ``NOT_PROSE`` elements and outside
    code cells (their input and outputs: class ``cell``)."""

    def __init__(self):
        super().__init__()
        self.texts, self.skipped, self.depth = [], None, 0

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        if self.skipped is not None:
            self.depth += tag == self.skipped
            return
        classes = (dict(attrs).get("class") or "").split()
        if tag in NOT_PROSE or "cell" in classes:
            self.skipped, self.depth = tag, 1

    def handle_endtag(self, tag):
        if tag == self.skipped:
            self.depth -= 1
            if self.depth == 0:
                self.skipped = None

    def handle_data(self, data):
        if self.skipped is None and data.strip():
            self.texts.append(data)


def raw_tex_in_prose(dom: str) -> list[str]:
    """Every ``$`` or TeX command left as text in the prose of a page that MathJax has
    typeset (as in a ``$$`` display without a blank line before it), with some context."""
    parser = _Prose()
    parser.feed(dom)
    return [
        text[max(0, m.start() - 30) : m.end() + 30].strip()
        for text in parser.texts
        for m in RAW_TEX.finditer(text)
    ]


def test_raw_tex_in_prose_finds_what_a_broken_display_leaves():
    # ch17 17.1 before its fix: "$$" right after a line of prose typeset the next lines as
    # maths and left a TeX command (and a dollar sign) in the text.
    broken = (
        '<p>Together they turn the layer into <mjx-container class="MathJax"><mjx-math>'
        "H</mjx-math></mjx-container> the same small set of weights \\mathbf V (the "
        "<strong>kernel</strong>) and bias $u$ at every position.</p>"
    )
    found = raw_tex_in_prose(broken)
    assert len(found) == 3 and "\\mathbf V" in found[0] and "$u$" in found[1]


def test_raw_tex_in_prose_ignores_code_typeset_maths_and_cell_outputs():
    page = (
        "<html><head><title>$ \\alpha</title></head><body>"
        '<p>A kernel <mjx-container class="MathJax"><mjx-assistive-mml><math><mi>\\mathbf'
        '</mi></math></mjx-assistive-mml></mjx-container> and <code>print("$\\n")</code>.<br>'
        '<img src="a.png"></p><pre>cost = "$5" \\t</pre>'
        '<div class="cell docutils container"><div class="cell_output"><p>$ \\x</p>'
        "<div><div>nested $</div></div></div></div>"
        "<script>var s = '$\\mathbf';</script><p>Prose after all of that: \\emph{x}</p></body></html>"
    )
    assert raw_tex_in_prose(page) == ["Prose after all of that: \\emph{x}"]


# A "$$" display that opens right under a line of prose belongs to that paragraph: MyST then
# typesets the prose around it as maths (what the browser test below finds on the page).
DISPLAY = re.compile(r"\$\$.*?\$\$", re.DOTALL)


def displays_in_paragraphs(markdown: str) -> list[str]:
    """The ``$$`` displays that open at the start of a line right under a line of text."""
    found = []
    for match in DISPLAY.finditer(markdown):
        line_start = markdown.rfind("\n", 0, match.start()) + 1
        previous_line = markdown[: max(line_start - 1, 0)].rsplit("\n", 1)[-1]
        if not markdown[line_start : match.start()].strip() and previous_line.strip():
            found.append(f"{previous_line.strip()} / {match.group()[:40]}")
    return found


def test_display_maths_open_after_a_blank_line():
    """The mistake that the browser test finds on the page, found in the sources without a
    browser or a build."""
    found = {}
    for notebook in sorted(book.ROOT.glob("solutions/*/*.ipynb")):
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "markdown" and displays_in_paragraphs(cell.source):
                found.setdefault(notebook.stem, []).extend(displays_in_paragraphs(cell.source))
    assert not found, f"a $$ display needs a blank line before it: {found}"


def test_displays_in_paragraphs_finds_the_broken_display_of_ch17():
    broken = "Together they turn the layer into\n$$[\\mathbf H]_{i,j} = u:$$\nthe hidden value"
    fixed = "Together they turn the layer into\n\n$$[\\mathbf H]_{i,j} = u:$$\nthe hidden value"
    own_lines = "Text.\n\n$$\n\\mathbf a\n= \\mathbf b\n$$\nNext, inline $$x$$ in a line."
    assert displays_in_paragraphs(broken) == [
        "Together they turn the layer into / $$[\\mathbf H]_{i,j} = u:$$"
    ]
    assert displays_in_paragraphs(fixed) == displays_in_paragraphs(own_lines) == []


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
def test_no_cell_output_shows_an_error_or_a_warning(page):
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
    leftovers = raw_tex_in_prose(dom)
    assert not leftovers, (
        "TeX left as text in the prose (is a $$ display missing a blank line before or after "
        f"it?): {leftovers[:5]}"
    )


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
