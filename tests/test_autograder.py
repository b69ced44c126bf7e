"""`python -m autograder grade` on sample submissions built from the student release."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from autograder.course import ROOT, quick_parameters, source_notebook
from tests.notebooks import sandbox_options, submission

pytestmark = pytest.mark.slow

ASSIGNMENT = "ch10_softmax"

NAIVE_SOFTMAX = '''def softmax(X):
    E = torch.exp(X)
    return E / E.sum(dim=-1, keepdim=True)
'''


def tree_digest(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade four students once: correct, naive softmax, nothing submitted, broken JSON."""
    submissions = tmp_path_factory.mktemp("submitted")
    name = source_notebook(ASSIGNMENT).name
    folders = {s: submissions / s / ASSIGNMENT for s in ("correct", "naive", "missing", "broken")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    nbformat.write(submission(ASSIGNMENT), folders["correct"] / name)
    nbformat.write(submission(ASSIGNMENT, {"softmax": NAIVE_SOFTMAX}), folders["naive"] / name)
    (folders["broken"] / name).write_text('{"cells": [')
    out = tmp_path_factory.mktemp("out")
    params = [f"--param={k}={v!r}" for k, v in quick_parameters(source_notebook(ASSIGNMENT)).items()]
    before = tree_digest(ROOT / "solutions", ROOT / "notebooks", ROOT / "autograder")
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--submissions",
         str(submissions), "--out", str(out), "--timeout", "120", *params, *sandbox_options()],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PATH": "/usr/bin:/bin"},  # as `.venv/bin/python -m ...`, not activated
    )
    after = tree_digest(ROOT / "solutions", ROOT / "notebooks", ROOT / "autograder")
    return run, out, before == after


def test_grading_completes(graded):
    run, _, _ = graded
    assert run.returncode == 0, run.stdout + run.stderr
    for student in ("correct", "naive", "missing", "broken"):
        assert f"] {student}: " in run.stdout, f"no log line for {student}"


def test_grades_csv_has_a_row_per_student(graded):
    _, out, _ = graded
    grades = pd.read_csv(out / "grades.csv").set_index("student_id")
    assert {"assignment", "score", "max_score", "status"} <= set(grades.columns)
    assert sorted(grades.index) == ["broken", "correct", "missing", "naive"]
    max_score = grades.loc["correct", "max_score"]
    assert max_score > 0
    assert grades.loc["correct", "score"] == max_score
    assert 0 < grades.loc["naive", "score"] < max_score
    assert grades.loc["missing", ["score", "status"]].tolist() == [0, "missing"]
    assert grades.loc["broken", ["score", "status"]].tolist() == [0, "invalid"]


def test_failed_hidden_test_is_recorded(graded):
    _, out, _ = graded
    tests = pd.read_csv(out / "tests.csv")
    naive = tests[tests.student_id == "naive"].set_index("test")
    assert naive.loc["softmax_hidden", "score"] == 0
    assert naive.loc["cross_entropy_hidden", "score"] == naive.loc["cross_entropy_hidden", "max_score"]


def test_feedback_explains_without_revealing(graded):
    _, out, _ = graded
    feedback = out / "feedback" / "naive" / ASSIGNMENT / "ch10_softmax.html"
    text = feedback.read_text()
    assert "overflows" in text, "the check's message should reach the student"
    for secret in ("BEGIN HIDDEN TESTS", "check_softmax", "autograder.checks", "expect_close"):
        assert secret not in text, f"feedback reveals {secret!r}"
    for student in ("correct", "missing", "broken"):
        assert (out / "feedback" / student / ASSIGNMENT / "ch10_softmax.html").is_file()


def test_course_folders_are_untouched(graded):
    _, _, unchanged = graded
    assert unchanged


def test_unknown_assignment_is_a_clear_error(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "ch99_nothing", "--submissions",
         str(tmp_path), "--out", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert run.returncode == 2 and "no assignment 'ch99_nothing'" in run.stderr
