"""nbgrader configuration of the course: the repository is nbgrader's course directory.

`make release`, the autograder and nbgrader's own commands all read this file, e.g.
`nbgrader db student list --config autograder/nbgrader_config.py` from the repository root.
"""

import os

import nbgrader
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
# Feedback pages: nbgrader's, with the tests named in the navigation, long messages wrapped and
# MathJax inlined, so that a page works offline (autograder/feedback.py).
c.HTMLExporter.extra_template_basedirs = [
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates"),
    os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates"),
]
c.HTMLExporter.template_name = "dlcourse_feedback"  # based on nbgrader's "feedback"
c.HTMLExporter.template_file = "dlcourse.html.j2"  # not index.html.j2: it extends nbgrader's
c.HTMLExporter.filters = {"inline_mathjax": "autograder.feedback.inline_mathjax"}
