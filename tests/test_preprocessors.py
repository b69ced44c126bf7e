import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.preprocessors import ClearHiddenTests

from autograder.preprocessors import InjectParameters, LabelTests, RedactHiddenTests


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


def grade_meta(grade_id, **flags) -> dict:
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "grade": False, "solution": False,
                         "locked": False, **flags}}  # fmt: skip


def test_label_tests_names_the_function_and_points_and_survives_clearing_hidden_tests():
    hidden = "### BEGIN HIDDEN TESTS\nfrom secret import check\ncheck(f)\n### END HIDDEN TESTS"
    nb = new_notebook(cells=[
        new_code_cell("def f(x):\n    raise NotImplementedError()", metadata=grade_meta("f", solution=True)),
        new_code_cell("assert f(1) == 2", metadata=grade_meta("f_visible", grade=True, points=1)),
        new_code_cell(hidden, metadata=grade_meta("f_hidden", grade=True, points=2.5)),
        new_code_cell("class Net:\n    pass", metadata=grade_meta("Net", solution=True)),
        new_code_cell("assert Net()", metadata=grade_meta("Net_visible", grade=True, points=2)),
    ])
    nb, _ = LabelTests()(nb, {})
    nb, _ = ClearHiddenTests()(nb, {})  # the next step of the release
    visible = "# Test of f (1 point): run this cell to check your solution.\nassert f(1) == 2"
    assert nb.cells[1].source == visible
    assert nb.cells[2].source == ("# Hidden tests of f (2.5 points): they run when your notebook is graded,\n"
                                  "# on more cases than the test above; the feedback shows their result.")
    assert nb.cells[4].source.startswith("# Test of Net (2 points)")
    assert nb.cells[0].source.startswith("def f") and nb.cells[3].source.startswith("class Net")
