"""Grade one student in a scratch folder of its own: ``python -m autograder.worker JOB.json``.

`autograder.grade` starts one worker process per student (several at once with ``--workers``),
kills it when the notebook's time is up, and merges what it writes into the gradebook. A worker
copies the staged course (source, release, an empty gradebook) into its folder, runs nbgrader's
autograde with the hardened preprocessors and the sandboxed kernel, generates the feedback,
and writes ``result.json``: status, score and each test's points and message.
"""

import ctypes
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import nbformat

from autograder.preprocessors import REPORT_KEY, grading_notes, is_test, nbgrader_meta, test_message

STATUS_OF_EVENT = {"crashed": "crashed", "timeout": "timeout", "cell_timeout": "timeout"}


def die_with_parent() -> None:
    """Linux: get SIGKILL when the grading process dies (the sandbox then dies with us)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl
        os._exit(1)


def run(job: dict) -> dict:
    started = time.monotonic()
    from nbgrader.apps import NbGraderAPI

    from autograder.grade import MAX_SUBMISSION_BYTES, worker_config

    scratch, student, assignment = Path(job["scratch"]), job["student"], job["assignment"]
    course = scratch / "course"
    template = Path(job["template"])
    for part in ("source", "release"):
        shutil.copytree(template / part, course / part)
    shutil.copyfile(template / "gradebook.db", course / "gradebook.db")
    submitted = course / "submitted" / student / assignment
    copy_submission(Path(job["submission"]), submitted, MAX_SUBMISSION_BYTES)

    config = worker_config(job, course)
    api = NbGraderAPI(config=config)
    result = {"student_id": student, "status": "graded", "tests": [], "message": "", "tampered": False}
    graded = api.autograde(assignment, student, force=True, create=True)
    if not graded["success"]:
        result.update(status="error", message=first_error(graded))
        return finish(result, started)

    from nbgrader.api import Gradebook

    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        submission = gb.find_submission(assignment, student)
        grades = [g for nb in submission.notebooks for g in nb.grades]
        scores = {g.name: (float(g.score), float(g.max_score)) for g in grades}
        result["timestamp"] = submission.timestamp.isoformat() if submission.timestamp else None
    autograded = course / "autograded" / student / assignment / job["notebook"]
    nb = nbformat.read(autograded, as_version=4)
    found = nb.metadata.get(REPORT_KEY, {})
    messages = {nbgrader_meta(c).get("grade_id"): test_message(c) for c in nb.cells if is_test(c)}
    result["tests"] = [
        {"test": name, "score": score, "max_score": top, "message": messages.get(name, "")}
        for name, (score, top) in scores.items()
    ]
    for event in found.get("events", []):
        status = STATUS_OF_EVENT.get(event["kind"])
        if status == "crashed" or (status == "timeout" and result["status"] == "graded"):
            result["status"] = status
    result["tampered"] = bool(found.get("tampered"))
    result["message"] = "; ".join(grading_notes(found))

    feedback = generate_feedback(api, assignment, student)
    produced = course / "feedback" / student / assignment / job["notebook"].replace(".ipynb", ".html")
    if feedback["success"] and produced.is_file():
        shutil.copyfile(produced, job["feedback"])
    else:
        result["message"] = "; ".join(filter(None, [result["message"], "feedback could not be generated"]))
    return finish(result, started)


def generate_feedback(api, assignment: str, student: str) -> dict:
    """nbgrader's ``NbGraderAPI.generate_feedback`` without its override of the template name,
    which would replace the course's offline template (nbgrader_config.py) with nbgrader's."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.utils import capture_log, temp_attrs

    with temp_attrs(api.coursedir, assignment_id=assignment, student_id=student):
        app = GenerateFeedback(coursedir=api.coursedir, parent=api)
        app.force = True
        return capture_log(app)


def copy_submission(source: Path, target: Path, limit: int) -> None:
    """Copy regular files and folders only: a symlink could point at the course's solutions."""
    total = 0
    for path in sorted(source.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            continue
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        total += path.stat().st_size
        if total > limit:
            raise ValueError(f"the submission is larger than {limit // 2**20} MiB")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


def first_error(result: dict) -> str:
    """The first error nbgrader logged (its final exception only says 'see above')."""
    for line in (result.get("log") or "").splitlines():
        if line.startswith("[ERROR]"):
            return line.removeprefix("[ERROR]").strip()[:300]
    return ((result.get("error") or "unknown error").strip().splitlines() or ["unknown error"])[-1][:300]


def finish(result: dict, started: float) -> dict:
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def main(argv=None) -> int:
    die_with_parent()
    job = json.loads(Path((argv or sys.argv)[1]).read_text())
    try:
        result = run(job)
    except Exception as err:  # the row must exist whatever happened
        result = {"student_id": job["student"], "status": "error", "tests": [], "tampered": False,
                  "message": f"{type(err).__name__}: {err}"[:300]}  # fmt: skip
    partial = Path(job["result"] + ".partial")
    partial.write_text(json.dumps(result))
    partial.replace(job["result"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
