"""Every chapter graded end to end through the CLI: the reference solutions get full marks and a
realistic wrong submission (``WRONG_SUBMISSION`` in the chapter's check tests) loses exactly the
hidden tests of the exercises it replaces."""

import importlib
import subprocess
import sys

import nbformat
import pandas as pd
import pytest

from autograder.course import ROOT, assignments, quick_parameters, source_notebook
from tests.notebooks import sandbox_options, submission

pytestmark = pytest.mark.slow


def wrong_submission(assignment: str) -> dict[str, str]:
    module = importlib.import_module(f"tests.checks.test_{assignment}")
    return module.WRONG_SUBMISSION


@pytest.fixture(scope="module", params=assignments())
def graded(request, tmp_path_factory):
    """Grade two students of one chapter in one CLI run; returns (assignment, grades, tests)."""
    assignment = request.param
    name = source_notebook(assignment).name
    submissions = tmp_path_factory.mktemp(f"{assignment}-submitted")
    for student, replace in (("correct", None), ("wrong", wrong_submission(assignment))):
        folder = submissions / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(submission(assignment, replace), folder / name)
    out = tmp_path_factory.mktemp(f"{assignment}-out")
    params = [f"--param={k}={v!r}" for k, v in quick_parameters(source_notebook(assignment)).items()]
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", assignment, "--submissions", str(submissions),
         "--out", str(out), "--timeout", "300", *params, *sandbox_options()],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    grades = pd.read_csv(out / "grades.csv").set_index("student_id")
    tests = pd.read_csv(out / "tests.csv")
    return assignment, grades, tests


def test_reference_solutions_get_full_marks(graded):
    assignment, grades, tests = graded
    correct = grades.loc["correct"]
    assert correct.status == "graded" and correct.max_score > 0
    lost = tests[(tests.student_id == "correct") & (tests.score < tests.max_score)]
    assert correct.score == correct.max_score, f"{assignment}: points lost on {list(lost.test)}"


def test_wrong_submission_loses_its_hidden_tests_only(graded):
    assignment, grades, tests = graded
    wrong = tests[tests.student_id == "wrong"].set_index("test")
    failing = {f"{grade_id}_hidden" for grade_id in wrong_submission(assignment)}
    assert grades.loc["wrong", "status"] == "graded"
    assert (wrong.loc[sorted(failing), "score"] == 0).all(), wrong.loc[sorted(failing)]
    others = wrong.drop(index=sorted(failing))
    others = others[others.index.str.endswith("_hidden")]
    assert (others.score == others.max_score).all(), others[others.score < others.max_score]
