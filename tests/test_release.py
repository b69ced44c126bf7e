"""The student release is generated from the sources, current, and leaks nothing."""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from autograder.course import NOTEBOOKS, ROOT, assignments, quick_parameters, source_notebook
from autograder.release import generate, normalize
from tests.notebooks import nbgrader_meta

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)

ASSIGNMENTS = assignments()


def release_notebook(assignment) -> Path:
    return NOTEBOOKS / assignment / source_notebook(assignment).name


def code_lines(text: str) -> set[str]:
    """Lines worth searching for: stripped, not blank, not a lone keyword or bracket."""
    return {line.strip() for line in text.splitlines() if len(line.strip()) > 8}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_sources_are_committed_without_outputs(assignment):
    nb = nbformat.read(source_notebook(assignment), as_version=4)
    run = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
           and (c.outputs or c.execution_count is not None)]
    assert not run, f"cells {run} have outputs: run `make release` to strip them"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """assignment -> its release generated now from the source, as `make release` writes it."""
    found = {}

    def release(assignment: str) -> Path:
        if assignment not in found:
            folder = generate(assignment, tmp_path_factory.mktemp("release"))
            found[assignment] = folder / source_notebook(assignment).name
            normalize(found[assignment])
        return found[assignment]

    return release


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_up_to_date(assignment, generated):
    committed = release_notebook(assignment)
    assert committed.exists(), f"{committed} is missing: run `make release`"
    assert committed.read_text() == generated(assignment).read_text(), (
        f"{committed.relative_to(ROOT)} is stale: run `make release` and commit the result"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_say_what_they_test_and_their_points(assignment, generated):
    source = {nbgrader_meta(c).get("grade_id"): c for c in nbformat.read(source_notebook(assignment),
                                                                         as_version=4).cells}
    nb = nbformat.read(generated(assignment), as_version=4)
    tests = [c for c in nb.cells if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]
    assert tests
    for cell in tests:
        grade_id, points = nbgrader_meta(cell)["grade_id"], nbgrader_meta(cell)["points"]
        tested = grade_id.removesuffix("_visible").removesuffix("_hidden")  # the anatomy's names
        worth = f"({points:g} point{'s' if points != 1 else ''})"
        if grade_id.endswith("_hidden"):
            label = f"# Hidden tests of {tested} {worth}: they run when your notebook is graded,\n"
            assert cell.source.startswith(label), cell.source
            assert all(line.startswith("# ") for line in cell.source.splitlines()), (
                f"{grade_id}: the release's hidden-test cell holds only its label"
            )
        else:
            label = f"# Test of {tested} {worth}: run this cell to check your solution.\n"
            assert cell.source == label + source[grade_id].source, f"{grade_id}: {cell.source[:200]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_contains_no_solution_and_no_hidden_test(assignment):
    source = source_notebook(assignment).read_text()
    released = release_notebook(assignment).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "autograder"):
        assert marker not in released, f"the release contains {marker!r}"
    src = nbformat.reads(source, as_version=4)
    outside = "\n".join(SOLUTION.sub("", HIDDEN.sub("", c.source)) for c in src.cells)
    secret = set()
    for cell in src.cells:
        for block in SOLUTION.findall(cell.source) + HIDDEN.findall(cell.source):
            secret |= code_lines(block)
    secret -= code_lines(outside)  # a line that is also public (e.g. in the prose) is no leak
    rel = nbformat.reads(released, as_version=4)
    released_code = code_lines("\n".join(c.source for c in rel.cells))
    leaked = secret & released_code
    assert not leaked, f"solution or hidden-test lines in the release: {sorted(leaked)}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_chapter_follows_the_anatomy(assignment):
    nb = nbformat.read(source_notebook(assignment), as_version=4)
    cells = {nbgrader_meta(c).get("grade_id"): c for c in nb.cells if nbgrader_meta(c)}
    assert "setup" in cells and "parameters" in cells
    assert "parameters" in cells["parameters"].metadata.get("tags", [])
    for name in quick_parameters(source_notebook(assignment)):
        assert re.search(rf"^{name} = ", cells["parameters"].source, re.M), (
            f"quick parameter {name} is not set in the parameters cell"
        )
    solutions = [i for i, c in cells.items() if nbgrader_meta(c).get("solution")]
    assert solutions, "no exercises"
    for grade_id in solutions:
        assert "hide-input" in cells[grade_id].metadata.get("tags", [])
        assert f"{grade_id}_visible" in cells, f"{grade_id} has no visible test"
        hidden = cells.get(f"{grade_id}_hidden")
        assert hidden is not None, f"{grade_id} has no hidden test"
        assert "remove-cell" in hidden.metadata.get("tags", [])
        assert hidden.source.startswith("### BEGIN HIDDEN TESTS")
        assert hidden.source.rstrip().endswith("### END HIDDEN TESTS")
        assert f"autograder.checks.{assignment} import" in hidden.source


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_colab_setup_installs_from_this_repository(assignment):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"].rstrip("/")
    nb = nbformat.read(release_notebook(assignment), as_version=4)
    setup = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "setup")
    assert f"git+{url}" in setup.source and '"google.colab" in sys.modules' in setup.source
    badge = f"colab.research.google.com/github/{url.split('github.com/')[1]}/blob/main/notebooks/"
    assert badge in nb.cells[0].source, "the title cell needs an Open in Colab badge"


def test_there_are_chapters():
    assert ASSIGNMENTS, "no source notebooks under solutions/"
