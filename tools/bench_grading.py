"""Benchmark: how many submissions per minute the autograder grades.

    python -m tools.bench_grading [--copies N] [--assignment ch10_softmax]

Writes N copies of the reference solution of an assignment into a scratch folder (as N students)
and grades them three ways, printing submissions per minute for each:

1. ``python -m autograder grade --workers 1`` (sandboxed, one student at a time);
2. ``python -m autograder grade`` with one worker per core;
3. plain ``nbgrader autograde`` on the same folder, in a scratch course whose parameters cell
   carries the same short-run values that the autograder injects by default (quick length).

Every run must give each copy full marks, else the figures would compare different work.
A benchmark, not a test: timings on shared machines vary.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pandas as pd

from autograder.course import ROOT, quick_parameters, source_notebook
from tests.notebooks import submission


def write_copies(folder: Path, assignment: str, copies: int) -> None:
    nb = submission(assignment)
    name = source_notebook(assignment).name
    for i in range(copies):
        target = folder / f"student{i:03d}" / assignment
        target.mkdir(parents=True)
        nbformat.write(nb, target / name)


def with_parameters(notebook: Path, target: Path, parameters: dict) -> None:
    """A copy of ``notebook`` whose parameters cell ends with ``parameters``."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


def timed(command: list[str], cwd: Path, env: dict | None = None) -> float:
    started = time.monotonic()
    run = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if run.returncode != 0:
        sys.exit(f"{' '.join(command[:4])}... failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return seconds


def autograder(assignment: str, submissions: Path, out: Path, workers: int, copies: int) -> float:
    seconds = timed(
        [sys.executable, "-m", "autograder", "grade", assignment, "--submissions", str(submissions),
         "--out", str(out), "--workers", str(workers), "--no-progress"],
        cwd=ROOT,
    )  # fmt: skip
    grades = pd.read_csv(out / "grades.csv")
    assert (grades.status == "graded").all() and (grades.score == grades.max_score).all(), grades
    assert len(grades) == copies
    return seconds


def plain_nbgrader(assignment: str, submissions: Path, course: Path, copies: int) -> float:
    """``nbgrader generate_assignment`` then ``nbgrader autograde`` in a scratch course."""
    source = source_notebook(assignment)
    with_parameters(source, course / "source" / assignment / source.name, quick_parameters(source))
    shutil.copytree(submissions, course / "submitted")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'bench'\n"
        "c.ClearSolutions.code_stub = {'python': '# YOUR CODE HERE\\nraise NotImplementedError()'}\n"
        "c.Execute.timeout = 300\n"
    )
    # The hidden-test cells import autograder.checks; nbgrader runs alembic from PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": path}
    nbgrader = [sys.executable, "-m", "nbgrader"]
    timed([*nbgrader, "generate_assignment", assignment, "--force"], cwd=course, env=env)
    seconds = timed([*nbgrader, "autograde", assignment, "--force"], cwd=course, env=env)
    graded = list((course / "autograded").glob(f"*/{assignment}/{source.name}"))
    assert len(graded) == copies, f"nbgrader autograded {len(graded)} of {copies}"
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=8, help="submissions to grade (default 8)")
    parser.add_argument("--assignment", default="ch10_softmax")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-") as scratch:
        scratch = Path(scratch)
        submissions = scratch / "submitted"
        write_copies(submissions, args.assignment, args.copies)
        print(f"{args.copies} copies of the {args.assignment} reference solution, {cores} cores, "
              f"short-run parameters {quick_parameters(source_notebook(args.assignment))}")  # fmt: skip
        runs = {
            "autograder --workers 1": lambda: autograder(
                args.assignment, submissions, scratch / "out1", 1, args.copies),
            f"autograder --workers {cores}": lambda: autograder(
                args.assignment, submissions, scratch / "outN", cores, args.copies),
            "nbgrader autograde (no sandbox, serial)": lambda: plain_nbgrader(
                args.assignment, submissions, scratch / "course", args.copies),
        }  # fmt: skip
        for label, run in runs.items():
            seconds = run()
            print(f"{label:40s} {seconds:7.1f} s  {60 * args.copies / seconds:6.1f} submissions/min",
                  flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
