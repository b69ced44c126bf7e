"""The kernel sandbox on its own (``autograder/sandbox.py``): what a command inside can see."""

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.course import ROOT
from autograder.sandbox import Sandbox, SandboxUnavailable, check_available


@pytest.fixture
def box(tmp_path):
    try:
        check_available()
    except SandboxUnavailable as err:
        pytest.skip(str(err))
    return Sandbox(root=tmp_path / "box", workdir=tmp_path / "box" / "work", memory=0)


def run_inside(box: Sandbox, script: str) -> str:
    box.prepare()
    command = box.wrap([sys.executable, "-c", script])
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=box.env())
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_read_only_paths_under_tmp_show_through_the_private_tmp(box):
    # CI may clone the course (and its .venv) under /tmp; the sandbox has a /tmp of its own.
    with tempfile.TemporaryDirectory(dir="/tmp") as shared:
        (Path(shared) / "data.txt").write_text("visible")
        box.read_only.append(shared)
        out = run_inside(box, f"""
print(open({shared!r} + "/data.txt").read())
try:
    open({shared!r} + "/new.txt", "w")
except OSError:
    print("read-only")
""")
    assert out.split() == ["visible", "read-only"], out


def test_the_course_is_hidden(box):
    secret = ROOT / "autograder" / "checks" / "ch10_softmax.py"
    out = run_inside(box, f"import os; print(os.path.exists({str(secret)!r}))")
    assert out.strip() == "False"
