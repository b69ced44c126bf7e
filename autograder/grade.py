"""`python -m autograder grade`: autograde a folder of untrusted submissions with nbgrader.

- The course is staged in a scratch folder (source notebook, release, an empty gradebook):
  the course folders are only read.
- Each student is graded by a worker process of its own (``autograder.worker``), up to
  ``workers`` at once, with the kernel in a bubblewrap sandbox (``autograder.sandbox``) and the
  hidden checks guarded against monkeypatching (``autograder.guard``). A worker past the
  notebook time limit is killed with its sandbox; the student gets a ``timeout`` row.
- This process alone writes OUT: the gradebook (``gradebook.db``), one result file per student
  (``results/<student>.json``, the mark that a student is done: a rerun with the same settings
  and submission skips them, and one with other settings says so before regrading), the
  feedback, and at the end ``grades.csv``, ``tests.csv``, ``lms.csv`` and ``report.html``.
- Notebooks run at quick length by default (each notebook's ``dlcourse.quick_parameters``): the
  hidden checks test functions, not training length. ``full=True`` runs the parameters cell as
  written, with the larger limits of :data:`LIMITS`.
- Before anything runs, the datasets the assignment needs (``autograder.datasets``) are checked:
  the kernels have no network, and a missing dataset would make every score meaningless.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from sqlalchemy.exc import SAWarning

from autograder import datasets, guard, report, sandbox
from autograder.course import PACKAGE, ROOT, nbgrader_config, quick_parameters, source_notebook
from autograder.preprocessors import is_test

# nbgrader's `export` columns, then ours.
GRADE_COLUMNS = [
    "assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
    "raw_score", "late_submission_penalty", "score", "max_score", "status", "tampered", "message",
]  # fmt: skip
TEST_COLUMNS = ["assignment", "student_id", "test", "score", "max_score", "status", "message"]
STATUSES = ("graded", "timeout", "crashed", "invalid", "missing", "error")
MAX_SUBMISSION_BYTES = 200 * 2**20
# Time limits in seconds, by run length: per cell, per cell once a cell of the notebook has timed
# out, and per student (everything included). A quick run of any chapter takes well under a
# minute in the sandbox and its longest cell a few seconds, so a quick cell past 60 s is stuck;
# full-length training cells take minutes.
LIMITS = {
    "quick": {"timeout": 60, "stalled_timeout": 10, "notebook_timeout": 600},
    "full": {"timeout": 300, "stalled_timeout": 60, "notebook_timeout": 1800},
}


@dataclass
class Outcome:
    """What happened to one student's submission."""

    student_id: str
    status: str  # graded | timeout | crashed | invalid | missing | error
    score: float = 0.0
    max_score: float = 0.0
    message: str = ""
    seconds: float = 0.0
    tampered: bool = False
    tests: list = field(default_factory=list)  # {"test", "score", "max_score", "message"}
    timestamp: str | None = None
    resumed: bool = False  # graded by an earlier run of the same settings

    @classmethod
    def from_dict(cls, data: dict) -> Outcome:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Settings:
    """How to grade: everything that changes a result is in :meth:`fingerprint`."""

    length: str = "quick"  # quick: the notebook's quick_parameters; full: its parameters cell as is
    parameters: dict = field(default_factory=dict)  # injected into the parameters cell
    timeout: int = LIMITS["quick"]["timeout"]  # seconds per cell
    # Seconds per cell once a cell has timed out: a stalled function stalls again in every later
    # cell that calls it, and which cells those are is unknown before they run; a much shorter
    # limit for all later cells costs a stalled student seconds per cell instead of the notebook's
    # budget, while the hidden tests (a second or two each) still run in full.
    stalled_timeout: int = LIMITS["quick"]["stalled_timeout"]
    notebook_timeout: int = LIMITS["quick"]["notebook_timeout"]  # seconds per student
    workers: int = 0  # 0: one per core
    memory: int = 4 * sandbox.GiB  # per kernel
    max_output: int = 1_000_000  # bytes of output kept per notebook
    isolate: bool = True  # bubblewrap sandbox; False: --no-sandbox

    @classmethod
    def for_run(cls, notebook: Path, full: bool = False, parameters: dict | None = None, **options):
        """Quick (default) or full length; limits not given (None) are those of the length;
        ``parameters`` override single values of the quick (or full) run."""
        length = "full" if full else "quick"
        options = {**LIMITS[length], **{k: v for k, v in options.items() if v is not None}}
        options["stalled_timeout"] = min(options["stalled_timeout"], options["timeout"])
        injected = {} if full else quick_parameters(notebook)
        injected.update(parameters or {})
        return cls(length=length, parameters=injected, **options)

    def relevant(self, identity: dict) -> dict:
        """What decides a result: these settings (not the number of workers) and the course's
        ``identity`` (source notebook and checks)."""
        return {**{k: v for k, v in asdict(self).items() if k != "workers"}, **identity}

    def fingerprint(self, identity: dict) -> str:
        return _digest(json.dumps(self.relevant(identity), sort_keys=True, default=str).encode())

    def describe(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in sorted(self.parameters.items()))
        length = f"{self.length} length" + (f" ({values})" if values else "")
        return (f"{length}; limits {self.timeout} s per cell ({self.stalled_timeout} s once a cell "
                f"timed out), {self.notebook_timeout} s per student")  # fmt: skip


def grade(assignment, submissions, out, full=False, parameters=None, log=print, **options) -> list[Outcome]:
    """Grade ``submissions/<student_id>/<assignment>/<notebook>.ipynb``; write reports to ``out``.

    ``full``: full length instead of the quick parameters; ``parameters`` override single values.
    ``options`` are the other :class:`Settings` (timeout, stalled_timeout, notebook_timeout: None
    for the length's default; workers, memory, max_output, isolate) and ``progress`` (a bar).
    """
    progress = options.pop("progress", False)
    source = source_notebook(assignment)
    settings = Settings.for_run(source, full, parameters, **options)
    submissions, out = Path(submissions), Path(out)
    warnings.filterwarnings("ignore", category=SAWarning, module="nbgrader")  # nbgrader's own
    if not submissions.is_dir():
        raise FileNotFoundError(f"submissions folder {submissions} does not exist")
    if settings.isolate:
        sandbox.check_available()
    check_data(assignment, source)
    students = sorted(p.name for p in submissions.iterdir() if p.is_dir())
    log(f"grading {assignment} at {settings.describe()}")
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="dlcourse-grade-"))
    try:
        with _grading_environment():
            staged = _stage(scratch / "template", assignment, settings)
            run = _Run(assignment, source.name, submissions, out, scratch, staged, settings, log)
            run.grade(students, progress)
        return [run.outcomes[s] for s in students]
    finally:
        if not os.environ.get("DLCOURSE_KEEP_SCRATCH"):  # for debugging the grader
            shutil.rmtree(scratch, ignore_errors=True)


def check_data(assignment: str, source: Path) -> None:
    """Stop (a ValueError) when a dataset the assignment needs is missing or corrupt in the data
    root: the kernels have no network, so every cell that loads it would fail. The check imports
    torchvision, so it runs in a process of its own and only when there is data to check."""
    needed = datasets.needed(source)
    if not needed:
        return
    root = _data_root()
    run = subprocess.run([sys.executable, "-m", "autograder.datasets", str(root), *needed],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if run.returncode != 0:
        raise RuntimeError(f"could not check the datasets in {root}: {run.stderr.strip()[-1000:]}")
    problems = json.loads(run.stdout)
    if problems:
        raise DataMissing(
            f"{assignment} needs data that is missing or corrupt in the data folder {root} "
            f"({'; '.join(problems)}). The students' kernels have no network: put the original "
            f"files there (README: Data and offline machines), set DLCOURSE_DATA to a "
            f"folder that has them, or, with internet, download them once: DLCOURSE_DATA={root} "
            f".venv/bin/python -c \"{datasets.fetch_code(needed)}\". Nothing was graded."
        )  # fmt: skip


class DataMissing(ValueError):
    """A dataset the assignment needs is not in place; nothing was graded."""


class _Run:
    """One grading run: schedules workers, and alone writes OUT."""

    def __init__(self, assignment, notebook, submissions, out, scratch, staged, settings, log):
        self.assignment, self.notebook = assignment, notebook
        self.submissions, self.out, self.scratch = submissions, out, scratch
        self.staged, self.settings, self.log = staged, settings, log
        self.relevant = settings.relevant(staged["identity"])
        self.fingerprint = settings.fingerprint(staged["identity"])
        self.outcomes: dict[str, Outcome] = {}
        self.running: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.workers = settings.workers or self.cores
        self.db_url = self._gradebook()

    # -- OUT ---------------------------------------------------------------------------------

    def _gradebook(self) -> str:
        """OUT/gradebook.db, started from the staged one; a new one when the settings changed."""
        state = self.out / "grading.json"
        previous = json.loads(state.read_text()) if state.is_file() else None
        if previous and previous.get("assignment") != self.assignment:
            raise ValueError(f"{self.out} holds the grading of {previous.get('assignment')}; "
                             "use another folder for another assignment")  # fmt: skip
        path = self.out / "gradebook.db"
        if not previous or previous.get("fingerprint") != self.fingerprint or not path.is_file():
            shutil.copyfile(self.staged["dir"] / "gradebook.db", path)
        state.write_text(json.dumps({"assignment": self.assignment, "fingerprint": self.fingerprint,
                                     "settings": self.relevant}, indent=1))  # fmt: skip
        return f"sqlite:///{path}"

    def _result_file(self, student: str) -> Path:
        return self.out / "results" / f"{student}.json"

    def _record(self, outcome: Outcome, digest: str, feedback: Path | None) -> None:
        """Gradebook, feedback, then the result file (the mark that the student is done)."""
        outcome.max_score = self.staged["max_score"]
        self._save_to_gradebook(outcome)
        target = self._feedback_file(outcome.student_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        if feedback is not None and feedback.is_file():
            shutil.copyfile(feedback, target)
        elif not outcome.resumed:
            target.write_text(_not_graded_page(self.assignment, outcome))
        if not outcome.resumed:
            path = self._result_file(outcome.student_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = {**asdict(outcome), "fingerprint": self.fingerprint, "digest": digest,
                    "settings": self.relevant}  # fmt: skip
            data.pop("resumed")
            partial = path.with_suffix(".partial")
            partial.write_text(json.dumps(data, indent=1))
            partial.replace(path)
        self.outcomes[outcome.student_id] = outcome

    def _feedback_file(self, student: str) -> Path:
        return self.out / "feedback" / student / self.assignment / self.notebook.replace(".ipynb", ".html")

    def _save_to_gradebook(self, outcome: Outcome) -> None:
        with Gradebook(self.db_url, self.staged["course_id"]) as gb:
            gb.update_or_create_student(outcome.student_id)
            if outcome.status in ("missing", "invalid"):
                try:
                    gb.remove_submission(self.assignment, outcome.student_id)
                except MissingEntry:
                    pass
                return
            submission = gb.update_or_create_submission(self.assignment, outcome.student_id)
            scores = {t["test"]: t["score"] for t in outcome.tests}
            for nb in submission.notebooks:
                for g in nb.grades:
                    g.auto_score = float(scores.get(g.name, 0.0))
                    g.needs_manual_grade = False
            gb.db.commit()

    # -- scheduling ------------------------------------------------------------------------

    def grade(self, students: list[str], progress: bool) -> None:
        bar = _progress_bar(len(students), self.assignment) if progress else None
        write = bar.write if bar is not None else self.log
        done = 0

        def announce(outcome: Outcome):
            nonlocal done
            done += 1
            if bar is not None:
                bar.update(1)
            write(_log_line(done, len(students), outcome))

        self._announce_regrading(students)
        pending = []
        for student in students:
            folder = self.submissions / student / self.assignment
            digest = _tree_digest(folder)
            previous = self._previous(student, digest)
            if previous is not None:
                self._record(previous, digest, None)
                announce(previous)
                continue
            quick = self._check_submission(student, folder)
            if quick is not None:
                self._record(quick, digest, None)
                announce(quick)
            else:
                pending.append((student, digest))
        try:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                futures = {pool.submit(self._work, n, s): (s, d) for n, (s, d) in enumerate(pending)}
                for future in as_completed(futures):
                    student, digest = futures[future]
                    outcome, feedback = future.result()
                    self._record(outcome, digest, feedback)
                    announce(outcome)
        finally:
            self._kill_all()
            if bar is not None:
                bar.close()
        outcomes = [self.outcomes[s] for s in students]
        report.write_reports(self.out, self.assignment, outcomes, self.staged["tests"],
                             settings={**asdict(self.settings), "workers": self.workers})

    def _announce_regrading(self, students: list[str]) -> None:
        """Say, before grading, which students graded before are regraded because the settings
        (or the notebook, or the checks) changed since, and what changed."""
        regraded, changed = 0, set()
        for student in students:
            data = self._result_data(student)
            if data is None or data.get("fingerprint") == self.fingerprint:
                continue
            regraded += 1
            before = data.get("settings")
            if before is None:  # written by an older grader
                changed.add("unknown")
                continue
            changed.update(k for k in self.relevant.keys() | before.keys()
                           if self.relevant.get(k) != before.get(k))  # fmt: skip
        if regraded:
            what = ", ".join(sorted(changed - {"unknown"}) + sorted(changed & {"unknown"}))
            self.log(f"settings changed since the last run ({what}): regrading {regraded} "
                     f"student{'s' if regraded > 1 else ''} graded before")  # fmt: skip

    def _result_data(self, student: str) -> dict | None:
        try:
            return json.loads(self._result_file(student).read_text())
        except (OSError, ValueError):
            return None

    def _previous(self, student: str, digest: str) -> Outcome | None:
        data = self._result_data(student)
        if data is None or data.get("fingerprint") != self.fingerprint or data.get("digest") != digest:
            return None
        outcome = Outcome.from_dict(data)
        outcome.resumed = True
        return outcome

    def _check_submission(self, student: str, folder: Path) -> Outcome | None:
        """missing or invalid without starting a worker; None when the notebook can be graded."""
        found = folder / self.notebook
        if not found.is_file() or found.is_symlink():
            others = sorted(p.name for p in folder.glob("*.ipynb")) if folder.is_dir() else []
            detail = f"found {', '.join(others)} instead" if others else "nothing submitted"
            return Outcome(student, "missing", message=f"no {self.assignment}/{self.notebook}: {detail}")
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
        if size > MAX_SUBMISSION_BYTES:
            limit = MAX_SUBMISSION_BYTES >> 20
            return Outcome(student, "invalid", message=f"submission larger than {limit} MiB")
        try:
            nbformat.validate(nbformat.read(found, as_version=4))
        except Exception as err:  # JSON or schema errors: nbgrader would stop on them
            return Outcome(student, "invalid", message=f"not a valid notebook ({type(err).__name__})")
        return None

    def _work(self, number: int, student: str) -> tuple[Outcome, Path | None]:
        """Run one worker process; kill it (and its sandbox) when the notebook's time is up."""
        started = time.monotonic()
        folder = self.scratch / "students" / str(number)
        folder.mkdir(parents=True)
        job = {
            "assignment": self.assignment, "student": student, "notebook": self.notebook,
            "submission": str(self.submissions / student / self.assignment),
            "template": str(self.staged["dir"]), "scratch": str(folder),
            "result": str(folder / "result.json"), "feedback": str(folder / "feedback.html"),
            "threads": max(1, self.cores // self.workers), **asdict(self.settings),
        }  # fmt: skip
        (folder / "job.json").write_text(json.dumps(job))
        with open(folder / "worker.log", "wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "autograder.worker", str(folder / "job.json")],
                stdout=output, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True,
            )  # fmt: skip
            with self.lock:
                self.running[student] = process
            try:
                process.wait(timeout=self.settings.notebook_timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                seconds = round(time.monotonic() - started, 1)
                return Outcome(student, "timeout", seconds=seconds, message=(
                    f"grading stopped after {self.settings.notebook_timeout} s (the time limit "
                    "for a whole notebook)")), None  # fmt: skip
            finally:
                _kill_group(process)  # anything the worker left behind
                with self.lock:
                    self.running.pop(student, None)
        try:
            outcome = Outcome.from_dict(json.loads(Path(job["result"]).read_text()))
        except (OSError, ValueError):
            log = (folder / "worker.log").read_text(errors="replace").strip().splitlines()
            detail = log[-1] if log else f"exit status {process.returncode}"
            outcome = Outcome(student, "error", message=f"the grader failed: {detail}"[:300])
        outcome.seconds = round(time.monotonic() - started, 1)
        outcome.score = sum(t["score"] for t in outcome.tests)
        return outcome, Path(job["feedback"])

    def _kill_all(self) -> None:
        with self.lock:
            for process in self.running.values():
                _kill_group(process)


def worker_config(job: dict, course: Path):
    """nbgrader configuration of a worker: its own course copy, the hardened pipeline."""
    staged = json.loads((Path(job["template"]) / "staged.json").read_text())
    config = _grading_config(course, job["timeout"], job["parameters"])
    config.GuardedExecute.stalled_timeout = job["stalled_timeout"]
    box = sandbox.Sandbox(
        root=Path(job["scratch"]) / "box",
        workdir=course / "autograded" / job["student"] / job["assignment"],
        memory=job["memory"], threads=job["threads"], isolate=job["isolate"],
        data_root=_data_root(), matplotlib_cache=Path(job["template"]) / "matplotlib",
    )  # fmt: skip
    name = guard.new_name()
    config.GuardedExecute.kernel_manager_class = "autograder.sandbox.SandboxKernelManager"
    config.SandboxKernelManager.sandbox = box.to_dict()
    config.GuardedExecute.guard_name = name
    config.GuardedExecute.protected_source = guard.protected_cell(
        name, {k: tuple(v) for k, v in staged["sources"].items()}, staged["preload"], str(box.workdir)
    )
    config.GuardedExecute.max_output_bytes = job["max_output"]
    config.GuardedExecute.memory_limit = f"{job['memory'] / sandbox.GiB:g} GiB" if job["memory"] else ""
    config.RestoreCells.release_directory = str(course / "release")
    config.RedactCheckSource.secret_lines = staged["secret_lines"]
    return config


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
    config.Autograde.sanitize_preprocessors = [
        "nbgrader.preprocessors.ClearOutput",
        "nbgrader.preprocessors.DeduplicateIds",
        "autograder.preprocessors.RestoreCells",
        "nbgrader.preprocessors.OverwriteKernelspec",
        "nbgrader.preprocessors.OverwriteCells",
        "nbgrader.preprocessors.CheckCellMetadata",
    ]
    config.Autograde.autograde_preprocessors = [
        "autograder.preprocessors.InjectParameters",
        *[
            "autograder.execute.GuardedExecute" if p.__name__ == "Execute" else p
            for p in _default_autograde_preprocessors()
        ],
    ]
    config.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "autograder.preprocessors.FeedbackSummary",
        "autograder.preprocessors.RedactHiddenTests",
        "autograder.preprocessors.RedactCheckSource",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    return config


def _default_autograde_preprocessors():
    from nbgrader.converters import Autograde

    return list(Autograde.class_traits()["autograde_preprocessors"].default())


def _stage(folder: Path, assignment: str, settings: Settings) -> dict:
    """The assignment released once into ``folder`` (source, release, gradebook.db), and what
    every worker needs (``staged.json``): the checks' sources, what to preload, what to redact."""
    source = source_notebook(assignment)
    shutil.copytree(source.parent, folder / "source" / assignment)
    config = _grading_config(folder, settings.timeout, settings.parameters)
    api = NbGraderAPI(config=config)
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"could not prepare {assignment}:\n{result.get('log', '')}")
    sources = guard.check_sources(PACKAGE / "checks")
    source_nb = nbformat.read(source, as_version=4)
    test_sources = [c.source for c in source_nb.cells if is_test(c)]
    release = (folder / "release" / assignment / source.name).read_text()
    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        found = gb.find_assignment(assignment)
        max_score = float(found.max_score)
        tests = [(c.name, float(c.max_score)) for nb in found.notebooks for c in nb.grade_cells]
    order = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(source_nb.cells)}
    tests.sort(key=lambda t: order.get(t[0], len(order)))
    staged = {
        "sources": sources,
        "preload": guard.preload(assignment, test_sources, sources),
        "secret_lines": guard.secret_lines(sources, test_sources, release),
    }
    (folder / "staged.json").write_text(json.dumps(staged))
    _matplotlib_cache(folder / "matplotlib")
    identity = {"source": _digest(source.read_bytes()), "checks": _digest(json.dumps(sources).encode())}
    return {"dir": folder, "max_score": max_score, "tests": tests, "identity": identity,
            "course_id": config.CourseDirectory.course_id}  # fmt: skip


def _matplotlib_cache(target: Path) -> None:
    """matplotlib's font list, built once here instead of in every student's fresh $HOME."""
    try:
        import matplotlib
        import matplotlib.font_manager  # noqa: F401  (builds the list when missing)
    except ImportError:
        return
    target.mkdir(parents=True, exist_ok=True)
    for found in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
        shutil.copyfile(found, target / found.name)


class _grading_environment:
    """What the worker processes inherit: this checkout on PYTHONPATH (``autograder.worker``),
    and this environment's bin/ first on PATH (nbgrader runs its `alembic` from PATH, which
    lacks it when the command is started as .venv/bin/python without activating)."""

    def __enter__(self):
        self.saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "PATH")}
        os.environ["PYTHONPATH"] = str(ROOT)
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), self.saved["PATH"] or ""])

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _data_root() -> Path:
    """``dlcourse.data.data_root()``, without importing torch into the grader (tested equal)."""
    if os.environ.get("DLCOURSE_DATA"):
        return Path(os.environ["DLCOURSE_DATA"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlcourse"


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree_digest(folder: Path) -> str:
    """Digest of a submission folder (names and contents), to notice a resubmission."""
    if not folder.is_dir():
        return "missing"
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _log_line(number: int, total: int, o: Outcome) -> str:
    kept = " (graded before, kept)" if o.resumed else f" in {o.seconds:.1f} s"
    flags = " [tampered]" if o.tampered else ""
    return (f"[{number}/{total}] {o.student_id}: {o.status}, {o.score:g}/{o.max_score:g}{kept}{flags}"
            + (f" ({o.message})" if o.message else ""))  # fmt: skip


def _progress_bar(total: int, assignment: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"grading {assignment}", unit="student", file=sys.stderr,
                dynamic_ncols=True)  # fmt: skip


def _not_graded_page(assignment: str, outcome: Outcome) -> str:
    return (
        f"<html><body><h1>{html.escape(assignment)}: {html.escape(outcome.status)}</h1>"
        f"<p>Status: <b>{html.escape(outcome.status)}</b>. {html.escape(outcome.message)}</p>"
        f"<p>Score: {outcome.score:g} / {outcome.max_score:g}</p></body></html>"
    )
