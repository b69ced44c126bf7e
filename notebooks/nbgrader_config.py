"""nbgrader settings for students: Validate (the button in JupyterLab, or `nbgrader validate`).

nbgrader reads this file when it is started from this folder: `make lab` starts JupyterLab
here, and on the command line run `nbgrader validate ch10_softmax/ch10_softmax.ipynb` from
`notebooks/`. Validate runs the notebook top to bottom in a fresh kernel and lists the test
cells that fail. With these settings it runs the chapter short, as the grader does: the values
in the notebook's metadata `dlcourse.quick_parameters` (e.g. one epoch on a subset of the data)
are set right after the parameters cell. The tests check your functions, not the training run,
so the result is the same as at full length, in seconds.
"""

import sys


def run_short(notebook, **_):
    """nbclient hook, called once the kernel is up: add a cell after the one tagged
    `parameters` that sets the short-run values. The cells nbgrader checks are left as they are."""
    from nbformat.v4 import new_code_cell

    quick = notebook.metadata.get("dlcourse", {}).get("quick_parameters")
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    if not quick or not tagged or any(cell.get("id") == "validate-short-run" for cell in notebook.cells):
        return
    lines = ["# set by Validate (notebooks/nbgrader_config.py): a short run"]
    lines += [f"{name} = {value!r}" for name, value in quick.items()]
    cell = new_code_cell("\n".join(lines))
    cell.id = "validate-short-run"
    notebook.cells.insert(tagged[0] + 1, cell)


c = get_config()  # noqa: F821  (traitlets provides get_config when it loads this file)
c.Execute.on_notebook_start = run_short
# Seconds a cell may run before it is interrupted (nbgrader's default, 30 s, is too short for a
# slow laptop); a short run needs a few seconds a cell.
c.Execute.timeout = 120
# The kernel talks to nbgrader through local sockets, not TCP ports that other users of the
# machine could reach (ipykernel warns about those); Windows has TCP only.
if sys.platform != "win32":
    c.KernelManager.transport = "ipc"
