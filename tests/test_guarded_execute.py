"""The grader's cell runner (``autograder.execute.GuardedExecute``) when the kernel misbehaves."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.execute import GuardedExecute
from autograder.preprocessors import REPORT_KEY

pytestmark = pytest.mark.slow

# The cell finishes, but the kernel never sends its execute reply (as ipykernel 7 now and then
# fails to): the session drops that one message.
DROP_OWN_REPLY = """kernel = get_ipython().kernel
send = kernel.session.send
def dropping(stream, msg_type, *args, **kwargs):
    if msg_type == "execute_reply":
        kernel.session.send = send
        content, parent = (list(args) + [None, None])[:2]
        return kernel.session.msg(msg_type, content=content, parent=parent)
    return send(stream, msg_type, *args, **kwargs)
kernel.session.send = dropping
print("finished")"""


def test_a_lost_reply_does_not_cost_the_student(tmp_path):
    nb = new_notebook(cells=[new_code_cell(DROP_OWN_REPLY), new_code_cell("print('next cell ran')")])
    runner = GuardedExecute(timeout=5, interrupt_on_timeout=True, kernel_name="python3")
    nb, _ = runner.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    outputs = [[o.get("text") for o in cell.outputs] for cell in nb.cells]
    assert outputs == [["finished\n"], ["next cell ran\n"]], outputs
    kinds = [event["kind"] for event in nb.metadata[REPORT_KEY]["events"]]
    assert kinds == ["lost_reply"], nb.metadata[REPORT_KEY]["events"]
    nbformat.validate(nb)
