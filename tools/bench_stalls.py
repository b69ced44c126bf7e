"""Benchmark: how often notebook runs lose a kernel's execute reply, and what that costs.

    python -m tools.bench_stalls [--runs 10] [--chapters ch03_linear_model ...] [--drop-every N]

Runs each widget chapter (the source notebooks that use ``ipywidgets``; ``--chapters`` picks
some) ``--runs`` times with its quick parameters through ``tools.book.run_notebook``, the path of
the book build and the tests, and prints for each: runs, failed runs, stalls (cells whose reply
was lost and that went on after the grace), the seconds those stalls cost, the longest cell and
the mean run time. ``--drop-every N`` makes the kernel drop every N-th execute reply (as the tests
do), to measure what recovering costs. A benchmark, not a test: timings on shared machines vary.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pandas as pd
import papermill
from nbformat.v4 import new_code_cell
from tqdm import tqdm

from autograder.course import ROOT, assignments, put_root_on_pythonpath, quick_parameters, source_notebook
from tests.notebooks import dropping_replies
from tools.book import run_notebook


def widget_chapters() -> list[str]:
    return [a for a in assignments() if "ipywidgets" in source_notebook(a).read_text(encoding="utf-8")]


def with_dropped_replies(notebook: Path, every: int, target: Path) -> Path:
    """A copy of ``notebook`` whose first cell makes the kernel drop every ``every``-th reply."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(0, new_code_cell(dropping_replies(every)))
    nbformat.write(nb, target)
    return target


def run_once(assignment: str, scratch: Path, drop_every: int, log) -> dict:
    """One run of a chapter: seconds, stalls and their cost, the longest cell, or the error."""
    source = source_notebook(assignment)
    notebook = with_dropped_replies(source, drop_every, scratch / "in.ipynb") if drop_every else source
    stalls = []

    def lost(cell, cell_index, waited):
        stalls.append(waited)
        log(f"{assignment}: cell {cell_index} lost its reply; went on after {waited:.1f} s")

    started = time.monotonic()
    error = None
    try:
        run_notebook(notebook, quick_parameters(source), cwd=source.parent, output=scratch / "out.ipynb",
                     on_lost_reply=lost)  # fmt: skip
    except (papermill.PapermillExecutionError, TimeoutError) as err:
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:200]}"
        log(f"{assignment}: run failed: {error}")
    seconds = time.monotonic() - started
    output = scratch / "out.ipynb"  # papermill saves it as the cells run
    cells = nbformat.read(output, as_version=4).cells if output.exists() else []
    durations = [(c.metadata.get("papermill", {}).get("duration") or 0, i) for i, c in enumerate(cells)]
    longest, index = max(durations, default=(0, None))
    return {"seconds": seconds, "stalls": len(stalls), "stall_s": float(sum(stalls)), "longest": longest,
            "longest_cell": index, "failed": error is not None}  # fmt: skip


def summary(runs: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(runs)
    rows = []
    for chapter, group in frame.groupby("chapter", sort=False):
        worst = group.loc[group.longest.idxmax()]
        rows.append({
            "chapter": chapter, "runs": len(group), "failed": int(group.failed.sum()),
            "stalls": int(group.stalls.sum()), "stall cost s": round(group.stall_s.sum(), 1),
            "max cell s": f"{worst.longest:.1f} (cell {worst.longest_cell})",
            "mean run s": round(group.seconds.mean(), 1),
        })  # fmt: skip
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_stalls", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each chapter (default 10)")
    parser.add_argument("--chapters", nargs="+", metavar="CHAPTER", help="default: every widget chapter")
    parser.add_argument("--drop-every", type=int, default=0, metavar="N",
                        help="make the kernel drop every N-th execute reply (default: never)")  # fmt: skip
    args = parser.parse_args(argv)
    chapters = args.chapters or widget_chapters()
    put_root_on_pythonpath()
    logging.getLogger("papermill").setLevel(logging.ERROR)  # the stalls are logged below, by chapter
    if (ROOT / ".data").is_dir():
        os.environ.setdefault("DLCOURSE_DATA", str(ROOT / ".data"))
    runs = []
    progress = tqdm(total=args.runs * len(chapters), desc="notebook runs", unit="run")
    for chapter in chapters:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-stalls-") as scratch:
                run = run_once(chapter, Path(scratch), args.drop_every, progress.write)
            runs.append({"chapter": chapter, **run})
            progress.update()
    progress.close()
    print(summary(runs).to_string(index=False))
    forced = f" (forced: the kernel dropped every {args.drop_every}-th reply)" if args.drop_every else ""
    print(f"\n{len(runs)} runs, {sum(r['stalls'] for r in runs)} lost replies recovered{forced}")


if __name__ == "__main__":
    main(sys.argv[1:])
