"""The grader's side of the defence against monkeypatching (see :mod:`autograder.kernel_guard`).

Builds the protected first cell, which loads the hidden checks into the kernel from source
text before any student code runs, and the code each test cell is replaced with while it runs.
Also lists the lines of hidden code that student-facing feedback must never show.
"""

from __future__ import annotations

import ast
import secrets
from pathlib import Path

from autograder.course import PACKAGE

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
GUARD_SOURCE = PACKAGE / "kernel_guard.py"
MIN_SECRET_LINE = 12  # shorter lines (`return P`, `)`) say nothing and appear everywhere


def check_sources(checks: Path = PACKAGE / "checks") -> dict[str, tuple[bool, str]]:
    """``{module name: (is_package, source)}`` for ``autograder`` (empty), ``autograder.checks``
    and every module under it: what the protected cell loads into the kernel."""
    sources = {"autograder": (True, '"""The course\'s hidden checks (loaded by the grader)."""\n')}
    for path in sorted(checks.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = ("autograder", "checks", *path.relative_to(checks).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        sources[name] = (is_package, path.read_text())
    return sources


def imported_modules(source: str) -> list[str]:
    """The ``autograder...`` modules a test cell imports."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [n for n in names if n.split(".")[0] == "autograder"]
    return found


def preload(assignment: str, test_sources: list[str], sources: dict) -> list[str]:
    """Modules the protected cell imports: the assignment's checks, the shared helpers, and
    whatever the test cells import from ``autograder``."""
    wanted = [f"autograder.checks.{assignment}", "autograder.checks._common"]
    for source in test_sources:
        wanted += imported_modules(source)
    return [name for name in dict.fromkeys(wanted) if name in sources]


def new_name() -> str:
    """A name for the guard in the user namespace that no submission can know in advance."""
    return f"_{secrets.token_hex(12)}"


def protected_cell(name: str, sources: dict, preload: list[str], workdir: str | None) -> str:
    """Source of the first cell the grader runs in the kernel (not stored in history)."""
    return f"""\
def {name}():
    import builtins
    namespace = {{"__name__": "<grader guard>", "__builtins__": dict(vars(builtins))}}
    exec(compile({GUARD_SOURCE.read_text()!r}, "<grader guard>", "exec", dont_inherit=True), namespace)
    return namespace["install"]({sources!r}, {preload!r}, {workdir!r})
try:
    {name} = {name}()
    get_ipython().user_ns_hidden[{name!r}] = {name}
finally:
    __import__("linecache").cache.pop(__import__("sys")._getframe().f_code.co_filename, None)
"""


def test_cell(name: str, grade_id: str, source: str, token: str) -> str:
    """What a test cell runs instead of its source: the same code, through the guard."""
    return f"{name}.run_test({grade_id!r}, {source!r}, {token!r})"


def hidden_code(source: str) -> list[str]:
    """Lines between the hidden-test markers of a cell."""
    lines, inside = [], False
    for line in source.splitlines():
        if HIDDEN_BEGIN in line:
            inside = True
        elif HIDDEN_END in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def secret_lines(sources: dict, hidden_sources: list[str], public_text: str) -> list[str]:
    """Lines of the hidden checks and hidden tests that feedback must not show: long enough
    to mean something, and not also in the student's release notebook."""
    lines = set()
    for _, source in sources.values():
        lines.update(line.strip() for line in source.splitlines())
    for source in hidden_sources:
        lines.update(line.strip() for line in hidden_code(source))
    lines.update((HIDDEN_BEGIN, HIDDEN_END))
    public = {line.strip() for line in public_text.splitlines()}
    return sorted(line for line in lines if len(line) >= MIN_SECRET_LINE and line not in public)
