"""Build the course website: ``python -m tools.book build [--quick] [--out DIR]``.

1. stage ``_config.yml``, ``_toc.yml``, ``book/`` and the chapter folders in ``_build/src``;
2. vendor the JavaScript the site needs offline (require.js and the widgets' html-manager from
   npm, pinned by ``book/package-lock.json``; MathJax comes from ``sphinx-mathjax-offline``);
3. execute every chapter notebook there with papermill (``--quick`` injects the notebook's
   ``metadata.dlcourse.quick_parameters``; the injected cell never shows on the site), through
   the client that goes on when a kernel's execute reply is lost (``autograder.lost_reply``);
4. run ``jupyter-book build`` on the stage (warnings fail the build) into ``--out``;
5. check that no page loads a script or stylesheet from another host.
"""

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import yaml
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger as papermill_logger
from tqdm import tqdm

from autograder.course import put_root_on_pythonpath, quick_parameters
from autograder.lost_reply import RecoverLostReply

ROOT = Path(__file__).resolve().parents[1]
# Seconds a chapter cell may run before the run fails: the longest (ch17's training) takes 90 s
# on 2 cores. A lost execute reply does not count against it: the client goes on within seconds.
CELL_TIME_LIMIT = 600
BUILD = ROOT / "_build"
STAGE = BUILD / "src"
NPM = BUILD / "npm"
VENDOR = "_vendor"  # in the stage; _config.yml serves it as html_static_path
VENDORED = {  # npm package file -> folder under _vendor
    "requirejs/require.js": "requirejs",
    "@jupyter-widgets/html-manager/dist/embed-amd.js": "html-manager",
    # the widget fonts, which embed-amd.js loads from its own folder
    "@jupyter-widgets/html-manager/dist/*.woff*": "html-manager",
    "@jupyter-widgets/html-manager/dist/*.ttf": "html-manager",
    "@jupyter-widgets/html-manager/dist/*.eot": "html-manager",
    "@jupyter-widgets/html-manager/dist/*.svg": "html-manager",
}
# <script src=...> and <link rel=stylesheet|preload|icon... href=...> (not rel=canonical) to a host
EXTERNAL_ASSET = re.compile(
    r"<(?:script|link(?=[^>]*\brel=[\"'][^\"']*(?:stylesheet|preload|icon|prefetch)))\b"
    r"[^>]*?\b(?:src|href)=[\"']((?:https?:)?//[^\"']+)",
    re.IGNORECASE,
)


def toc_files(root: Path = ROOT) -> list[str]:
    """Every ``file`` entry of ``_toc.yml`` (the root page included), without suffix."""

    def files(node):
        if isinstance(node, dict):
            yield from [node[key] for key in ("root", "file") if key in node]
            for value in node.values():
                yield from files(value)
        elif isinstance(node, list):
            for item in node:
                yield from files(item)

    return list(files(yaml.safe_load((root / "_toc.yml").read_text())))


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks that ``_toc.yml`` lists, relative to ``root``."""
    notebooks = [Path(f"{entry}.ipynb") for entry in toc_files(root)]
    return [nb for nb in notebooks if (root / nb).exists()]


def stage() -> list[Path]:
    """Copy the book sources into a fresh ``_build/src``; return the staged notebooks."""
    shutil.rmtree(STAGE, ignore_errors=True)
    STAGE.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, STAGE / name)
    junk = shutil.ignore_patterns(
        "node_modules", "package*.json", "__pycache__", ".ipynb_checkpoints"
    )
    shutil.copytree(ROOT / "book", STAGE / "book", ignore=junk)
    notebooks = toc_notebooks()
    for folder in sorted({nb.parent for nb in notebooks}):
        shutil.copytree(ROOT / folder, STAGE / folder, ignore=junk)
    return [STAGE / nb for nb in notebooks]


def execute(notebook: Path, quick: bool) -> None:
    """Run ``notebook`` in place with papermill, in its folder; then drop the hidden-test and
    injected-parameter cells and label the solution toggles."""
    parameters = quick_parameters(notebook) if quick else None
    try:
        nb = run_notebook(notebook, parameters, cwd=notebook.parent)
    except papermill.PapermillExecutionError as err:
        name = notebook.relative_to(STAGE)
        first_line = (err.source.strip().splitlines() or [""])[0]
        raise SystemExit(
            f"{err}\nbook: executing {name} failed at In [{err.exec_count}] "
            f"({first_line!r}): {err.ename}: {err.evalue}"
        ) from None
    # Dropped, not just hidden: the page's download button offers this notebook.
    hidden = {"remove-cell", "injected-parameters"}  # hidden tests, papermill's injected cell
    nb.cells = [cell for cell in nb.cells if not hidden & set(cell.metadata.get("tags", []))]
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            prompts = {"code_prompt_show": "Show solution", "code_prompt_hide": "Hide solution"}
            cell.metadata.setdefault("mystnb", {}).update(prompts)
    nbformat.write(nb, notebook)


def vendor_js() -> None:
    """``npm ci`` the pinned packages into ``_build/npm`` (once per lock) and copy what the
    site serves into the stage's ``_vendor``."""
    lock = (ROOT / "book" / "package-lock.json").read_bytes()
    stamp = NPM / ".installed"
    digest = hashlib.sha256(lock).hexdigest()
    if not (stamp.exists() and stamp.read_text() == digest):
        if shutil.which("npm") is None:
            raise SystemExit(
                "book: npm is needed to vendor the widget JavaScript (apt install npm)"
            )
        NPM.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(ROOT / "book" / name, NPM / name)
        npm = ["npm", "ci", "--prefix", str(NPM), "--ignore-scripts", "--no-audit", "--no-fund"]
        subprocess.run(npm, check=True)
        stamp.write_text(digest)
    for pattern, folder in VENDORED.items():
        files = sorted((NPM / "node_modules").glob(pattern))
        if not files:
            raise SystemExit(f"book: npm package file {pattern} is missing in {NPM}")
        (STAGE / VENDOR / folder).mkdir(parents=True, exist_ok=True)
        for file in files:
            shutil.copy2(file, STAGE / VENDOR / folder / file.name)


def sphinx_build(out: Path) -> None:
    """``jupyter-book build`` the stage, warnings as errors, then move the HTML to ``out``."""
    jupyter_book = shutil.which("jupyter-book", path=Path(sys.executable).parent) or "jupyter-book"
    command = [jupyter_book, "build", str(STAGE), "--warningiserror", "--keep-going"]
    if subprocess.run(command).returncode != 0:
        raise SystemExit("book: jupyter-book build failed (see the warnings and errors above)")
    if out.exists():
        if any(out.iterdir()) and not (out / ".buildinfo").exists():
            raise SystemExit(f"book: {out} is not empty and not a previous build; not replacing it")
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(STAGE / "_build" / "html", out)


def external_assets(html_dir: Path) -> dict[str, list[str]]:
    """Scripts and stylesheets (any ``<script src>``/``<link href>``) that pages load from
    another host, by page."""
    found = {}
    for page in sorted(html_dir.rglob("*.html")):
        urls = EXTERNAL_ASSET.findall(page.read_text(encoding="utf-8"))
        if urls:
            found[str(page.relative_to(html_dir))] = urls
    return found


class RecoveringClient(RecoverLostReply, PapermillNotebookClient):
    """papermill's notebook client, going on when a cell's execute reply is lost."""


class RecoveringEngine(NBClientEngine):
    """papermill's nbclient engine with :class:`RecoveringClient`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
        options = {k: v for k, v in kwargs.items() if k not in ("input_path", "timeout", "startup_timeout")}
        return RecoveringClient(
            nb_man, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
            log=papermill_logger, log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file,
            **options,
        ).execute()  # fmt: skip


papermill_engines.register("dlcourse", RecoveringEngine)


def run_notebook(notebook: Path, parameters: dict | None, cwd: Path, output: Path | None = None, **client):
    """papermill with a per-cell time limit and the client that recovers from a lost execute reply
    (``client``: options of :class:`RecoveringClient`, e.g. ``on_lost_reply``)."""
    return papermill.execute_notebook(
        notebook, output, parameters=parameters, kernel_name="python3", cwd=cwd, progress_bar=False,
        engine_name="dlcourse", execution_timeout=CELL_TIME_LIMIT, **client,
    )  # fmt: skip


def build(quick: bool, out: Path) -> None:
    """Stage, execute, vendor, build and check the site."""
    start = time.perf_counter()
    notebooks = stage()
    put_root_on_pythonpath()
    if (ROOT / ".data").is_dir():
        os.environ.setdefault("DLCOURSE_DATA", str(ROOT / ".data"))
    vendor_js()
    progress = tqdm(notebooks, desc="executing notebooks", unit="nb")
    for notebook in progress:
        started = time.perf_counter()
        execute(notebook, quick)
        progress.write(f"book: ran {notebook.stem} in {time.perf_counter() - started:.0f} s")
    sphinx_build(out)
    if external := external_assets(out):
        raise SystemExit(f"book: pages load assets from other hosts: {external}")
    print(f"book: built {out} in {time.perf_counter() - start:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Command line: ``build [--quick] [--out DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.book", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="build the static website")
    build_parser.add_argument(
        "--quick", action="store_true", help="short runs: inject each notebook's quick_parameters"
    )
    build_parser.add_argument(
        "--out", type=Path, default=BUILD / "html", help="HTML output folder (default _build/html)"
    )
    args = parser.parse_args(argv)
    build(args.quick, args.out.resolve())


if __name__ == "__main__":
    main(sys.argv[1:])
