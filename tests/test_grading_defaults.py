"""How `python -m autograder grade` runs a class by default: at quick length with limits sized
from it, a stalled student function costing seconds per later cell instead of the notebook's
budget, `make autograde ARGS=...`, settings changes said before they regrade anyone, the datasets
checked before anything runs, and a clear message outside the course environment."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from autograder import datasets
from autograder.course import ROOT, assignments, quick_parameters, source_notebook
from autograder.grade import LIMITS, Settings
from tests.autograder_submissions import ASSIGNMENT, NAIVE_SOFTMAX, NOTEBOOK
from tests.notebooks import sandbox_options, submission

SLEEPING_SOFTMAX = '''def softmax(X):
    import time
    time.sleep(10**6)  # stalls in every cell that calls it
    return X
'''
FASHION_MNIST_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]  # fmt: skip


def grade(submissions: Path, out: Path, *options: str, env: dict | None = None, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--submissions", str(submissions),
         "--out", str(out), "--no-progress", *options],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def write_class(folder: Path, students: dict) -> Path:
    """``students``: id -> notebook, or bytes written as the notebook file."""
    for student, content in students.items():
        target = folder / student / ASSIGNMENT
        target.mkdir(parents=True)
        if isinstance(content, bytes):
            (target / NOTEBOOK).write_bytes(content)
        else:
            nbformat.write(content, target / NOTEBOOK)
    return folder


# -- settings ------------------------------------------------------------------------------


def test_quick_length_and_its_limits_are_the_default():
    source = source_notebook(ASSIGNMENT)
    quick = Settings.for_run(source)
    assert quick.length == "quick" and quick.parameters == quick_parameters(source) != {}
    assert (quick.timeout, quick.stalled_timeout, quick.notebook_timeout) == (60, 10, 600)
    full = Settings.for_run(source, full=True)
    assert full.length == "full" and full.parameters == {}
    assert (full.timeout, full.stalled_timeout, full.notebook_timeout) == (300, 60, 1800)


def test_param_and_limits_override_single_values():
    source = source_notebook(ASSIGNMENT)
    settings = Settings.for_run(source, parameters={"num_epochs": 2}, timeout=30, notebook_timeout=None)
    assert settings.parameters == {**quick_parameters(source), "num_epochs": 2}
    assert (settings.timeout, settings.stalled_timeout, settings.notebook_timeout) == (30, 10, 600)
    assert Settings.for_run(source, full=True, parameters={"num_epochs": 2}).parameters == {"num_epochs": 2}
    assert Settings.for_run(source, timeout=5).stalled_timeout == 5  # never longer than the cell limit


def test_help_states_the_defaults():
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", "--help"], cwd=ROOT,
                         capture_output=True, text=True)  # fmt: skip
    text = " ".join(run.stdout.split())
    assert run.returncode == 0 and "--full" in text
    for name in ("timeout", "stalled_timeout", "notebook_timeout"):
        assert f"(default {LIMITS['quick'][name]}, {LIMITS['full'][name]} with --full)" in text, name


def test_outside_the_course_environment_the_command_says_what_to_do(tmp_path):
    # -S: no site-packages, as a system Python without the course's packages
    run = subprocess.run([sys.executable, "-S", "-m", "autograder", "grade", ASSIGNMENT,
                          "--submissions", str(tmp_path), "--out", str(tmp_path / "out")],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "make env" in run.stderr and ".venv/bin/python -m autograder" in run.stderr
    assert "Traceback" not in run.stderr


# -- datasets ------------------------------------------------------------------------------


def datasets_in_code(notebook: Path) -> set[str]:
    """The datasets a notebook's code loads through dlcourse.data."""
    code = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
    loaders = r"(?:image_dataset|image_tensors|load_image_data|dataset_file)"  # dataset_file: tabular
    found = set(re.findall(loaders + r"\(\s*[\"'](\w+)[\"']", code))
    if re.search(r"load_fashion_mnist\(", code):
        found.add("FashionMNIST")
    return found


@pytest.mark.parametrize("assignment", assignments())
def test_each_notebook_declares_the_datasets_it_loads(assignment):
    source = source_notebook(assignment)
    assert set(datasets.needed(source)) == datasets_in_code(source)


def test_missing_and_corrupt_archives_are_named(tmp_path, data_root):
    assert datasets.problems(data_root, ["FashionMNIST"]) == []
    empty = tmp_path / "empty"
    (missing,) = datasets.problems(empty, ["FashionMNIST"])
    assert str(empty / "FashionMNIST" / "raw") in missing
    assert all(f"{name} missing" in missing for name in FASHION_MNIST_FILES)
    raw = tmp_path / "corrupt" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FASHION_MNIST_FILES:
        shutil.copyfile(data_root / "FashionMNIST" / "raw" / name, raw / name)
    with open(raw / FASHION_MNIST_FILES[0], "r+b") as archive:
        archive.write(b"\0" * 64)
    (corrupt,) = datasets.problems(tmp_path / "corrupt", ["FashionMNIST"])
    assert f"{FASHION_MNIST_FILES[0]} corrupt" in corrupt
    assert not any(name in corrupt for name in FASHION_MNIST_FILES[1:])
    (unknown,) = datasets.problems(data_root, ["CIFAR10"])
    assert unknown == "CIFAR10: not a dataset the grader knows how to check"


def test_the_fetch_command_downloads_each_kind_of_dataset():
    code = datasets.fetch_code(["FashionMNIST", "diabetes"])
    compile(code, "<fetch>", "exec")
    assert "data.image_dataset('FashionMNIST', True)" in code
    assert "tabular.dataset_file('diabetes', 'diabetes.csv.gz')" in code


@pytest.mark.slow
def test_missing_data_stops_grading_before_anything_runs(tmp_path):
    submissions = write_class(tmp_path / "submitted", {"correct": submission(ASSIGNMENT)})
    empty, out = tmp_path / "empty-data", tmp_path / "out"
    empty.mkdir()
    run = grade(submissions, out, *sandbox_options(), env={**os.environ, "DLCOURSE_DATA": str(empty)})
    assert run.returncode == 2, run.stdout + run.stderr
    message = " ".join(run.stderr.split())
    assert "FashionMNIST" in message and str(empty) in message and "Nothing was graded" in message
    assert datasets.fetch_code(["FashionMNIST"]) in message
    assert not (out / "grades.csv").exists() and "[1/1]" not in run.stdout


# -- make autograde ARGS=..., and settings changes said before they regrade ------------------


@pytest.mark.slow
def test_make_autograde_passes_options_and_a_settings_change_is_said_before_regrading(tmp_path):
    # A class of one unreadable notebook: graded ("invalid") without starting a kernel.
    submissions = write_class(tmp_path / "submitted", {"broken": b'{"cells": ['})
    out = tmp_path / "out"
    options = " ".join(["--full", "--timeout", "77", *sandbox_options()])
    made = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "autograde",
         f"ASSIGNMENT={ASSIGNMENT}", f"SUBMISSIONS={submissions}", f"OUT={out}", f"ARGS={options}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert "at full length; limits 77 s per cell" in made.stdout
    state = json.loads((out / "grading.json").read_text())["settings"]
    assert state["length"] == "full" and state["timeout"] == 77 and state["parameters"] == {}
    assert "settings changed" not in made.stdout

    quick = grade(submissions, out, *sandbox_options())  # the defaults: quick length
    assert quick.returncode == 0, quick.stdout + quick.stderr
    said = re.search(r"settings changed since the last run \((.*)\): regrading 1 student graded before",
                     quick.stdout)  # fmt: skip
    assert said, quick.stdout
    changed = set(said.group(1).split(", ")) - {"checks", "source"}  # the course, if edited between runs
    assert changed == {"length", "parameters", "timeout", "stalled_timeout", "notebook_timeout"}
    assert said.start() < quick.stdout.index("[1/1] broken: invalid")

    again = grade(submissions, out, *sandbox_options())
    assert again.returncode == 0 and "settings changed" not in again.stdout
    assert "[1/1] broken: invalid, 0/9 (graded before, kept)" in again.stdout


# -- the class at quick length: correct, naive softmax, a softmax that stalls --------


@pytest.fixture(scope="module")
def quick_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("quick-class")
    submissions = write_class(base / "submitted", {
        "correct": submission(ASSIGNMENT),
        "naive": submission(ASSIGNMENT, {"softmax": NAIVE_SOFTMAX}),
        "stalls": submission(ASSIGNMENT, {"softmax": SLEEPING_SOFTMAX}),
    })  # fmt: skip
    run = grade(submissions, base / "out", *sandbox_options())
    assert run.returncode == 0, run.stdout + run.stderr
    return run, base / "out", pd.read_csv(base / "out" / "grades.csv").set_index("student_id")


@pytest.mark.slow
def test_grading_runs_the_quick_parameters_by_default(quick_class):
    run, out, grades = quick_class
    quick = sorted(quick_parameters(source_notebook(ASSIGNMENT)).items())
    values = ", ".join(f"{k}={v!r}" for k, v in quick)
    said = f"at quick length ({values}); limits 60 s per cell (10 s once a cell timed out), 600 s"
    assert said in run.stdout
    feedback = (out / "feedback" / "correct" / ASSIGNMENT / "ch10_softmax.html").read_text()
    assert "set by the autograder" in feedback and "num_epochs" in feedback
    assert grades.loc["correct", "status"] == "graded"
    assert grades.loc["correct", "score"] == grades.loc["correct", "max_score"]
    assert 0 < grades.loc["naive", "score"] < grades.loc["naive", "max_score"]


@pytest.mark.slow
def test_a_stalled_function_costs_seconds_in_later_cells(quick_class):
    _, out, grades = quick_class
    stalls = grades.loc["stalls"]
    assert stalls.status == "timeout"
    # The first cell that calls it waits the cell limit (60 s); later ones the stalled limit.
    assert "test softmax_visible ran longer than 60 s" in stalls.message
    assert "test softmax_hidden ran longer than 10 s" in stalls.message
    # What the stalled student cost beyond the correct one (graded alongside, on the same load):
    # 60 s once, then 10 s for each later cell that calls softmax, not 60 s (or 300 s) each.
    later = stalls.message.count("ran longer than 10 s")
    assert later >= 3, stalls.message
    seconds = {s: json.loads((out / "results" / f"{s}.json").read_text())["seconds"] for s in grades.index}
    extra = seconds["stalls"] - seconds["correct"]
    assert extra < 60 + 10 * later + 45 < 60 * (1 + later), (extra, later)
    tests = pd.read_csv(out / "tests.csv").set_index(["student_id", "test"])
    assert tests.loc[("stalls", "softmax_hidden"), "score"] == 0
    accuracy = tests.loc[("stalls", "accuracy_hidden")]
    assert accuracy.score == accuracy.max_score  # the other exercises still count
