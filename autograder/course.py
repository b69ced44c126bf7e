"""Where the course lives and the nbgrader configuration every command starts from."""

import os
from pathlib import Path

import nbformat
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"


def nbgrader_config() -> Config:
    """The course's nbgrader config (autograder/nbgrader_config.py) as a traitlets Config."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(PACKAGE)).load_config()


def assignments() -> list[str]:
    """Assignment ids: the folders of solutions/ that hold a notebook."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb"))


def source_notebook(assignment: str) -> Path:
    """The source notebook of an assignment (one notebook per assignment)."""
    found = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    if not found:
        known = ", ".join(assignments()) or "none"
        raise ValueError(f"no assignment {assignment!r} in {SOLUTIONS} (known: {known})")
    return found[0]


def quick_parameters(notebook: Path) -> dict:
    """Short-run values of a chapter (notebook metadata ``dlcourse.quick_parameters``)."""
    nb = nbformat.read(notebook, as_version=4)
    return dict(nb.metadata.get("dlcourse", {}).get("quick_parameters", {}))


def put_root_on_pythonpath() -> None:
    """Let kernels started from here import ``autograder.checks`` (the source notebooks'
    hidden-test cells do), whether or not the Makefile has set PYTHONPATH."""
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), *paths]))
