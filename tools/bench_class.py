"""Benchmark: a small ch10 class graded the way README says, and a student's Validate.

    .venv/bin/python -m tools.bench_class [--lengths quick full] [--no-validate]

Writes three ch10 submissions (the reference solution; a naive softmax, which overflows; an
infinite loop in a cell after the softmax exercise) and times, in one run:

1. ``make autograde ASSIGNMENT=ch10_softmax SUBMISSIONS=... OUT=...`` (quick length, the default);
2. the same with ``ARGS=--full`` (full length);
3. a student's Validate of a correct release notebook: ``nbgrader validate`` in a copy of
   ``notebooks/``, as a student runs it in their clone.

Prints a Markdown table for README: wall time, and each student's status, score and seconds.
A benchmark, not a test: timings on shared machines vary.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pandas as pd

from autograder.course import NOTEBOOKS, ROOT
from tests.autograder_submissions import ASSIGNMENT, NAIVE_SOFTMAX, NOTEBOOK, after, solved
from tests.notebooks import sandbox_options


def write_class(folder: Path) -> None:
    students = {
        "correct": solved(trim=False),
        "naive": solved({"softmax": NAIVE_SOFTMAX}, trim=False),
        "loop": after(solved(trim=False), "softmax_hidden", "while True:  # an infinite loop\n    pass"),
    }
    for student, nb in students.items():
        target = folder / student / ASSIGNMENT
        target.mkdir(parents=True)
        nbformat.write(nb, target / NOTEBOOK)


def timed(command: list[str], cwd: Path, env: dict | None = None) -> tuple[float, str]:
    started = time.monotonic()
    run = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if run.returncode != 0:
        sys.exit(f"{' '.join(command[:4])}... failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return seconds, run.stdout


def autograde(submissions: Path, out: Path, full: bool) -> tuple[float, str]:
    """``make autograde`` as README writes it (``-o``: never rebuild .venv in a benchmark;
    ``--no-sandbox`` only where bubblewrap is missing)."""
    options = ["--no-progress", *(["--full"] if full else []), *sandbox_options()]
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "autograde",
               f"ASSIGNMENT={ASSIGNMENT}", f"SUBMISSIONS={submissions}", f"OUT={out}",
               f"ARGS={' '.join(options)}"]  # fmt: skip
    seconds, _ = timed(command, ROOT)
    grades = pd.read_csv(out / "grades.csv").set_index("student_id")
    students = []
    for student in ("correct", "naive", "loop"):
        row = grades.loc[student]
        took = json.loads((out / "results" / f"{student}.json").read_text())["seconds"]
        students.append(f"{student} {row.status} {row.score:g}/{row.max_score:g} in {took:.0f} s")
    return seconds, "; ".join(students)


def validate(scratch: Path) -> tuple[float, str]:
    """A student's Validate of a correct notebook, in a copy of the release (their clone)."""
    release = scratch / "notebooks"
    shutil.copytree(NOTEBOOKS, release)
    notebook = Path(ASSIGNMENT) / NOTEBOOK
    nbformat.write(solved(trim=False), release / notebook)
    env = {"DLCOURSE_DATA": str(ROOT / ".data"), **os.environ,  # as under make
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    seconds, output = timed(["nbgrader", "validate", str(notebook)], release, env)
    return seconds, (output.strip().splitlines() or ["(no output)"])[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", nargs="*", choices=["quick", "full"], default=["quick", "full"],
                        help="grading runs to time (default: both)")  # fmt: skip
    parser.add_argument("--no-validate", action="store_true", help="skip the student's Validate")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-class-") as scratch:
        scratch = Path(scratch)
        write_class(scratch / "submitted")
        for length in args.lengths:
            seconds, students = autograde(scratch / "submitted", scratch / f"out-{length}", length == "full")
            options = ' ARGS="--full"' if length == "full" else ""
            rows.append((f"`make autograde ...{options}` ({length} length), 3 students", seconds, students))
            print(f"{length}: {seconds:.0f} s ({students})", flush=True)
        if not args.no_validate:
            seconds, said = validate(scratch)
            rows.append(("student Validate, correct notebook (`nbgrader validate`)", seconds, said))
            print(f"validate: {seconds:.0f} s ({said})", flush=True)
    cores = len(os.sched_getaffinity(0))
    sandbox = "without the sandbox (no bubblewrap here)" if sandbox_options() else "sandboxed"
    print(f"\n{cores} cores, {sandbox}, {time.strftime('%Y-%m-%d')}\n")
    print("| run | time | students |\n| --- | --- | --- |")
    for label, seconds, detail in rows:
        print(f"| {label} | {seconds // 60:.0f} min {seconds % 60:.0f} s | {detail} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
