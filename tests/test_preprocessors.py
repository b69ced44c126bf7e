import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder.preprocessors import InjectParameters, RedactHiddenTests


def test_inject_parameters_appends_to_the_parameters_cell():
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("num_epochs = 10")])
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb, _ = InjectParameters(parameters={"num_epochs": 1, "name": "a"})(nb, {})
    namespace = {}
    exec(nb.cells[1].source, namespace)
    assert namespace["num_epochs"] == 1 and namespace["name"] == "a"
    assert nb.cells[0].source == "x = 1"


def test_redact_hidden_tests_keeps_only_name_and_message():
    source = "### BEGIN HIDDEN TESTS\nfrom secret import check\ncheck(f)\n### END HIDDEN TESTS"
    cell = new_code_cell(source, metadata={"nbgrader": {"grade_id": "f_hidden"}}, outputs=[
        new_output("stream", name="stdout", text="from secret import check"),
        new_output("error", ename="AssertionError", evalue="f overflows",
                   traceback=["File secret.py, line 3", "check(f)"]),
    ])
    nb = new_notebook(cells=[cell, new_code_cell("print(1)")])
    nb, _ = RedactHiddenTests()(nb, {})  # as nbconvert calls it
    text = nbformat.writes(nb)
    assert "secret" not in text and "check(f)" not in text
    assert "f_hidden" in nb.cells[0].source
    assert nb.cells[0].outputs[0].traceback == ["AssertionError: f overflows"]
    assert nb.cells[1].source == "print(1)"
