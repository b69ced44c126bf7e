"""The guard that the grader installs in a student's kernel (``autograder/kernel_guard.py``).

It changes interpreter-wide state (torch's functions, builtins, sys.meta_path), so each test runs
its scenario in a fresh Python process and reads what the process printed.
"""

import subprocess
import sys
import textwrap

from autograder.course import ROOT

SETUP = """
import torch
from autograder import guard as grader_side
from autograder.kernel_guard import install

guard = install(grader_side.check_sources(), ["autograder.checks.ch16_optimizers"])
"""


def run(scenario: str) -> str:
    script = SETUP + textwrap.dedent(scenario)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_creating_torch_optimizers_is_not_patching():
    # torch wraps SGD.step the first time an SGD is created; that must not fail the test.
    out = run("""
        p = torch.zeros(2, requires_grad=True)
        for make in (torch.optim.SGD, torch.optim.Adam, torch.optim.Adagrad, torch.optim.RMSprop):
            make([p], lr=0.1)
        print("changed:", guard.snapshot.changed())
    """)
    assert "changed: []" in out


def test_patching_is_detected_and_undone():
    out = run("""
        original = torch.allclose
        torch.allclose = lambda *args, **kwargs: True
        torch.optim.SGD.step = lambda self, closure=None: None
        print("changed:", sorted(guard.snapshot.changed()))
        guard.snapshot.restore()
        print("restored:", torch.allclose is original, guard.snapshot.changed())
    """)
    assert "torch.allclose" in out and "torch.optim.sgd.SGD.step" in out
    assert "restored: True []" in out


def test_a_test_cell_that_patches_fails():
    out = run("""
        def cell():
            guard.run_test("demo", "import torch\\ntorch.equal = lambda *a: True", "TOKEN")
        try:
            cell()
        except AssertionError as err:
            print("failed:", err)
        def honest():
            guard.run_test("demo", "assert torch.equal(torch.ones(1), torch.ones(1))", "TOKEN")
        honest()
    """)
    assert "failed: test demo: the code under test changed torch.equal" in out
    assert out.count("TOKEN") == 1, "only the honest test may print its token"
