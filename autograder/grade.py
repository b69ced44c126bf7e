"""`python -m autograder grade`: autograde a folder of submissions with nbgrader.

Everything happens in a scratch copy of the course: the source notebook, the hidden checks and a
fresh gradebook. The course folders are only read, and only OUT is written.
"""

import html
import os
import shutil
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import pandas as pd
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from sqlalchemy.exc import SAWarning

from autograder.course import PACKAGE, nbgrader_config, source_notebook

# nbgrader's `export` columns, then ours.
GRADE_COLUMNS = [
    "assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
    "raw_score", "late_submission_penalty", "score", "max_score", "status",
]  # fmt: skip


@dataclass
class Outcome:
    """What happened to one student's submission."""

    student_id: str
    status: str  # graded | missing | invalid | error
    score: float = 0.0
    max_score: float = 0.0
    message: str = ""
    seconds: float = 0.0


def grade(assignment, submissions, out, timeout=300, parameters=None, log=print) -> list[Outcome]:
    """Grade ``submissions/<student_id>/<assignment>/<notebook>.ipynb``; write reports to ``out``."""
    submissions, out = Path(submissions), Path(out)
    warnings.filterwarnings("ignore", category=SAWarning, module="nbgrader")  # nbgrader's own
    notebook = source_notebook(assignment).name
    if not submissions.is_dir():
        raise FileNotFoundError(f"submissions folder {submissions} does not exist")
    students = sorted(p.name for p in submissions.iterdir() if p.is_dir())
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dlcourse-grade-") as scratch:
        course = _stage_course(Path(scratch), assignment)
        config = _grading_config(course, timeout, parameters or {})
        api = NbGraderAPI(config=config)
        outcomes = []
        with _grading_environment(Path(scratch) / "lib"):
            _require(api.generate_assignment(assignment, force=True, create=True), "prepare", assignment)
            max_score = _max_score(config, assignment)
            for number, student in enumerate(students, 1):
                started = time.monotonic()
                outcome = _grade_one(api, config, course, submissions, assignment, student, notebook)
                outcome.max_score = max_score
                outcome.seconds = round(time.monotonic() - started, 1)
                outcomes.append(outcome)
                log(
                    f"[{number}/{len(students)}] {student}: {outcome.status}, "
                    f"{outcome.score:g}/{max_score:g} in {outcome.seconds:.1f} s"
                    + (f" ({outcome.message})" if outcome.message else "")
                )
                _write_feedback(api, course, out, assignment, notebook, outcome)
            _write_grades(config, out, assignment, outcomes)
    return outcomes


def _stage_course(scratch: Path, assignment: str) -> Path:
    """Scratch course folder with the assignment's source, and the hidden checks under lib/."""
    course = scratch / "course"
    shutil.copytree(source_notebook(assignment).parent, course / "source" / assignment)
    checks = scratch / "lib" / "autograder"
    shutil.copytree(PACKAGE / "checks", checks / "checks", ignore=shutil.ignore_patterns("__pycache__"))
    (checks / "__init__.py").write_text("")
    return course


def _grading_config(course: Path, timeout: int, parameters: dict):
    config = nbgrader_config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    config.GenerateAssignment.no_database = False
    config.SaveCells.enabled = True
    config.Execute.timeout = timeout
    config.Execute.interrupt_on_timeout = True  # a stuck cell fails, the notebook goes on
    config.InjectParameters.parameters = parameters
    config.Autograde.autograde_preprocessors = [
        "autograder.preprocessors.InjectParameters",
        *_default_autograde_preprocessors(),
    ]
    config.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "autograder.preprocessors.RedactHiddenTests",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    return config


def _default_autograde_preprocessors():
    from nbgrader.converters import Autograde

    return list(Autograde.class_traits()["autograde_preprocessors"].default())


@contextmanager
def _grading_environment(lib: Path):
    """What nbgrader's subprocesses inherit: a PYTHONPATH that finds the scratch copy of the
    checks, and this environment's bin/ first on PATH (nbgrader runs its `alembic` from PATH,
    which lacks it when the command is started as .venv/bin/python without activating)."""
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "PATH")}
    os.environ["PYTHONPATH"] = str(lib)
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), saved["PATH"] or ""])
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _require(result: dict, action: str, assignment: str):
    if not result["success"]:
        raise RuntimeError(f"could not {action} {assignment}:\n{result.get('log', '')}")


def _max_score(config, assignment: str) -> float:
    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        return float(gb.find_assignment(assignment).max_score)


def _grade_one(api, config, course, submissions, assignment, student, notebook) -> Outcome:
    found = submissions / student / assignment / notebook
    if not found.is_file():
        others = sorted(p.name for p in found.parent.glob("*.ipynb")) if found.parent.is_dir() else []
        detail = f"found {', '.join(others)} instead" if others else "nothing submitted"
        return Outcome(student, "missing", message=f"no {assignment}/{notebook}: {detail}")
    try:
        nbformat.validate(nbformat.read(found, as_version=4))
    except Exception as err:  # JSON or schema errors: nbgrader would stop on them
        return Outcome(student, "invalid", message=f"not a valid notebook ({type(err).__name__})")
    target = course / "submitted" / student / assignment
    shutil.copytree(found.parent, target, dirs_exist_ok=True)
    result = api.autograde(assignment, student, force=True, create=True)
    if not result["success"]:
        return Outcome(student, "error", message=_first_error(result))
    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        score = float(gb.find_submission(assignment, student).score)
    return Outcome(student, "graded", score=score)


def _first_error(result: dict) -> str:
    """The first error nbgrader logged (its final exception only says 'see above')."""
    for line in (result.get("log") or "").splitlines():
        if line.startswith("[ERROR]"):
            return line.removeprefix("[ERROR]").strip()[:300]
    return (result.get("error") or "unknown error").strip().splitlines()[-1][:300]


def _write_feedback(api, course, out, assignment, notebook, outcome):
    target = out / "feedback" / outcome.student_id / assignment / notebook.replace(".ipynb", ".html")
    target.parent.mkdir(parents=True, exist_ok=True)
    if outcome.status == "graded":
        result = api.generate_feedback(assignment, outcome.student_id, force=True)
        produced = course / "feedback" / outcome.student_id / assignment / target.name
        if result["success"] and produced.is_file():
            shutil.copyfile(produced, target)
            return
        outcome.message = "feedback could not be generated"
    target.write_text(
        f"<html><body><h1>{html.escape(assignment)}: not graded</h1>"
        f"<p>Status: <b>{html.escape(outcome.status)}</b>. {html.escape(outcome.message)}</p>"
        f"<p>Score: 0 / {outcome.max_score:g}</p></body></html>"
    )


def _write_grades(config, out, assignment, outcomes):
    rows, tests = [], []
    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        for outcome in outcomes:
            row = {"assignment": assignment, **asdict(outcome)}
            if outcome.status == "graded":
                submission = gb.find_submission(assignment, outcome.student_id)
                row.update(
                    timestamp=submission.timestamp,
                    raw_score=submission.score,
                    late_submission_penalty=submission.late_submission_penalty,
                )
                for nb in submission.notebooks:
                    tests += [
                        {"assignment": assignment, "student_id": outcome.student_id,
                         "test": g.name, "score": g.score, "max_score": g.max_score,
                         "status": outcome.status}
                        for g in nb.grades
                    ]  # fmt: skip
            rows.append(row)
    pd.DataFrame(rows).reindex(columns=GRADE_COLUMNS).to_csv(out / "grades.csv", index=False)
    columns = ["assignment", "student_id", "test", "score", "max_score", "status"]
    pd.DataFrame(tests, columns=columns).to_csv(out / "tests.csv", index=False)
