"""`make release`: strip outputs from the sources and regenerate the student notebooks."""

import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.apps import NbGraderAPI

from autograder.course import NOTEBOOKS, ROOT, assignments, nbgrader_config


def strip_outputs(path: Path) -> bool:
    """Remove outputs, execution counts and run metadata from a notebook; True if it changed."""
    original = path.read_text()
    nb = nbformat.reads(original, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "papermill", "scrolled", "collapsed"):
            cell.metadata.pop(key, None)
    for key in ("widgets", "papermill"):
        nb.metadata.pop(key, None)
    text = nbformat.writes(nb) + "\n"
    if text != original:
        path.write_text(text)
        return True
    return False


def normalize(path: Path) -> None:
    """Rewrite a notebook in nbformat's canonical layout, so releases diff cleanly."""
    path.write_text(nbformat.writes(nbformat.read(path, as_version=4)) + "\n")


def generate(assignment: str, release_dir: Path) -> Path:
    """Run nbgrader generate_assignment for one assignment into ``release_dir/<assignment>``."""
    config = nbgrader_config()
    config.CourseDirectory.release_directory = str(release_dir)
    api = NbGraderAPI(config=config)
    result = api.generate_assignment(assignment, force=True, create=False)
    if not result["success"]:
        raise RuntimeError(f"nbgrader could not release {assignment}:\n{result.get('log', '')}")
    return release_dir / assignment


def release(selected: list[str] | None = None) -> list[Path]:
    """Regenerate notebooks/<assignment>/ for the selected (default: all) assignments."""
    written = []
    for assignment in selected or assignments():
        for source in (ROOT / "solutions" / assignment).glob("*.ipynb"):
            if strip_outputs(source):
                print(f"stripped outputs from {source.relative_to(ROOT)}")
        with tempfile.TemporaryDirectory() as tmp:
            generated = generate(assignment, Path(tmp))
            target = NOTEBOOKS / assignment
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(generated, target)
        for notebook in sorted(target.glob("*.ipynb")):
            normalize(notebook)
            written.append(notebook)
            print(f"released {notebook.relative_to(ROOT)}")
    return written
