"""What a grading run writes for the instructor (autograder/report.py), from sample outcomes."""

import re
from pathlib import Path

import pandas as pd
import pytest

from autograder.grade import Outcome
from autograder.report import write_reports

ASSIGNMENT = "ch10_softmax"
TESTS = [("softmax_visible", 1.0), ("softmax_hidden", 2.0)]
SETTINGS = {"length": "quick", "parameters": {"num_epochs": 1, "train_size": 2000}, "timeout": 60,
            "stalled_timeout": 10, "notebook_timeout": 600, "workers": 2, "memory": 4 * 2**30,
            "max_output": 2**20, "isolate": True}  # fmt: skip


def full_marks(student: str, status: str = "graded", message: str = "") -> Outcome:
    tests = [{"test": t, "score": p, "max_score": p, "message": ""} for t, p in TESTS]
    return Outcome(student, status, score=3.0, max_score=3.0, tests=tests, message=message)


@pytest.fixture
def out(tmp_path) -> Path:
    outcomes = [
        full_marks("alice"),
        full_marks("bob lee", "timeout", "grading stopped after 600 s"),
        Outcome("carol", "missing", max_score=3.0, message="no ch10_softmax/ch10_softmax.ipynb"),
        Outcome("<dave>", "error", max_score=3.0, message="<script>alert(1)</script>"),
    ]
    for o in outcomes[:3]:  # the grader writes a page for everyone; dave's went missing
        page = tmp_path / "feedback" / o.student_id / ASSIGNMENT / "ch10_softmax.html"
        page.parent.mkdir(parents=True)
        page.write_text("<html></html>")
    write_reports(tmp_path, ASSIGNMENT, outcomes, TESTS, settings=SETTINGS)
    return tmp_path


def test_lms_csv_has_status_and_message(out):
    lms = pd.read_csv(out / "lms.csv", keep_default_na=False).set_index("student_id")
    assert list(lms.columns) == ["score", "max_score", "percent", "status", "message"]
    assert lms.loc["bob lee", ["percent", "status", "message"]].tolist() == [
        100.0, "timeout", "grading stopped after 600 s"]  # fmt: skip
    assert lms.loc["carol", "message"].startswith("no ch10_softmax/")
    assert lms.loc["alice", "message"] == ""


def test_report_lists_the_settings_of_the_run(out):
    page = (out / "report.html").read_text()
    settings = re.search(r"<h2>Settings</h2>\s*<table>(.*?)</table>", page, re.S).group(1)
    expected = [
        ("Length", "quick"), ("Set in the parameters cell", "num_epochs = 1, train_size = 2000"),
        ("Time limit per cell", "60 s"), ("Time limit per cell once a cell timed out", "10 s"),
        ("Time limit per student", "600 s"), ("Students graded at once", "2"),
        ("Memory limit per kernel", "4 GiB"), ("Output kept per notebook", "1 MiB"),
        ("Sandbox", "bubblewrap"),
    ]  # fmt: skip
    for label, value in expected:
        assert f"<tr><th>{label}</th><td>{value}</td></tr>" in settings


def test_report_links_each_students_feedback(out):
    page = (out / "report.html").read_text()
    links = re.findall(r'<a href="([^"]+)">feedback</a>', page)
    assert links == ["feedback/alice/ch10_softmax/ch10_softmax.html",
                     "feedback/bob%20lee/ch10_softmax/ch10_softmax.html",
                     "feedback/carol/ch10_softmax/ch10_softmax.html"]  # fmt: skip
    for link in links:  # relative to the report, where the instructor opens it
        assert (out / link.replace("%20", " ")).is_file()


def test_report_escapes_what_students_control(out):
    page = (out / "report.html").read_text()
    assert "<script>" not in page and "<dave>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;dave&gt;" in page
