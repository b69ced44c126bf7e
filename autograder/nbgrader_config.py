"""nbgrader configuration of the course: the repository is nbgrader's course directory.

`make release`, the autograder and nbgrader's own commands all read this file, e.g.
`nbgrader db student list --config autograder/nbgrader_config.py` from the repository root.
"""

import os

from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import SaveCells

c = get_config()  # noqa: F821  (traitlets provides get_config when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
c.CourseDirectory.course_id = "dlcourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
# Releasing needs no gradebook; grading builds its own in a scratch folder.
c.GenerateAssignment.no_database = True
c.SaveCells.enabled = False
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# The release's test cells say what they test and their points (hidden ones are empty).
release_steps = GenerateAssignment.class_traits()["preprocessors"].default()
after_saving = release_steps.index(SaveCells) + 1
c.GenerateAssignment.preprocessors = [
    *release_steps[:after_saving], "autograder.preprocessors.LabelTests", *release_steps[after_saving:]
]
