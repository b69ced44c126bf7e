"""What a student runs: Validate, on the command line and through JupyterLab's button in
`make lab`, runs the chapter short with the course's settings (`notebooks/nbgrader_config.py`)
and answers in seconds; `make lab` hides nbgrader's instructor tools."""

import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbgrader.apps import NbGrader

from autograder.course import NOTEBOOKS, ROOT, quick_parameters, source_notebook
from tests.notebooks import nbgrader_meta, submission

ASSIGNMENT = "ch10_softmax"
NAIVE_SOFTMAX = "def softmax(X):\n    E = torch.exp(X)\n    return E / E.sum(dim=-1, keepdim=True)\n"
# A short ch10 run takes about 15 s of CPU (12 s alone on 2 cores); wall-clock time on a machine
# shared with other work can be ten times that, so the bound on it only catches a hang.
VALIDATE_CPU_SECONDS = 60
VALIDATE_SECONDS = 300
BIN = Path(sys.executable).parent
INSTRUCTOR_PLUGINS = ["@jupyter/nbgrader:menu", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
                      "@jupyter/nbgrader:assignment-list"]  # fmt: skip


def student_env(home: Path) -> dict:
    """A student's shell: the venv's commands first on PATH, no PYTHONPATH (the course's
    `autograder` package is not importable), Jupyter's own files under ``home``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("JUPYTER")}
    env["PATH"] = os.pathsep.join([str(BIN), "/usr/bin", "/bin"])
    env["JUPYTER_CONFIG_DIR"] = str(home / "config")
    env["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
    return env


def with_short_run_probe(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Add a graded cell after the parameters cell that fails unless the run is short: Validate
    lists it among the failures when the course's settings were not found."""
    quick = quick_parameters(source_notebook(ASSIGNMENT))
    probe = nbformat.v4.new_code_cell(
        f"assert {{name: globals()[name] for name in {sorted(quick)!r}}} == {quick!r}, "
        "'Validate ran the chapter at full length'"
    )
    probe.metadata["nbgrader"] = {"grade": True, "grade_id": "probe_short_run", "points": 1,
                                  "solution": False, "locked": False, "schema_version": 3}  # fmt: skip
    index = next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == "parameters")
    nb.cells.insert(index + 1, probe)
    return nb


def cpu_seconds_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel's too, once reaped
    return usage.ru_utime + usage.ru_stime


def validate(notebook: Path, home: Path):
    """`nbgrader validate` from notebooks/, as a student runs it; (result, wall and CPU seconds)."""
    started, cpu = time.monotonic(), cpu_seconds_of_children()
    run = subprocess.run([str(BIN / "nbgrader"), "validate", str(notebook)], cwd=NOTEBOOKS,
                         env=student_env(home), capture_output=True, text=True, timeout=600)  # fmt: skip
    seconds, cpu = time.monotonic() - started, cpu_seconds_of_children() - cpu
    print(f"nbgrader validate {notebook.parent.name}/{notebook.name}: {seconds:.1f} s ({cpu:.1f} s of CPU)")
    return run, seconds, cpu


def test_course_config_sets_the_quick_parameters_after_the_parameters_cell(monkeypatch):
    monkeypatch.chdir(NOTEBOOKS)
    app = NbGrader()
    app.load_config_file()  # how nbgrader and the Validate button find it: the current folder
    hook = app.config.Execute.on_notebook_start
    nb = nbformat.read(NOTEBOOKS / ASSIGNMENT / source_notebook(ASSIGNMENT).name, as_version=4)
    before = nbformat.writes(nb)
    hook(notebook=nb)
    hook(notebook=nb)  # a second try of the same run adds nothing more
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    namespace = {}
    exec(nb.cells[index].source + "\n" + nb.cells[index + 1].source, namespace)
    quick = quick_parameters(source_notebook(ASSIGNMENT))
    assert {name: namespace[name] for name in quick} == quick
    assert len(nb.cells) == len(nbformat.reads(before, as_version=4).cells) + 1
    assert app.config.Execute.timeout >= 60, "a slow laptop needs more than nbgrader's 30 s"


@pytest.mark.slow
def test_validate_passes_a_correct_notebook_in_seconds(tmp_path):
    notebook = tmp_path / ASSIGNMENT / source_notebook(ASSIGNMENT).name
    notebook.parent.mkdir()
    nbformat.write(with_short_run_probe(submission(ASSIGNMENT)), notebook)
    run, seconds, cpu = validate(notebook, tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Success! Your notebook passes all the tests." in output, output
    assert not re.search(r"ERROR|WARNING|Timeout", output), output
    assert cpu < VALIDATE_CPU_SECONDS and seconds < VALIDATE_SECONDS, output


@pytest.mark.slow
def test_validate_lists_the_failing_test_of_a_wrong_notebook(tmp_path):
    notebook = tmp_path / ASSIGNMENT / source_notebook(ASSIGNMENT).name
    notebook.parent.mkdir()
    nbformat.write(with_short_run_probe(submission(ASSIGNMENT, {"softmax": NAIVE_SOFTMAX})), notebook)
    run, seconds, cpu = validate(notebook, tmp_path)
    output = run.stdout + run.stderr
    assert "VALIDATION FAILED ON 1 CELL(S)!" in output, output
    assert "The following cell failed:" in output and "P = softmax(X)" in output, output
    assert "inf or nan for logits near +-1000: subtract the max" in output, output
    assert "Timeout" not in output, output
    assert cpu < VALIDATE_CPU_SECONDS and seconds < VALIDATE_SECONDS, output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` serving a folder with a correct ch10 notebook; (base URL, token)."""
    home = tmp_path_factory.mktemp("student")
    notebook = home / "work" / ASSIGNMENT / source_notebook(ASSIGNMENT).name
    notebook.parent.mkdir(parents=True)
    nbformat.write(with_short_run_probe(submission(ASSIGNMENT)), notebook)
    port, token = free_port(), "student-token"
    args = (f"--no-browser --allow-root --port={port} --IdentityProvider.token={token} "
            f"--ServerApp.root_dir={home / 'work'}")  # root: CI runs as root
    with open(home / "lab.log", "w") as log:
        server = subprocess.Popen(["make", "--no-print-directory", "lab", f"ARGS={args}"], cwd=ROOT,
                                  env=student_env(home), stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                request(base, token, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (home / "lab.log").read_text())
                time.sleep(1)
        yield base, token
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


def request(base: str, token: str, path: str, data: dict | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(base + path, data=body, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=600) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


@pytest.mark.slow
def test_lab_hides_the_instructor_tools(lab):
    status, page = request(*lab, "/lab")
    assert status == 200
    config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    disabled = set(config["disabledExtensions"])
    assert set(INSTRUCTOR_PLUGINS) <= disabled
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
    assert request(*lab, "/formgrader")[0] == 404, "the formgrader server extension is on"
    assert request(*lab, "/formgraders")[0] == 404, "the course list server extension is on"
    assert request(*lab, "/nbgrader_version?version=x")[0] == 200, "Validate's server extension is off"


@pytest.mark.slow
def test_lab_validate_button_runs_short_in_seconds(lab):
    started = time.monotonic()
    status, body = request(*lab, "/assignments/validate",
                           {"path": f"{ASSIGNMENT}/{source_notebook(ASSIGNMENT).name}"})  # fmt: skip
    seconds = time.monotonic() - started
    print(f"Validate in JupyterLab: {seconds:.1f} s")
    assert status == 200
    assert json.loads(body) == {"success": True, "value": {}}, body  # {}: no cell failed
    assert seconds < VALIDATE_SECONDS
