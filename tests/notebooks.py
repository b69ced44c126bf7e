"""Helpers for tests that read or run the course notebooks."""

import math
from pathlib import Path

import nbformat
import torch
import torch.nn.functional as F
from torch import nn

from autograder.course import NOTEBOOKS, put_root_on_pythonpath, source_notebook
from autograder.preprocessors import nbgrader_meta  # noqa: F401  (the tests import it from here)


def solution_namespace(assignment: str) -> dict:
    """The reference solutions of an assignment: its solution cells run with torch, nn, F, math."""
    nb = nbformat.read(source_notebook(assignment), as_version=4)
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
    for cell in nb.cells:
        if cell.cell_type == "code" and nbgrader_meta(cell).get("solution"):
            exec(compile(cell.source, f"<{assignment}:{nbgrader_meta(cell)['grade_id']}>", "exec"),
                 namespace)
    return namespace


def execute(notebook: Path, output: Path, parameters: dict) -> nbformat.NotebookNode:
    """Run a notebook top to bottom with papermill, parameters injected; returns the result."""
    from tools.book import run_notebook

    put_root_on_pythonpath()
    run_notebook(notebook, parameters, cwd=notebook.parent, output=output)
    return nbformat.read(output, as_version=4)


def dropping_replies(every: int = 0) -> str:
    """Source of a cell that makes its kernel drop execute replies, as ipykernel 7 now and then
    does: only the cell's own reply (``every=0``), or every ``every``-th reply from it on."""
    return f"""import itertools
_kernel = get_ipython().kernel
_send, _replies, _once, _every = _kernel.session.send, itertools.count(), {not every}, {every or 1}
def _dropping(stream, msg_type, *args, **kwargs):
    if msg_type == "execute_reply" and next(_replies) % _every == 0:
        if _once:
            _kernel.session.send = _send
        content, parent = (list(args) + [None, None])[:2]
        return _kernel.session.msg(msg_type, content=content, parent=parent)
    return _send(stream, msg_type, *args, **kwargs)
_kernel.session.send = _dropping
"""


def submission(assignment: str, replace: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The student release with every exercise solved like the reference, except the solution
    cells named (by grade_id) in ``replace``, whose source is replaced."""
    solutions = {
        nbgrader_meta(c)["grade_id"]: c.source
        for c in nbformat.read(source_notebook(assignment), as_version=4).cells
        if nbgrader_meta(c).get("solution")
    }
    unknown = set(replace or {}) - set(solutions)
    assert not unknown, f"{assignment} has no solution cells {sorted(unknown)}"
    solutions.update(replace or {})
    nb = nbformat.read(NOTEBOOKS / assignment / source_notebook(assignment).name, as_version=4)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in solutions:
            cell.source = solutions[grade_id]
    return nb


def sandbox_options() -> list[str]:
    """Grader options for this machine: bubblewrap isolation where it works (CI installs it),
    ``--no-sandbox`` elsewhere, so the grading tests still run on a laptop without it."""
    from autograder.sandbox import SandboxUnavailable, check_available

    try:
        check_available()
    except SandboxUnavailable:
        return ["--no-sandbox"]
    return []
