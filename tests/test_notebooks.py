"""Every source notebook runs top to bottom (short run), hidden tests included, cleanly."""

import pytest

from autograder.course import assignments, quick_parameters, source_notebook
from tests.notebooks import execute

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("assignment", assignments())
def test_notebook_runs_cleanly(assignment, tmp_path):
    notebook = source_notebook(assignment)
    nb = execute(notebook, tmp_path / notebook.name, quick_parameters(notebook))
    worries = [
        f"cell {i}: {out.text.strip()[:300]}"
        for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for out in cell.outputs if out.output_type == "stream" and out.name == "stderr"
    ]
    assert not worries, "stderr output a student would worry about:\n" + "\n".join(worries)
