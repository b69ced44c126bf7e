"""The grader's cell runner (``autograder.execute.GuardedExecute``) when the kernel misbehaves."""

import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.execute import GuardedExecute
from autograder.preprocessors import REPORT_KEY
from tests.notebooks import dropping_replies

pytestmark = pytest.mark.slow


def test_a_lost_reply_does_not_cost_the_student(tmp_path):
    # The first cell finishes, but the kernel never sends its execute reply.
    cells = [new_code_cell(dropping_replies() + "print('finished')"), new_code_cell("print('next cell ran')")]
    runner = GuardedExecute(timeout=60, interrupt_on_timeout=True, kernel_name="python3")
    started = time.monotonic()
    nb, _ = runner.preprocess(new_notebook(cells=cells), {"metadata": {"path": str(tmp_path)}})
    seconds = time.monotonic() - started
    outputs = [[o.get("text") for o in cell.outputs] for cell in nb.cells]
    assert outputs == [["finished\n"], ["next cell ran\n"]], outputs
    kinds = [event["kind"] for event in nb.metadata[REPORT_KEY]["events"]]
    assert kinds == ["lost_reply"], nb.metadata[REPORT_KEY]["events"]
    assert seconds < 30, f"the grader waited {seconds:.0f} s for the lost reply (cell limit 60 s)"
    nbformat.validate(nb)
