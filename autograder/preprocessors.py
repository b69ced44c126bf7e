"""nbgrader preprocessors the autograder adds to nbgrader's own pipelines.

Releasing (between nbgrader's SaveCells and ClearHiddenTests): :class:`LabelTests`.
Sanitizing a submission (before nbgrader's OverwriteCells): :class:`RestoreCells`.
Autograding: :class:`InjectParameters`, then ``autograder.execute.GuardedExecute``.
Feedback: :class:`FeedbackSummary`, :class:`RedactHiddenTests`, :class:`RedactCheckSource`.

What the grader found out about a submission (restored cells, tampering, timeouts, a crash)
is kept in the notebook's metadata under ``autograder`` (:data:`REPORT_KEY`), which the grader
resets at the start, so a submission cannot write it.
"""

import copy
import html
import re
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Dict, List, Unicode

HIDDEN_MARKER = "BEGIN HIDDEN TESTS"
REPORT_KEY = "autograder"
REDACTED = "[output removed by the autograder: it showed hidden test code]\n"


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def is_test(cell) -> bool:
    """An autograded test cell: nbgrader ``grade`` without ``solution``."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_protected(cell) -> bool:
    """A cell the student may not change: read-only (locked) or a test."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("locked")) or is_test(cell)


def report(nb) -> dict:
    """The grader's findings in the notebook's metadata (created empty when missing)."""
    return nb.metadata.setdefault(REPORT_KEY, {})


class InjectParameters(NbGraderPreprocessor):  # enabled by default, unlike nbconvert's base
    """Append ``name = value`` lines to the cell tagged ``parameters`` (papermill's convention).

    Runs after nbgrader has restored the instructor's read-only cells, so it is the course's
    parameters cell that gets shortened, e.g. fewer epochs when grading. A read-only tagged
    cell wins over one a student tagged.
    """

    parameters = Dict(help="parameter name -> Python value to assign").tag(config=True)

    def preprocess(self, nb, resources):
        if not self.parameters:
            return nb, resources
        lines = [f"{name} = {value!r}" for name, value in self.parameters.items()]
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        tagged.sort(key=lambda c: not nbgrader_meta(c).get("locked"))
        if tagged:
            cell = tagged[0]
            cell.source = cell.source.rstrip() + "\n# set by the autograder\n" + "\n".join(lines)
        else:
            self.log.warning("no cell tagged 'parameters'; ignoring %s", lines)
        return nb, resources


class LabelTests(NbGraderPreprocessor):  # enabled by default, unlike nbconvert's base
    """Start each test cell of the release with a comment that says what it tests and its
    points. A hidden-test cell is empty in the release; its comment says when its tests run.

    Runs after SaveCells, so the gradebook keeps the instructor's cells as written (grading runs
    those), and before ClearHiddenTests, which keeps the comment (it is outside the hidden
    region) and after which the checksums of the release are computed."""

    def preprocess(self, nb, resources):
        tested = "the exercise"
        for cell in nb.cells:
            meta = nbgrader_meta(cell)
            if meta.get("solution"):
                tested = " and ".join(re.findall(r"^(?:def|class)\s+(\w+)", cell.source, re.M)) or tested
            elif is_test(cell):
                hidden = HIDDEN_MARKER in cell.source
                cell.source = test_label(tested, meta.get("points", 0), hidden) + cell.source
        return nb, resources


def test_label(tested: str, points, hidden: bool) -> str:
    """The comment that starts a test cell of the release, e.g. for softmax's hidden tests."""
    worth = f"{_points(points)} point{'' if float(points) == 1 else 's'}"
    if hidden:
        return (f"# Hidden tests of {tested} ({worth}): they run when your notebook is graded,\n"
                "# on more cases than the test above; the feedback shows their result.\n")
    return f"# Test of {tested} ({worth}): run this cell to check your solution.\n"


class RestoreCells(NbGraderPreprocessor):
    """Rebuild the submission around the instructor's release notebook.

    - Every cell with a ``grade_id`` in the release (read-only cells, tests, solution cells)
      comes back in the release's order; deleted ones are put back from the release.
    - The student's other cells stay where they were relative to the next graded cell.
    - Read-only or test cells whose source, type or nbgrader metadata the student changed,
      deleted ones, and cells the student marked as graded, are reported as tampering; the
      instructor's version is graded (nbgrader's OverwriteCells then puts the source version,
      hidden tests included, in place).
    """

    release_directory = Unicode(help="the course's release folder: <this>/<assignment>/<nb>.ipynb").tag(
        config=True
    )

    def release_notebook(self, resources) -> nbformat.NotebookNode:
        meta = resources["nbgrader"]
        path = Path(self.release_directory) / meta["assignment"] / f"{meta['notebook']}.ipynb"
        return nbformat.read(path, as_version=4)

    def preprocess(self, nb, resources):
        release = self.release_notebook(resources)
        graded = [c for c in release.cells if nbgrader_meta(c).get("grade_id")]
        order = [nbgrader_meta(c)["grade_id"] for c in graded]
        reference = {nbgrader_meta(c)["grade_id"]: c for c in graded}

        anchors, before, pending = {}, {}, []
        added = []  # cells the student gave nbgrader metadata that the release does not have
        for cell in nb.cells:
            grade_id = nbgrader_meta(cell).get("grade_id")
            if grade_id in reference and grade_id not in anchors:
                anchors[grade_id] = cell
                before[grade_id], pending = pending, []
            else:
                if nbgrader_meta(cell).get("grade") or nbgrader_meta(cell).get("locked"):
                    added.append(grade_id or "(no id)")
                cell.metadata.pop("nbgrader", None)  # a free cell; duplicates lose their id too
                pending.append(cell)

        cells, deleted, edited = [], [], []
        for grade_id in order:
            original = reference[grade_id]
            if grade_id not in anchors:
                cells.append(copy.deepcopy(original))
                if is_protected(original):
                    deleted.append(grade_id)
                continue
            cells += before[grade_id]
            cell = anchors[grade_id]
            edit = self._edited if is_protected(original) else self._edited_metadata
            if edit(cell, original):
                edited.append(grade_id)
            if is_protected(original) or self._edited_metadata(cell, original):
                cell = self._instructor_version(cell, original)
            cells.append(cell)
        cells += pending

        canonical = [g for g in order if g in anchors]
        moved = [g for g, r in zip(anchors, canonical, strict=True) if g != r]  # student's order
        nb.cells = cells
        nb.metadata[REPORT_KEY] = {  # replaces anything the submission put there
            "deleted": deleted,
            "edited": edited,
            "added_graded": added,
            "moved": moved,
            "tampered": bool(deleted or edited or added),
        }
        return nb, resources

    @staticmethod
    def _normalized(source: str) -> str:
        return "\n".join(line.rstrip() for line in source.strip().splitlines())

    def _edited(self, cell, original) -> bool:
        return (
            cell.cell_type != original.cell_type
            or self._normalized(cell.source) != self._normalized(original.source)
            or self._edited_metadata(cell, original)
        )

    @staticmethod
    def _edited_metadata(cell, original) -> bool:
        keys = ("grade", "solution", "locked", "points", "task", "grade_id")
        mine, theirs = nbgrader_meta(cell), nbgrader_meta(original)
        return any(mine.get(k) != theirs.get(k) for k in keys)

    @staticmethod
    def _instructor_version(cell, original):
        """The release's cell, keeping the student's source for an editable (solution) cell."""
        restored = copy.deepcopy(original)
        if not is_protected(original) and original.cell_type == cell.cell_type:
            restored.source = cell.source
        return restored


class RedactHiddenTests(NbGraderPreprocessor):  # enabled by default, unlike nbconvert's base
    """Hide hidden-test code and tracebacks from feedback; keep each test's name and message."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or HIDDEN_MARKER not in cell.source:
            return cell, resources
        name = cell.metadata.get("nbgrader", {}).get("grade_id", "hidden test")
        cell.source = f"# {name}: hidden test (its code is not shown)"
        outputs = []
        for output in cell.outputs:
            if output.output_type == "error":
                output.traceback = [f"{output.ename}: {output.evalue}"]
                outputs.append(output)
        cell.outputs = outputs  # printed output of hidden code could reveal it too
        return cell, resources


class RedactCheckSource(NbGraderPreprocessor):
    """Remove any output of the student's own cells that shows a line of hidden code (the
    hidden checks' source or a hidden test), e.g. a submission printing the checks it found.
    Under the sandbox the checks' files are not there to print; this is the second line."""

    secret_lines = List(Unicode(), help="lines (stripped) that must not reach a student").tag(config=True)

    def preprocess(self, nb, resources):
        self._secrets = set(self.secret_lines)
        self._long = [line for line in self._secrets if len(line) >= 30]
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or HIDDEN_MARKER in cell.source or not self._secrets:
            return cell, resources
        for i, output in enumerate(cell.outputs):
            if self._reveals(_output_text(output)):
                cell.outputs[i] = nbformat.v4.new_output("stream", name="stdout", text=REDACTED)
        return cell, resources

    def _reveals(self, text: str) -> bool:
        if not text:
            return False
        if any(line.strip() in self._secrets for line in text.splitlines()):
            return True
        return any(line in text for line in self._long)


def _output_text(output) -> str:
    parts = []
    if output.get("text"):
        parts.append(output.text if isinstance(output.text, str) else "".join(output.text))
    for value in (output.get("data") or {}).values():
        parts.append(value if isinstance(value, str) else "".join(value) if isinstance(value, list) else "")
    if output.output_type == "error":
        parts += [output.get("evalue", ""), *output.get("traceback", [])]
    return "\n".join(parts)


class FeedbackSummary(NbGraderPreprocessor):
    """Put a table at the top of the feedback: each test's name, points and the check's
    message, and what the grader had to do (restored cells, time limits, a crash)."""

    def preprocess(self, nb, resources):
        rows = []
        for cell in nb.cells:
            if not is_test(cell):
                continue
            meta = nbgrader_meta(cell)
            score, points = meta.get("score"), meta.get("points", 0)
            message = test_message(cell) or ("passed" if score == points else "")
            rows.append(
                f"<tr><td><code>{html.escape(meta.get('grade_id', ''))}</code></td>"
                f"<td>{_points(score)} / {_points(points)}</td><td>{html.escape(message)}</td></tr>"
            )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in grading_notes(nb.metadata.get(REPORT_KEY, {})))
        text = (
            "## Autograder summary\n\n"
            + (f"<ul>{notes}</ul>\n\n" if notes else "")
            + "<table><tr><th>test</th><th>points</th><th>result</th></tr>"
            + "".join(rows)
            + "</table>\n"
        )
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(text))
        return nb, resources


def _points(value) -> str:
    return "-" if value is None else f"{float(value):g}"


def test_message(cell, limit: int = 300) -> str:
    """``ename: evalue`` of a cell's first error output, on one line ('' when it passed)."""
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            text = " ".join(f"{output.ename}: {output.evalue}".split())
            return text if len(text) <= limit else text[: limit - 1] + "…"
    return ""


def grading_notes(found: dict) -> list[str]:
    """Plain sentences for what the grader recorded in the notebook's metadata."""
    notes = []
    if found.get("edited"):
        notes.append("Read-only or test cells were edited; the instructor's version was graded: "
                     + ", ".join(found["edited"]))  # fmt: skip
    if found.get("deleted"):
        notes.append("Deleted read-only or test cells were put back: " + ", ".join(found["deleted"]))
    if found.get("added_graded"):
        notes.append("Cells marked as graded by the submission were ignored: "
                     + ", ".join(found["added_graded"]))  # fmt: skip
    if found.get("moved"):
        notes.append("Graded cells were moved back to their place: " + ", ".join(found["moved"]))
    notes += [event["message"] for event in found.get("events", [])]
    return notes
