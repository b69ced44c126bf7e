import subprocess
import sys

from autograder.course import ROOT


def test_python_code_passes_ruff():
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "autograder", "tests", "tools", "book/_ext"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
