"""nbgrader's Execute preprocessor, hardened for untrusted notebooks.

- Before the first cell, the protected cell (:func:`autograder.guard.protected_cell`) loads the
  hidden checks into the kernel and snapshots what they rely on; it is not stored in history.
- Each test cell runs through the guard with a per-test random token; a test counts only when
  its token came back (a notebook that stops hidden tests from running, e.g. with an IPython
  input transformer, gets the test failed, not passed). Test cells are not stored in history.
- A cell whose kernel went idle but whose execute reply was lost (ipykernel 7 drops one now and
  then) is graded on its outputs within seconds (:mod:`autograder.lost_reply`).
- A cell over the time limit is interrupted and the notebook goes on, every later cell under the
  shorter ``stalled_timeout`` (a stalled function stalls again in each cell that calls it); if
  the interrupt does not stop it, the kernel is killed. When the kernel dies (crash,
  ``os._exit``, out of memory, killed as above), every later code cell gets an error output, so
  no test passes without running.
- Output beyond ``max_output_bytes`` per notebook is dropped, except errors, which grading needs.
- What happened goes into the notebook's metadata (``autograder.events``) for the report.
"""

import os
import secrets
import signal

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors.execute import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

from autograder import guard
from autograder.lost_reply import RecoverLostReply
from autograder.preprocessors import is_test, nbgrader_meta, report

MEMORY_ERRORS = ("MemoryError", "OutOfMemoryError")
MEMORY_MESSAGES = ("can't allocate memory", "out of memory")


# Traceback frames of a test cell that show the guard instead of the test: the cell's one line
# (``<guard>.run_test(...)``, whose source IPython cannot show) and the guard's own frame.
GUARD_FRAME_MARKS = ("<grader guard>", "Could not get source")


class GraderError(RuntimeError):
    """The grader's own setup failed in the kernel (not the student's doing)."""


class GuardedExecute(RecoverLostReply, Execute):
    guard_name = Unicode("", help="name of the guard in the kernel's namespace").tag(config=True)
    protected_source = Unicode("", help="source of the protected first cell").tag(config=True)
    max_output_bytes = Integer(1_000_000, help="output kept per notebook (errors always kept)").tag(
        config=True
    )
    memory_limit = Unicode("", help="the kernel's memory limit, for messages").tag(config=True)
    stalled_timeout = Integer(0, help="seconds per cell once a cell has timed out (0: timeout)").tag(
        config=True
    )

    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._events, self._stopped, self._output_bytes, self._truncated = [], None, 0, set()
        self._token, self._token_seen, self._index = None, False, None
        # nbgrader's sanitized copy of the notebook (hidden tests included) sits in the kernel's
        # working folder until execution ends: remove it; nbgrader writes the result afterwards.
        path = self.resources.get("metadata", {}).get("path")
        key = self.resources.get("unique_key")
        if path and key and os.path.isfile(os.path.join(path, f"{key}.ipynb")):
            os.remove(os.path.join(path, f"{key}.ipynb"))
        with self.setup_kernel():
            info = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info["content"]["language_info"]
            if self.protected_source:
                self._run_protected_cell()
            for index, cell in enumerate(self.nb.cells):
                self.preprocess_cell(cell, resources, index)
        self.set_widgets_metadata()
        report(self.nb)["events"] = self._events
        return self.nb, self.resources

    def _run_protected_cell(self):
        cell = new_code_cell(self.protected_source)
        self.nb.cells.append(cell)
        timeout, self.timeout = self.timeout, max(self.timeout or 0, 300)  # the grader's, not the student's
        try:
            self.execute_cell(cell, len(self.nb.cells) - 1, store_history=False)
        finally:
            self.nb.cells.pop()
            self.timeout = timeout
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            raise GraderError(f"the grader's protected cell failed: {errors[0].ename}: {errors[0].evalue}")

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stopped:
            cell.outputs = [_error("NotRun", f"not run: {self._stopped}")]
            return cell, resources
        source, test = cell.source, is_test(cell)
        self._index, self._token, self._token_seen = index, None, False
        if test and self.guard_name:
            self._token = secrets.token_hex(16)
            grade_id = nbgrader_meta(cell).get("grade_id", "?")
            cell.source = guard.test_cell(self.guard_name, grade_id, source, self._token)
        try:
            self.execute_cell(cell, index, store_history=not test)
        except DeadKernelError:
            self._stop("crashed", cell, index, f"the kernel died while running {_label(cell, index)} "
                       "(a crash, os._exit, exit(), or too much memory)")  # fmt: skip
        except CellTimeoutError:
            self._kill_kernel()
            self._stop("timeout", cell, index, f"{_label(cell, index)} did not stop when interrupted "
                       f"after {self.timeout} s; the kernel was stopped")  # fmt: skip
        finally:
            cell.source = source
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if self._token and not self._token_seen and not errors:
            cell.outputs.append(_error("TestIncomplete", "the test did not run to its end"))
            self._event("incomplete", f"{_label(cell, index)} did not run to its end; it scores 0")
        if any(o.ename in MEMORY_ERRORS or any(m in str(o.evalue) for m in MEMORY_MESSAGES) for o in errors):
            limit = f" (limit {self.memory_limit})" if self.memory_limit else ""
            self._event("memory", f"{_label(cell, index)} ran out of memory{limit}")
        return cell, resources

    async def _async_lost_reply(self, cell, cell_index, waited):
        self._event("lost_reply", f"{_label(cell, self._index)} finished but the kernel's "
                    "reply was lost; its outputs were graded")  # fmt: skip

    async def _async_handle_timeout(self, timeout, cell=None):
        self._event("cell_timeout", f"{_label(cell, self._index)} ran longer than {timeout} s and "
                    "was interrupted")  # fmt: skip
        if self.stalled_timeout:  # why: autograder.grade.Settings.stalled_timeout
            self.timeout = min(self.timeout or self.stalled_timeout, self.stalled_timeout)
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        msg_type, content = msg["msg_type"], msg["content"]
        if msg_type == "stream" and self._token and self._token in content.get("text", ""):
            self._token_seen = True
            content["text"] = content["text"].replace(f"\n{self._token}\n", "").replace(self._token, "")
            if not content["text"]:
                return None
        if msg_type == "error":
            content["evalue"] = str(content.get("evalue", ""))[:5000]
            frames = list(content.get("traceback", []))[-200:]
            if self._token:  # a test run through the guard: its frames are the grader's, not the test's
                frames = [f for f in frames if not any(m in f for m in GUARD_FRAME_MARKS)]
            content["traceback"] = frames
        else:
            self._output_bytes += _size(content)
            if self._output_bytes > self.max_output_bytes:
                if cell_index not in self._truncated:
                    self._truncated.add(cell_index)
                    if len(self._truncated) == 1:
                        self._event("output", f"output beyond {self.max_output_bytes} bytes was dropped")
                    note = f"[output truncated by the autograder: over {self.max_output_bytes} bytes]\n"
                    # stdout: nbgrader scores a test cell with any stderr output 0
                    outs.append(new_output("stream", name="stdout", text=note))
                return None
        return super().output(outs, msg, display_id, cell_index)

    def _stop(self, kind, cell, index, message):
        self._stopped = message
        self._event(kind, message)
        cell.outputs.append(_error("KernelStopped" if kind == "timeout" else "DeadKernelError", message))

    def _kill_kernel(self):
        provisioner = getattr(self.km, "provisioner", None)
        pgid = getattr(provisioner, "pgid", None)
        try:
            if pgid:
                os.killpg(pgid, signal.SIGKILL)
            elif provisioner is not None and provisioner.process is not None:
                provisioner.process.kill()
        except ProcessLookupError:
            pass

    def _event(self, kind, message):
        self._events.append({"kind": kind, "cell": self._index, "message": message})


def _label(cell, index) -> str:
    grade_id = nbgrader_meta(cell).get("grade_id") if cell is not None else None
    if grade_id and is_test(cell):
        return f"test {grade_id}"
    return f"cell {grade_id or (index + 1 if index is not None else '?')}"


def _error(ename: str, evalue: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _size(content: dict) -> int:
    size = len(content.get("text", "") or "")
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    return size
