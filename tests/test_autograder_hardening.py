"""The autograder on a class of hostile or broken submissions (``tests/autograder_submissions.py``),
all graded in one run of the CLI with two workers and the bubblewrap sandbox.

Each fixture student says what its row must show; around the run the tests also watch what the
students must not reach: files outside their scratch folder, a TCP port on this machine, and
processes that outlive grading. A second run into the same folder must regrade nobody.
"""

import html
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from autograder import guard
from autograder.course import ROOT, quick_parameters, source_notebook
from autograder.sandbox import GiB, check_available
from tests import autograder_submissions as fixtures
from tests.test_autograder import tree_digest

pytestmark = pytest.mark.slow

CELL_TIMEOUT = 20  # --timeout: seconds per cell
NOTEBOOK_TIMEOUT = 150  # --notebook-timeout: a trimmed ch10 notebook takes ~15 s in the sandbox
MEMORY = 2 * GiB  # --memory


class Listener:
    """A TCP server on loopback that records whether anybody connected."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.stopped.set()
        self.thread.join()
        self.server.close()


def processes_with(marker: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            found.append(text)
    return found


def grade_command(submissions: Path, out: Path, workers: int) -> list[str]:
    params = [f"--param={k}={v!r}" for k, v in quick_parameters(source_notebook(fixtures.ASSIGNMENT)).items()]
    return [sys.executable, "-m", "autograder", "grade", fixtures.ASSIGNMENT, "--submissions",
         str(submissions), "--out", str(out), "--timeout", str(CELL_TIMEOUT),
         "--notebook-timeout", str(NOTEBOOK_TIMEOUT), "--memory", str(MEMORY),
         "--workers", str(workers), "--no-progress", *params]  # fmt: skip


def grade(submissions: Path, out: Path, workers: int) -> subprocess.CompletedProcess:
    return subprocess.run(grade_command(submissions, out, workers), cwd=ROOT, capture_output=True,
                          text=True, timeout=1800)  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    try:
        check_available()
    except Exception as err:  # CI installs bubblewrap: there this must not skip
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no sandbox here: {err}")
    base = tmp_path_factory.mktemp("hostile")
    submissions, out, outside = base / "submitted", base / "out", base / "outside"
    outside.mkdir()
    (outside / "untouched.txt").write_text("nobody writes here")
    listener = Listener()
    context = {
        "cell_timeout": CELL_TIMEOUT,
        "slow_cells": NOTEBOOK_TIMEOUT // (CELL_TIMEOUT - 1) + 1,
        "memory": MEMORY,
        "marker": f"left-behind-{secrets.token_hex(8)}",
        "port": listener.port,
        "write_targets": [
            str(outside / "untouched.txt"), str(outside / "new.txt"),
            str(ROOT / "autograder" / "checks" / "ch10_softmax.py"),
            str(submissions / "correct" / fixtures.ASSIGNMENT / fixtures.NOTEBOOK),
            str(out / "gradebook.db"), str(Path.home() / "dlcourse-hacked.txt"),
        ],
        "read_targets": [
            str(submissions / "correct" / fixtures.ASSIGNMENT / fixtures.NOTEBOOK),
            str(source_notebook(fixtures.ASSIGNMENT)),
            str(ROOT / "autograder" / "checks" / "ch10_softmax.py"),
        ],
    }  # fmt: skip
    expected = fixtures.build(submissions, context)
    watched = (outside, submissions, ROOT / "solutions", ROOT / "notebooks", ROOT / "autograder")
    before = tree_digest(*watched)
    try:
        first = grade(submissions, out, workers=2)
    finally:
        listener.close()
    after = tree_digest(*watched)
    left = processes_with(context["marker"])
    second = grade(submissions, out, workers=2)
    return {
        "first": first, "second": second, "out": out, "submissions": submissions, "expected": expected,
        "unchanged": before == after, "context": context, "connections": listener.connections, "left": left,
        "home": Path.home() / "dlcourse-hacked.txt",
    }  # fmt: skip


def page_text(path: Path) -> str:
    """A feedback page as the student reads it: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def grades(run) -> pd.DataFrame:
    return pd.read_csv(run["out"] / "grades.csv", keep_default_na=False).set_index("student_id")


def per_test(run) -> pd.DataFrame:
    return pd.read_csv(run["out"] / "tests.csv", keep_default_na=False)


def test_the_batch_completes_with_a_row_per_student(run):
    assert run["first"].returncode == 0, run["first"].stdout + run["first"].stderr
    assert sorted(grades(run).index) == sorted(run["expected"])


@pytest.mark.parametrize("student", sorted(fixtures.fixtures({
    "cell_timeout": 2, "slow_cells": 1, "memory": 1, "marker": "", "port": 1, "write_targets": [],
    "read_targets": []}).keys()))  # fmt: skip
def test_row_says_what_happened(run, student):
    expect = run["expected"][student]
    row = grades(run).loc[student]
    assert row.status == expect.status, f"{student}: {row.status} ({row.message})"
    if expect.score is not None:
        assert row.score == expect.score, f"{student}: {row.score} ({row.message})"
    assert bool(row.tampered) == expect.tampered, f"{student}: tampered={row.tampered}"
    assert expect.message in row.message, f"{student}: {row.message!r}"
    mine = per_test(run)[lambda t: t.student_id == student].set_index("test")
    for test in expect.zero:
        assert mine.loc[test, "score"] == 0, f"{student} got points on {test}"
    for test in expect.full:
        assert mine.loc[test, "score"] == mine.loc[test, "max_score"], f"{student} lost points on {test}"


def test_nothing_outside_the_scratch_folders_changed(run):
    assert run["unchanged"], "a submission changed the course, the submissions or a file outside"
    assert not run["home"].exists()
    assert grades(run).loc["correct", "score"] == fixtures.FULL  # its notebook was not overwritten


def test_no_network_and_no_process_left(run):
    assert run["connections"] == 0, "a student's kernel reached a port on this machine"
    assert not run["left"], f"processes outlived grading: {run['left']}"
    printed = page_text(run["out"] / "feedback" / "escape" / fixtures.ASSIGNMENT / "ch10_softmax.html")
    for target in run["context"]["write_targets"]:
        assert f"WROTE {target}" not in printed and f"blocked {target}" in printed
    for target in run["context"]["read_targets"]:
        assert f"READ {target}" not in printed and f"blocked {target}" in printed
    assert "\nCONNECTED\n" not in printed and "\nno network " in printed
    assert "\nspawned\n" in printed, "the escape cell did not run to its end"


def test_feedback_shows_no_hidden_check_line(run):
    sources = guard.check_sources()
    secret = [line for line in guard.secret_lines(sources, [], "") if len(line) > 30]
    assert "expect_close(P, torch.softmax(X, dim=-1), \"softmax of a (4, 10) batch\")" in secret
    for page in (run["out"] / "feedback").rglob("*.html"):
        text = page.read_text()
        shown = [line for line in secret if line in text]
        assert not shown, f"{page.relative_to(run['out'])} shows hidden lines: {shown[:3]}"
        assert "BEGIN HIDDEN TESTS" not in text and "grader guard" not in text


def test_feedback_explains_the_failure(run):
    text = (run["out"] / "feedback" / "naive" / fixtures.ASSIGNMENT / "ch10_softmax.html").read_text()
    assert "overflows" in text


def test_rerun_regrades_nobody(run):
    second = run["second"]
    assert second.returncode == 0, second.stdout + second.stderr
    lines = [line for line in second.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == len(run["expected"])
    assert all("graded before, kept" in line for line in lines), "\n".join(lines)


def test_instructor_reports(run):
    out = run["out"]
    lms = pd.read_csv(out / "lms.csv").set_index("student_id")
    assert lms.loc["correct", "percent"] == 100.0 and lms.loc["missing", "score"] == 0
    report = (out / "report.html").read_text()
    assert "softmax_hidden" in report and "timeout" in report
    assert report.count("<img") == 2, "the score histogram and the failing-tests chart"


def test_export_for_an_lms(run, tmp_path):
    target = tmp_path / "class.csv"
    export = subprocess.run(
        [sys.executable, "-m", "autograder", "export", str(run["out"]), "--to", str(target)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert export.returncode == 0, export.stderr
    table = pd.read_csv(target).set_index("student_id")
    assert len(table) == len(run["expected"])
    assert table.loc["correct"].filter(like=fixtures.ASSIGNMENT).iloc[0] == fixtures.FULL


def test_serial_after_a_kill_resumes_and_agrees_with_parallel(run, tmp_path):
    """Grade three students with one worker, kill the grader once the first is done, grade
    again: the finished student is kept, and every row equals the two-worker run's."""
    students = ["correct", "naive", "os_exit"]
    submissions, out = tmp_path / "submitted", tmp_path / "out"
    for student in students:
        shutil.copytree(run["submissions"] / student, submissions / student)
    command = grade_command(submissions, out, workers=1)
    grader = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not list((out / "results").glob("*.json")) and grader.poll() is None:
        assert time.monotonic() < deadline, "no student finished in 10 minutes"
        time.sleep(0.5)
    grader.kill()
    grader.wait()
    finished = {p.stem for p in (out / "results").glob("*.json")}
    assert finished and finished < set(students), f"killed too late to test resuming: {finished}"

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert again.returncode == 0, again.stdout + again.stderr
    for student in students:
        line = next(line for line in again.stdout.splitlines() if f"] {student}: " in line)
        assert ("graded before, kept" in line) == (student in finished), line
    serial = pd.read_csv(out / "grades.csv", keep_default_na=False).set_index("student_id")
    parallel = grades(run).loc[students]
    columns = ["status", "score", "max_score", "tampered"]
    pd.testing.assert_frame_equal(serial.loc[students, columns], parallel[columns])
