"""Notebook runs of the book and the tests (``tools.book.run_notebook``, papermill through
``autograder.lost_reply``) when the kernel loses an execute reply or a cell never ends."""

import time

import nbformat
import papermill
import pytest
from nbclient.exceptions import CellTimeoutError
from nbformat.v4 import new_code_cell, new_notebook

from tests.notebooks import dropping_replies
from tools import book

pytestmark = pytest.mark.slow


def run(tmp_path, monkeypatch, *sources, limit=60):
    """Run a notebook of ``sources`` (the first is the parameters cell) with ``n = 2`` injected;
    return the result, the cells whose reply was lost and the seconds it took."""
    cells = [new_code_cell(source) for source in sources]
    cells[0].metadata["tags"] = ["parameters"]
    notebook = tmp_path / "lost.ipynb"
    kernelspec = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": kernelspec}), notebook)
    monkeypatch.setattr(book, "CELL_TIME_LIMIT", limit)
    lost = []
    started = time.monotonic()
    try:
        nb = book.run_notebook(notebook, {"n": 2}, cwd=tmp_path, output=tmp_path / "out.ipynb",
                               on_lost_reply=lambda cell, cell_index, waited: lost.append(cell_index))
    finally:
        seconds = time.monotonic() - started
    return nb, lost, seconds


def test_a_lost_reply_costs_seconds_not_the_cell_limit(tmp_path, monkeypatch):
    nb, lost, seconds = run(tmp_path, monkeypatch, "n = 1", dropping_replies() + "print('finished', n)",
                            "print('next cell ran')")
    assert seconds < 30, f"the run waited {seconds:.0f} s for the lost reply (cell limit 60 s)"
    outputs = [[o.get("text") for o in cell.outputs] for cell in nb.cells]
    # papermill's injected-parameters cell follows the parameters cell
    assert outputs == [[], [], ["finished 2\n"], ["next cell ran\n"]], outputs
    assert "injected-parameters" in nb.cells[1].metadata.tags
    assert lost == [2]


def test_an_error_whose_reply_is_lost_still_fails_the_run(tmp_path, monkeypatch):
    started = time.monotonic()
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        run(tmp_path, monkeypatch, "n = 1", dropping_replies() + "raise ValueError(f'broken {n}')",
            "print('next cell ran')")
    assert time.monotonic() - started < 30
    assert (failed.value.ename, failed.value.evalue) == ("ValueError", "broken 2")
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert nb.cells[-1].outputs == [], "the run went on after the error"


def test_a_stuck_cell_fails_at_the_time_limit_once(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    stuck = f"import time\nwith open({str(runs)!r}, 'a') as f:\n    f.write('ran ')\ntime.sleep(60)"
    started = time.monotonic()
    with pytest.raises(CellTimeoutError):
        run(tmp_path, monkeypatch, "n = 1", stuck, limit=3)
    assert time.monotonic() - started < 30
    assert runs.read_text() == "ran ", "the stuck notebook ran more than once"
