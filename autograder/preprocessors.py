"""nbgrader preprocessors the autograder adds to nbgrader's own pipelines."""

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Dict

HIDDEN_MARKER = "BEGIN HIDDEN TESTS"


class InjectParameters(NbGraderPreprocessor):  # enabled by default, unlike nbconvert's base
    """Append ``name = value`` lines to the cell tagged ``parameters`` (papermill's convention).

    Runs after nbgrader has restored the instructor's read-only cells, so it is the course's
    parameters cell that gets shortened, e.g. fewer epochs when grading.
    """

    parameters = Dict(help="parameter name -> Python value to assign").tag(config=True)

    def preprocess(self, nb, resources):
        if not self.parameters:
            return nb, resources
        lines = [f"{name} = {value!r}" for name, value in self.parameters.items()]
        for cell in nb.cells:
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = cell.source.rstrip() + "\n# set by the autograder\n" + "\n".join(lines)
                break
        else:
            self.log.warning("no cell tagged 'parameters'; ignoring %s", lines)
        return nb, resources


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
