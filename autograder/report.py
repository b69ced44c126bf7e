"""What a grading run writes for the instructor, from the students' outcomes.

- ``grades.csv``: one row per student (nbgrader's export columns, then status, tampered, message);
- ``tests.csv``: one row per student and test, with the status of the student's row and the
  check's message; students who were not graded get 0 on every test;
- ``lms.csv``: student_id, score, max_score, percent, status, message: for a learning-management
  system (a row that is not ``graded`` says why in its message);
- ``report.html``: the settings of the run, score distribution, statuses, the tests that fail
  most often and why, and each student's row with a link to their feedback page.

``python -m autograder export OUT... --to FILE`` joins the ``grades.csv`` of several grading
folders into one table, one column per assignment, for an LMS.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

import pandas as pd


def write_reports(out: Path, assignment: str, outcomes: list, tests: list[tuple[str, float]],
                  settings: dict | None = None) -> None:
    """``settings``: how the run graded (the grader's settings, workers as run), for the report."""
    from autograder.grade import GRADE_COLUMNS, TEST_COLUMNS

    grades = pd.DataFrame(
        [{"assignment": assignment, "raw_score": o.score if o.tests else None,
          **{k: v for k, v in asdict(o).items() if k not in ("tests", "resumed")}} for o in outcomes],
        columns=sorted(set(GRADE_COLUMNS) | {"seconds"}),
    )  # fmt: skip
    grades.reindex(columns=GRADE_COLUMNS).to_csv(out / "grades.csv", index=False)
    rows = []
    for o in outcomes:
        found = {t["test"]: t for t in o.tests}
        for name, max_score in tests:
            test = found.get(name, {})
            rows.append({"assignment": assignment, "student_id": o.student_id, "test": name,
                         "score": float(test.get("score", 0.0)), "max_score": max_score,
                         "status": o.status, "message": test.get("message", "")})  # fmt: skip
    per_test = pd.DataFrame(rows, columns=TEST_COLUMNS)
    per_test.to_csv(out / "tests.csv", index=False)
    lms = grades[["student_id", "score", "max_score", "status", "message"]].copy()
    lms.insert(3, "percent", (100 * lms.score / lms.max_score.where(lms.max_score > 0)).round(1))
    lms.to_csv(out / "lms.csv", index=False)
    links = {s: feedback_link(out, assignment, s) for s in grades.student_id}
    (out / "report.html").write_text(report_page(assignment, grades, per_test, settings or {}, links))


def feedback_link(out: Path, assignment: str, student: str) -> str | None:
    """The student's feedback page, relative to OUT (where report.html is), if there is one."""
    pages = sorted((out / "feedback" / student / assignment).glob("*.html"))
    return "/".join(quote(part) for part in pages[0].relative_to(out).parts) if pages else None


def _size(n: int) -> str:
    unit = max((u for u in range(5) if n >= 1024**u), default=0)
    return f"{n / 1024**unit:.3g} {['bytes', 'KiB', 'MiB', 'GiB', 'TiB'][unit]}"


# How report.html shows the grader's settings; others show as they are.
SETTINGS = {
    "length": ("Length", str),
    "parameters": ("Set in the parameters cell",
                   lambda v: ", ".join(f"{k} = {x!r}" for k, x in sorted(v.items())) or "nothing"),
    "timeout": ("Time limit per cell", lambda v: f"{v} s"),
    "stalled_timeout": ("Time limit per cell once a cell timed out", lambda v: f"{v} s"),
    "notebook_timeout": ("Time limit per student", lambda v: f"{v} s"),
    "workers": ("Students graded at once", str),
    "memory": ("Memory limit per kernel", lambda v: _size(v) if v else "none"),
    "max_output": ("Output kept per notebook", _size),
    "isolate": ("Sandbox", lambda v: "bubblewrap" if v else "none (--no-sandbox: trusted notebooks only)"),
}  # fmt: skip


def settings_table(settings: dict) -> str:
    rows = []
    for name, value in settings.items():
        label, show = SETTINGS.get(name, (name, repr))
        rows.append(f"<tr><th>{html.escape(label)}</th><td>{html.escape(show(value))}</td></tr>")
    return f"<table>{''.join(rows)}</table>" if rows else "<p>Not recorded.</p>"


def failing_tests(per_test: pd.DataFrame) -> pd.DataFrame:
    """Per test, over the students whose notebooks ran: how many lost points, the mean score,
    and the most common message."""
    ran = per_test[per_test.status.isin(["graded", "timeout", "crashed"])]
    if ran.empty:
        return pd.DataFrame(columns=["test", "max_score", "students", "failed", "failed_percent",
                                     "mean_score", "most_common_message"])  # fmt: skip
    rows = []
    for name, group in ran.groupby("test", sort=False):
        failed = group[group.score < group.max_score]
        messages = failed.message.fillna("").replace("", pd.NA).dropna()
        rows.append({
            "test": name, "max_score": group.max_score.iloc[0], "students": len(group),
            "failed": len(failed), "failed_percent": round(100 * len(failed) / len(group), 1),
            "mean_score": round(group.score.mean(), 2),
            "most_common_message": messages.value_counts().index[0] if len(messages) else "",
        })  # fmt: skip
    table = pd.DataFrame(rows)
    return table.sort_values(["failed", "test"], ascending=[False, True]).reset_index(drop=True)


def report_page(assignment: str, grades: pd.DataFrame, per_test: pd.DataFrame, settings: dict,
                links: dict[str, str | None]) -> str:
    failing = failing_tests(per_test)
    statuses = grades.status.value_counts().rename_axis("status").reset_index(name="students")
    max_score = grades.max_score.max() if len(grades) else 0
    scored = grades[grades.status != "missing"].score
    summary = (
        f"{len(grades)} students; mean score {scored.mean():.2f} / {max_score:g}, "
        f"median {scored.median():.2f}" if len(scored) else f"{len(grades)} students"
    )
    students = grades[["student_id", "status", "score", "max_score", "tampered", "message"]].copy()
    for column in ("student_id", "status", "message"):  # the table keeps the links' HTML as is
        students[column] = students[column].fillna("").astype(str).map(html.escape)
    students["feedback"] = [
        f'<a href="{html.escape(links[s])}">feedback</a>' if links.get(s) else "" for s in grades.student_id
    ]
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Grading report: {html.escape(assignment)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}}</style></head>
<body><h1>Grading report: {html.escape(assignment)}</h1>
<p>{html.escape(summary)}</p>
<h2>Settings</h2>
{settings_table(settings)}
<h2>Score distribution</h2>
{_histogram(grades, max_score)}
<h2>Statuses</h2>
{statuses.to_html(index=False)}
<h2>Tests that fail most often</h2>
<p>Over the notebooks that ran (graded, timeout, crashed).</p>
{_bar_chart(failing)}
{failing.to_html(index=False)}
<h2>Students</h2>
{students.to_html(index=False, na_rep="", escape=False)}
</body></html>
"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _histogram(grades: pd.DataFrame, max_score: float) -> str:
    if grades.empty:
        return "<p>No students.</p>"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.hist(grades.score, bins=min(20, max(int(max_score), 1) + 1), range=(0, max(max_score, 1)), color="C0")
    ax.set_xlabel("score")
    ax.set_ylabel("students")
    return _png(fig)


def _bar_chart(failing: pd.DataFrame) -> str:
    shown = failing[failing.failed > 0].head(15)
    if shown.empty:
        return "<p>No test failed.</p>"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.35 * len(shown) + 0.8))
    ax.barh(shown.test[::-1], shown.failed_percent[::-1], color="C3")
    ax.set_xlabel("% of students who lost points")
    ax.set_xlim(0, 100)
    return _png(fig)


def export(folders: list[Path], target: Path) -> pd.DataFrame:
    """One row per student, one score column per assignment, then total and max total."""
    frames = [pd.read_csv(Path(f) / "grades.csv") for f in folders]
    grades = pd.concat(frames, ignore_index=True)
    table = grades.pivot_table(index="student_id", columns="assignment", values="score", aggfunc="max")
    table = table.fillna(0.0)
    maxima = grades.groupby("assignment").max_score.max()
    table["total"] = table.sum(axis=1)
    table["max_total"] = maxima.reindex(table.columns[:-1]).sum()
    table.columns.name = None
    table.reset_index().to_csv(target, index=False)
    return table
