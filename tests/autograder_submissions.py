"""Fixture submissions for the autograder's tests, built from the ch10 student release.

Each fixture is a student: a notebook (or a broken or missing one) and what grading it must
give. ``build(folder, context)`` writes them all as ``folder/<student>/ch10_softmax/...``.
Most are trimmed (the free cells after the last exercise, which load data and train, are
deleted, as a student may) to keep the test suite's CPU time down.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from tests.notebooks import nbgrader_meta, submission

ASSIGNMENT = "ch10_softmax"
NOTEBOOK = "ch10_softmax.ipynb"
TESTS = ["softmax_visible", "softmax_hidden", "cross_entropy_visible", "cross_entropy_hidden",
         "accuracy_visible", "accuracy_hidden"]  # fmt: skip
FULL = 9.0

NAIVE_SOFTMAX = '''def softmax(X):
    E = torch.exp(X)
    return E / E.sum(dim=-1, keepdim=True)
'''
UNIFORM_SOFTMAX = '''def softmax(X):
    return torch.ones_like(X) / X.shape[-1]
'''
CONSTANT_ACCURACY = '''def accuracy(logits, y):
    return 0.5
'''


def solved(replace: dict[str, str] | None = None, trim: bool = True) -> nbformat.NotebookNode:
    """The release with the reference solutions, except ``replace`` (grade_id -> source); trimmed
    of the code cells after the last test unless ``trim`` is False."""
    nb = submission(ASSIGNMENT, replace)
    if trim:
        last = position(nb, "accuracy_hidden")
        nb.cells = nb.cells[: last + 1] + [c for c in nb.cells[last + 1 :] if c.cell_type != "code"]
    return nb


def position(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == grade_id)


def after(nb, grade_id: str, *sources: str) -> nbformat.NotebookNode:
    """Insert free code cells right after the cell ``grade_id``."""
    i = position(nb, grade_id) + 1
    nb.cells[i:i] = [new_code_cell(s) for s in sources]
    return nb


@dataclass
class Expect:
    status: str
    score: float | None = None  # None: not checked
    tampered: bool = False
    zero: list[str] = field(default_factory=list)  # tests that must score 0
    full: list[str] = field(default_factory=list)  # tests that must get full points
    message: str = ""  # must appear in the grades.csv message


def fixtures(context: dict) -> dict[str, tuple[object, Expect]]:
    """student -> (notebook, or bytes for a raw file, or None for nothing; expectation)."""
    f = {}
    f["correct"] = (solved(trim=False), Expect("graded", FULL, full=TESTS))
    f["naive"] = (solved({"softmax": NAIVE_SOFTMAX}),
                  Expect("graded", 6, zero=["softmax_visible", "softmax_hidden"]))  # fmt: skip
    f["missing"] = (None, Expect("missing", 0, message="nothing submitted"))
    f["broken"] = (b'{"cells": [', Expect("invalid", 0, message="not a valid notebook"))
    f["wrong_name"] = ("homework.ipynb", Expect("missing", 0, message="found homework.ipynb instead"))

    # Time limits: a loop the interrupt stops (the notebook goes on), one it cannot stop (the
    # kernel is killed, later tests are not run), and a notebook slower than its time limit.
    f["loop"] = (after(solved(), "softmax_hidden", "while True:\n    pass"),
                 Expect("timeout", FULL, message="was interrupted"))  # fmt: skip
    stubborn = """import time
while True:
    try:
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass"""
    f["stubborn_loop"] = (after(solved(), "softmax_hidden", stubborn),
                          Expect("timeout", 3, zero=["cross_entropy_hidden", "accuracy_hidden"],
                                 message="did not stop when interrupted"))  # fmt: skip
    sleeps = [f"import time\ntime.sleep({context['cell_timeout'] - 1})"] * context["slow_cells"]
    f["slow_notebook"] = (after(solved(), "setup", *sleeps),
                          Expect("timeout", 0, message="grading stopped"))

    # The kernel ends: sys.exit is only an error in a cell; os._exit and a segfault kill it.
    f["sys_exit"] = (after(solved(), "softmax_hidden", "import sys\nsys.exit(1)"), Expect("graded", FULL))
    f["os_exit"] = (after(solved(), "softmax_hidden", "import os\nos._exit(1)"),
                    Expect("crashed", 3, zero=["cross_entropy_visible", "accuracy_hidden"],
                           message="kernel died"))  # fmt: skip
    f["segfault"] = (after(solved(), "cross_entropy_hidden", "import ctypes\nctypes.string_at(0)"),
                     Expect("crashed", 6, zero=["accuracy_visible", "accuracy_hidden"],
                            message="kernel died"))  # fmt: skip
    hog = f"memory = bytearray({context['memory'] + 2**30})\nprint('allocated', len(memory))"
    f["memory_hog"] = (after(solved(), "accuracy_hidden", hog),
                       Expect("graded", FULL, message="ran out of memory"))
    flood = "print('x' * 20_000_000)\nfor i in range(200_000):\n    print('spam', i)"
    f["flood"] = (after(solved(), "softmax_hidden", flood), Expect("graded", FULL, message="was dropped"))

    # Cells deleted, moved, edited.
    nb = solved()
    gone = ("softmax_visible", "accuracy_hidden")
    nb.cells = [c for c in nb.cells if nbgrader_meta(c).get("grade_id") not in gone]
    f["deleted"] = (nb, Expect("graded", FULL, tampered=True, full=TESTS,
                               message="Deleted read-only or test cells were put back"))  # fmt: skip
    nb = solved()
    moved = nb.cells.pop(position(nb, "softmax"))
    nb.cells.append(moved)
    ce_tests = [nb.cells.pop(position(nb, g)) for g in ("cross_entropy_visible", "cross_entropy_hidden")]
    nb.cells[position(nb, "cross_entropy"):position(nb, "cross_entropy")] = ce_tests
    f["reordered"] = (nb, Expect("graded", FULL, full=TESTS, message="moved back"))
    nb = solved({"softmax": NAIVE_SOFTMAX})
    visible = nb.cells[position(nb, "softmax_visible")]
    visible.source = "print('all visible tests passed, trust me')"
    visible.metadata["nbgrader"]["locked"] = False
    nb.cells[position(nb, "softmax_hidden")].source = "pass"
    bonus = new_code_cell("print('bonus')", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "locked": True, "points": 100, "schema_version": 3,
        "solution": False, "task": False}})  # fmt: skip
    nb.cells.insert(position(nb, "softmax") + 1, bonus)
    f["tampered"] = (nb, Expect("graded", 6, tampered=True, zero=["softmax_visible", "softmax_hidden"],
                                message="softmax_visible"))  # fmt: skip

    # Monkeypatching before the tests, and during them, must not earn points.
    patch_torch = """import torch, torch.testing
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
torch.Tensor.allclose = lambda self, *args, **kwargs: True"""
    f["patch_torch"] = (after(solved({"softmax": UNIFORM_SOFTMAX}), "softmax", patch_torch),
                        Expect("graded", 6, zero=["softmax_visible", "softmax_hidden"]))  # fmt: skip
    patch_builtins = """import builtins
builtins.abs = lambda x: 0
builtins.AssertionError = type("AssertionError", (Warning,), {})"""
    f["patch_builtins"] = (after(solved({"accuracy": CONSTANT_ACCURACY}), "accuracy", patch_builtins),
                           Expect("graded", 6, zero=["accuracy_visible", "accuracy_hidden"]))  # fmt: skip
    patch_checks = """import sys, types
import autograder.checks._common as common
import autograder.checks.ch10_softmax as checks
common.expect_close = common.expect_tensor = lambda *args, **kwargs: None
checks.expect_close = checks.expect_tensor = lambda *args, **kwargs: None
checks.check_softmax = lambda fn: None
fake = types.ModuleType("autograder.checks.ch10_softmax")
fake.check_softmax = fake.check_cross_entropy = fake.check_accuracy = lambda fn: None
sys.modules["autograder.checks.ch10_softmax"] = fake
check_softmax = lambda fn: None"""
    f["patch_checks"] = (after(solved({"softmax": UNIFORM_SOFTMAX}), "softmax", patch_checks),
                         Expect("graded", 6, zero=["softmax_visible", "softmax_hidden"]))  # fmt: skip
    sneaky = '''def softmax(X):
    import torch
    torch.allclose = lambda *args, **kwargs: True
    return torch.ones_like(X) / X.shape[-1]
'''
    f["patch_during_test"] = (solved({"softmax": sneaky}),
                              Expect("graded", 6, zero=["softmax_visible", "softmax_hidden"],
                                     message=""))  # fmt: skip
    mode = """import torch
from torch.overrides import TorchFunctionMode
class AlwaysClose(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.allclose):
            return True
        return func(*args, **(kwargs or {}))
AlwaysClose().__enter__()"""
    f["torch_mode"] = (after(solved({"softmax": UNIFORM_SOFTMAX}), "softmax", mode),
                       Expect("graded", 6, zero=["softmax_visible", "softmax_hidden"]))  # fmt: skip
    library = """import torch
override = torch.library.Library("aten", "IMPL")
override.impl("allclose", lambda *args, **kwargs: True, "CPU")
override.impl("equal", lambda *args, **kwargs: True, "CPU")"""
    f["torch_library"] = (after(solved({"softmax": UNIFORM_SOFTMAX}), "softmax", library),
                          Expect("graded", 0, zero=TESTS))  # fmt: skip
    disguised = {"softmax": '''class Sure(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.allclose):
            return True
        return super().__torch_function__(func, types, args, kwargs)

def softmax(X):
    return (torch.ones_like(X) / X.shape[-1]).as_subclass(Sure)
''', "accuracy": '''class Close(float):
    def __sub__(self, other):
        return 0.0

def accuracy(logits, y):
    return Close(0.5)
'''}  # fmt: skip
    f["disguised_results"] = (solved(disguised),
                              Expect("graded", None, full=["cross_entropy_hidden"],
                                     zero=["softmax_visible", "softmax_hidden", "accuracy_hidden"]))
    ipython = """ip = get_ipython()
ip.input_transformers_post.append(
    lambda lines: [] if any(w in "".join(lines) for w in ("check_", "run_test", "assert")) else lines)
ip.set_custom_exc((Exception,), lambda *args, **kwargs: None)
ip.showtraceback = lambda *args, **kwargs: None"""
    f["ipython_tricks"] = (after(solved({"softmax": UNIFORM_SOFTMAX}), "setup", ipython),
                           Expect("graded", 0, zero=TESTS, message="did not run to its end"))  # fmt: skip

    # Reading hidden code, escaping the sandbox.
    f["leak"] = (after(solved(), "accuracy_hidden", LEAK), Expect("graded", FULL))
    f["escape"] = (after(solved(), "accuracy_hidden", escape_source(context)), Expect("graded", FULL))
    return f


LEAK = '''import glob, inspect, linecache, os, sys
import autograder.checks.ch10_softmax as checks
for attempt in (lambda: inspect.getsource(checks), lambda: inspect.getsource(checks.check_softmax)):
    try:
        print(attempt())
    except Exception as err:
        print("no source:", type(err).__name__)
for name, entry in list(linecache.cache.items()):
    print("linecache", name, "".join(entry[2]))
near = [glob.glob("/*" * depth + "/autograder/checks/*.py") for depth in range(5)]
for path in glob.glob("*") + sum(near, []):
    try:
        print(path, open(path).read())
    except Exception as err:
        print(path, type(err).__name__)
print(In)
print("expect_close(P, torch.softmax(X, dim=-1), \\"softmax of a (4, 10) batch\\")")
'''


def escape_source(context: dict) -> str:
    """Try to write outside the scratch folder, reach the network, read another student's
    work and leave processes behind; print what worked."""
    return f'''import os, socket, subprocess, sys
targets = {context["write_targets"]!r}
for path in targets:
    try:
        with open(path, "a") as f:
            f.write("HACKED")
        print("WROTE", path)
    except Exception as err:
        print("blocked", path, type(err).__name__)
for path in {context["read_targets"]!r}:
    try:
        print("READ", path, len(open(path).read()))
    except Exception as err:
        print("blocked", path, type(err).__name__)
try:
    socket.create_connection(("127.0.0.1", {context["port"]}), timeout=3).sendall(b"HACKED")
    print("CONNECTED")
except Exception as err:
    print("no network", type(err).__name__)
marker = {context["marker"]!r}
sleeper = [sys.executable, "-c", f"import time; time.sleep(600)  # {{marker}}"]
subprocess.Popen(sleeper, start_new_session=True)
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", f"import time; time.sleep(600)  # {{marker}}"])
print("spawned")
'''


def build(folder: Path, context: dict) -> dict[str, Expect]:
    expected = {}
    for student, (content, expect) in fixtures(context).items():
        target = folder / student / ASSIGNMENT
        target.mkdir(parents=True)
        if isinstance(content, nbformat.NotebookNode):
            nbformat.write(copy.deepcopy(content), target / NOTEBOOK)
        elif isinstance(content, bytes):
            (target / NOTEBOOK).write_bytes(content)
        elif isinstance(content, str):  # a correct notebook under another name
            nbformat.write(solved(), target / content)
        expected[student] = expect
    return expected
