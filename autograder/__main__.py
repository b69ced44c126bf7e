"""Command line: `python -m autograder grade ...`, `release ...` and `export ...`."""

import argparse
import ast
import importlib.util
import re
import sys


def _parameter(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def _size(text: str) -> int:
    """Bytes from '4G', '512MiB', '2.5GB', '1000000' (binary units)."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size such as 4G or 512M, got {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    return int(number * 1024 ** " kmgt".index(unit or " "))


def main(argv=None) -> int:
    if importlib.util.find_spec("nbgrader") is None:
        print(f"error: {sys.executable} lacks the course's packages (nbgrader...). Run the "
              "autograder from the course environment: `make env` creates .venv, then "
              "`.venv/bin/python -m autograder ...`, or `make autograde ...`.", file=sys.stderr)
        return 2
    from autograder.grade import LIMITS

    quick, full = LIMITS["quick"], LIMITS["full"]
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="autograde a folder of submissions")
    grade.add_argument("assignment", help="assignment id, e.g. ch10_softmax")
    grade.add_argument("--submissions", required=True,
                       help="folder of <student_id>/<assignment>/<notebook>.ipynb")
    grade.add_argument("--out", required=True,
                       help="where grades.csv, tests.csv, lms.csv, report.html, feedback/ and the "
                       "gradebook go; rerunning into the same folder skips students already graded")
    grade.add_argument("--full", action="store_true",
                       help="run the notebooks at full length (their parameters cell as written) "
                       "with the full-length limits; default: quick length, each notebook's "
                       "quick_parameters (metadata dlcourse.quick_parameters), enough for the "
                       "hidden tests, which test functions, not training")
    grade.add_argument("--param", type=_parameter, action="append", default=[], metavar="NAME=VALUE",
                       help="override one value of the parameters cell, e.g. num_epochs=2 "
                       "(on top of the quick values, or of the notebook's own with --full)")
    grade.add_argument("--timeout", type=int, default=None, metavar="SECONDS",
                       help="seconds per cell before it is interrupted (default "
                       f"{quick['timeout']}, {full['timeout']} with --full)")
    grade.add_argument("--stalled-timeout", type=int, default=None, metavar="SECONDS",
                       help="seconds per cell once a cell of the notebook has timed out: a stalled "
                       "function then costs seconds in each later cell that calls it (default "
                       f"{quick['stalled_timeout']}, {full['stalled_timeout']} with --full)")
    grade.add_argument("--notebook-timeout", type=int, default=None, metavar="SECONDS",
                       help="seconds per student, everything included (default "
                       f"{quick['notebook_timeout']}, {full['notebook_timeout']} with --full)")
    grade.add_argument("--workers", type=int, default=0,
                       help="students graded at once (default: one per CPU core)")
    grade.add_argument("--memory", type=_size, default="4G",
                       help="memory limit per kernel, e.g. 4G (default 4G; 0: none)")
    grade.add_argument("--max-output", type=_size, default="1M",
                       help="output kept per notebook; more is dropped, errors excepted (default 1M)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run kernels without bubblewrap isolation (trusted notebooks only)")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")

    release = commands.add_parser("release", help="regenerate notebooks/ from solutions/")
    release.add_argument("assignments", nargs="*", help="assignment ids (default: all)")

    export = commands.add_parser("export", help="one CSV of the scores of several gradings, for an LMS")
    export.add_argument("folders", nargs="+", help="OUT folders of `grade` (one per assignment)")
    export.add_argument("--to", required=True, help="the CSV to write")

    args = parser.parse_args(argv)
    if args.command == "release":
        from autograder.release import release as run_release

        run_release(args.assignments)
        return 0
    if args.command == "export":
        from autograder.report import export as run_export

        table = run_export(args.folders, args.to)
        print(f"wrote {len(table)} students to {args.to}")
        return 0

    from autograder.grade import grade as run_grade
    from autograder.sandbox import SandboxUnavailable

    try:
        outcomes = run_grade(
            args.assignment, args.submissions, args.out, full=args.full, parameters=dict(args.param),
            timeout=args.timeout, stalled_timeout=args.stalled_timeout,
            notebook_timeout=args.notebook_timeout, workers=args.workers, memory=args.memory,
            max_output=args.max_output, isolate=not args.no_sandbox, progress=not args.no_progress,
        )  # fmt: skip
    except (ValueError, FileNotFoundError, SandboxUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    counts = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    print(f"{len(outcomes)} submissions ({summary}); results in {args.out}/grades.csv, "
          f"report in {args.out}/report.html")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
