"""Where the course lives and the nbgrader configuration every command starts from."""

from pathlib import Path

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
