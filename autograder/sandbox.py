"""Each student's kernel runs in a bubblewrap sandbox with resource limits.

`bwrap <https://github.com/containers/bubblewrap>`_ (Debian's ``bubblewrap``, the sandbox of
Flatpak) starts the kernel in new user, mount, PID, network, IPC and UTS namespaces:

- the file system is read-only except the student's own scratch folder: the working folder of
  the notebook, ``$HOME``, ``/tmp`` and the kernel's socket folder, all under one folder per
  student. The course checkout (solutions, hidden checks, other notebooks), the gradebook, the
  submissions and the grading output are not even visible; only the Python installation, the
  ``dlcourse`` helpers and the datasets (read-only) are;
- no network: the kernel talks to the grader through Unix sockets in its scratch folder
  (ZeroMQ ``ipc`` transport), which work across network namespaces;
- no process outlives the notebook: the kernel is PID 1's only child in its own PID namespace,
  so every process it started dies with it, and ``--die-with-parent`` kills the sandbox if the
  grading process dies;
- no capabilities, no new user namespaces inside;
- rlimits set just before the kernel starts: data segment (the memory limit: RLIMIT_DATA counts
  the heap and private writable mappings but not the 2 GB of shared libraries torch maps, which
  makes RLIMIT_AS unusable), file size, no core dumps.

Without bwrap, ``--no-sandbox`` runs kernels directly with the same rlimits, and no isolation.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict

from autograder.course import ROOT

GiB = 2**30
MiB = 2**20

# Run inside the sandbox, just before the kernel: set the rlimits, then exec the kernel.
_LIMITS_LAUNCHER = (
    "import os,resource as r,sys;"
    "d,f=int(sys.argv[1]),int(sys.argv[2]);"
    "d>0 and r.setrlimit(r.RLIMIT_DATA,(d,d));"
    "f>0 and r.setrlimit(r.RLIMIT_FSIZE,(f,f));"
    "r.setrlimit(r.RLIMIT_CORE,(0,0));"
    "os.execv(sys.argv[3],sys.argv[3:])"
)

# /etc is visible (the dynamic loader, passwd, fonts configuration...) but not its secrets.
_ETC_SECRETS = ("shadow", "gshadow", "shadow-", "gshadow-", "ssh", "ssl/private", "sudoers")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


def bwrap() -> str | None:
    return shutil.which("bwrap") or (os.access("/usr/bin/bwrap", os.X_OK) and "/usr/bin/bwrap") or None


def check_available() -> str:
    """The path of a working bwrap; raise SandboxUnavailable with what to do otherwise."""
    found = bwrap()
    if not found:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is needed to isolate student code: install it "
            "(Debian/Ubuntu: apt-get install bubblewrap), or pass --no-sandbox to grade "
            "trusted notebooks without isolation"
        )
    probe = subprocess.run(
        [found, *_namespace_args(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
         "true"],
        capture_output=True, text=True,
    )  # fmt: skip
    if probe.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap cannot create a sandbox here ({probe.stderr.strip() or probe.returncode}); "
            "user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1 or "
            "user.max_user_namespaces > 0). Pass --no-sandbox to grade without isolation"
        )
    return found


def _namespace_args() -> list[str]:
    return [
        "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
        "--unshare-cgroup-try", "--disable-userns", "--die-with-parent", "--cap-drop", "ALL",
    ]  # fmt: skip


@dataclass
class Sandbox:
    """Where one student's kernel may write, what it may read, and its limits.

    Everything writable lives under ``root`` (the student's scratch folder), ``workdir``
    included (nbgrader's autograded folder of that student: the notebook's working folder).
    """

    root: Path
    workdir: Path
    memory: int = 4 * GiB  # RLIMIT_DATA of the kernel; 0: no limit
    file_size: int = 1 * GiB  # RLIMIT_FSIZE: largest file the kernel may write
    threads: int = 1  # OMP/MKL threads of the kernel (cores / workers)
    data_root: Path | None = None  # datasets, mirrored read-only into the scratch folder
    isolate: bool = True  # False: --no-sandbox (limits only)
    read_only: list[str] = field(default_factory=list)  # more host paths to show read-only
    matplotlib_cache: Path | None = None  # a warm MPLCONFIGDIR to copy (fonts take seconds)

    def __post_init__(self):
        self.root, self.workdir = Path(self.root), Path(self.workdir)
        self.data_root = Path(self.data_root) if self.data_root else None
        self.matplotlib_cache = Path(self.matplotlib_cache) if self.matplotlib_cache else None

    @classmethod
    def from_dict(cls, spec: dict) -> Sandbox:
        return cls(**spec)

    def to_dict(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}

    # Folders under root. `run` holds the connection file and the kernel's sockets.
    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def start(self) -> Path:
        """The kernel starts in this empty folder, so that no file of the submission (a
        ``torch.py``, an IPython config) can be imported or loaded before the grader's
        protected cell; that cell then changes to ``workdir``."""
        return self.root / "start"

    def prepare(self) -> None:
        """Create the scratch folders; mirror the datasets as symlinks (torchvision may then
        extract archives into the student's copy of the folder, never into the shared one)."""
        for folder in (self.home, self.tmp, self.run, self.data, self.start, self.workdir):
            folder.mkdir(parents=True, exist_ok=True)
        (self.home / ".config" / "matplotlib").mkdir(parents=True, exist_ok=True)
        if self.matplotlib_cache and self.matplotlib_cache.is_dir():
            shutil.copytree(self.matplotlib_cache, self.home / ".config" / "matplotlib", dirs_exist_ok=True)
        if self.data_root and self.data_root.is_dir():
            for path in sorted(self.data_root.rglob("*")):
                target = self.data / path.relative_to(self.data_root)
                if path.is_dir() and not path.is_symlink():
                    target.mkdir(parents=True, exist_ok=True)
                elif not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.symlink_to(path.resolve())

    def env(self, threads_env: bool = True) -> dict[str, str]:
        """The kernel's whole environment (nothing else is inherited)."""
        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin",
                                     "/usr/bin", "/bin"]),
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "LANG": "C.UTF-8",
            "DLCOURSE_DATA": str(self.data),
            "MPLCONFIGDIR": str(self.home / ".config" / "matplotlib"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "NBGRADER_EXECUTION": "autograde",
            "JPY_PARENT_PID": "1",  # no parent polling: PIDs outside the sandbox are not visible
        }  # fmt: skip
        if threads_env:
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                env[name] = str(self.threads)
        return env

    def limits_prefix(self) -> list[str]:
        return [sys.executable, "-c", _LIMITS_LAUNCHER, str(self.memory), str(self.file_size)]

    def wrap(self, cmd: list[str]) -> list[str]:
        """``cmd`` (the kernel's command line) run with the limits, inside the sandbox."""
        cmd = [*self.limits_prefix(), shutil.which(cmd[0]) or cmd[0], *cmd[1:]]
        if not self.isolate:
            return cmd
        args = [check_available(), *_namespace_args(), "--hostname", "sandbox", "--clearenv"]
        for name, value in self.env().items():
            args += ["--setenv", name, value]
        for top in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt"):
            path = Path("/") / top
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
        args += ["--ro-bind", "/etc", "/etc"]
        for secret in _ETC_SECRETS:
            path = Path("/etc") / secret
            if path.is_dir():
                args += ["--tmpfs", str(path)]
            elif path.exists():
                args += ["--ro-bind", "/dev/null", str(path)]
        args += ["--proc", "/proc", "--dev", "/dev", "--size", str(256 * MiB), "--tmpfs", "/dev/shm"]
        for device in sorted(Path("/dev").glob("nvidia*")):  # CUDA, when the machine has a GPU
            args += ["--dev-bind", str(device), str(device)]
        args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
        args += ["--ro-bind-try", "/sys/fs/cgroup", "/sys/fs/cgroup"]  # CPU quota, read by torch
        # The student's own /tmp first: the read-only paths below (a venv, the datasets) and the
        # scratch folder may themselves lie under the machine's /tmp, and must show through it.
        args += ["--bind", str(self.tmp), "/tmp"]
        for path in self._python_paths() + self.read_only:
            args += ["--ro-bind", path, path]
        if self.data_root and self.data_root.is_dir():
            args += ["--ro-bind", str(self.data_root.resolve()), str(self.data_root.resolve())]
        # Writable, all inside the student's scratch folder.
        args += ["--bind", str(self.root), str(self.root)]
        if not self.workdir.is_relative_to(self.root):
            args += ["--bind", str(self.workdir), str(self.workdir)]
        args += ["--remount-ro", "/dev", "--remount-ro", "/"]  # bwrap's own tmpfs: read-only too
        args += ["--chdir", str(self.start), "--"]
        # jupyter_client interrupts a kernel by sending SIGINT to its process group: bwrap must
        # ignore it (the kernel handles it), or the sandbox would end instead of the cell.
        return ["/bin/sh", "-c", 'trap "" INT; exec "$0" "$@"', *args, *cmd]

    @staticmethod
    def _python_paths() -> list[str]:
        """The interpreter, the environment and every import path outside the system folders
        (the venv, a pyenv base Python, an editable install such as src/), read-only. The
        course checkout itself stays hidden: no path that contains it or lies in it is shown,
        except the venv and the helper package."""
        found = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).parent)}
        found |= {p for p in sys.path if p}
        helpers = importlib.util.find_spec("dlcourse")  # an editable install lives in src/
        if helpers is not None and helpers.origin:
            found.add(str(Path(helpers.origin).resolve().parent.parent))
        paths = {str(Path(p).resolve()) for p in found if Path(p).is_dir()}
        paths = {p for p in paths if not p.startswith(("/usr/", "/etc/", "/opt/")) and p != "/"}
        secret = [ROOT / "autograder", ROOT / "solutions", ROOT / "notebooks", ROOT / ".git"]
        paths = {
            p for p in paths
            if not any(s.is_relative_to(p) or Path(p).is_relative_to(s) for s in secret)
        }  # fmt: skip
        return sorted(p for p in paths if not any(Path(p).is_relative_to(q) for q in paths - {p}))


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel inside a :class:`Sandbox`, talking over Unix
    sockets in the sandbox's ``run`` folder. nbclient creates it from the configuration
    (``SandboxKernelManager.sandbox = Sandbox(...).to_dict()``)."""

    sandbox = Dict(help="Sandbox(...).to_dict() for this kernel").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._box = Sandbox.from_dict(self.sandbox)
        self._box.prepare()
        self.transport = "ipc"
        self.connection_file = str(self._box.run / "kernel.json")
        self.ip = str(self._box.run / "k")

    def format_kernel_cmd(self, extra_arguments=None):
        return self._box.wrap(super().format_kernel_cmd(extra_arguments))

    async def _async_pre_start_kernel(self, **kw):
        kw["env"] = self._box.env()
        kw["cwd"] = str(self._box.start)
        return await super()._async_pre_start_kernel(**kw)
