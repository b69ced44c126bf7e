"""Command line: `python -m autograder grade ...` and `python -m autograder release ...`."""

import argparse
import ast
import sys


def _parameter(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="autograde a folder of submissions")
    grade.add_argument("assignment", help="assignment id, e.g. ch10_softmax")
    grade.add_argument("--submissions", required=True,
                       help="folder of <student_id>/<assignment>/<notebook>.ipynb")
    grade.add_argument("--out", required=True, help="where grades.csv, tests.csv and feedback/ go")
    grade.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    grade.add_argument("--param", type=_parameter, action="append", default=[], metavar="NAME=VALUE",
                       help="override a value of the notebook's parameters cell, e.g. num_epochs=1")

    release = commands.add_parser("release", help="regenerate notebooks/ from solutions/")
    release.add_argument("assignments", nargs="*", help="assignment ids (default: all)")

    args = parser.parse_args(argv)
    if args.command == "release":
        from autograder.release import release as run_release

        run_release(args.assignments)
        return 0

    from autograder.grade import grade as run_grade

    try:
        outcomes = run_grade(args.assignment, args.submissions, args.out, args.timeout,
                             dict(args.param))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    graded = sum(o.status == "graded" for o in outcomes)
    print(f"graded {graded} of {len(outcomes)} submissions; results in {args.out}/grades.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
