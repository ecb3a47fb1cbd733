"""The notebook kernel of ``nbgrader autograde`` inside the sandbox.

``SandboxedKernelManager`` (used by ``autograder.preprocessors.sandboxed_execute``)
starts an ipykernel under bubblewrap with resource limits
(``autograder.sandbox.bubblewrap``):

* its kernelspec is fixed (``python -P -m ipykernel_launcher`` of the grader's
  virtualenv) with ``interrupt_mode = "message"``: a SIGINT to the process
  group would hit bubblewrap itself;
* the connection uses ZeroMQ ``ipc`` sockets in a private runtime directory
  bound at the same path into the sandbox (the sandbox has no network); once
  the kernel is ready the directory is taken back from the sandbox uid, so
  student code cannot create files there;
* no ``JPY_PARENT_PID`` reaches the kernel (``--clearenv``): ipykernel would
  otherwise poll its parent, which is pid 1 of the sandbox;
* its working directory is an empty writable tmpfs directory in which the
  student's own files (those nbgrader put next to the notebook, except
  notebooks, which carry the restored hidden tests, and symlinks) are bound
  read-only;
* no ``MPLBACKEND`` either: ipykernel then selects its inline backend, so plots
  appear in the autograded notebook, the feedback and the formgrader;
* matplotlib's font list, which every fresh home would otherwise rebuild on the first
  ``import matplotlib.pyplot`` (~0.3 CPU-s per kernel), is built once per grading
  process by the grader's own interpreter (``matplotlib_font_cache``) and bound
  read-only into the kernel's ``MPLCONFIGDIR``;
* its stdout/stderr go to a log file in the runtime directory (capped by the
  file-size limit), never to the grader's terminal.

``BoundedKernelClient`` refuses any single kernel message over its
``max_message_bytes`` (ZeroMQ ``MAXMSGSIZE``).
"""

from __future__ import annotations

import atexit
import functools
import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from typing import Any

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import channel_socket_types as _channel_socket_types
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer

from autograder.sandbox import bubblewrap as sandbox

#: Limits of the notebook kernel (whole notebook; per-cell time is Execute.timeout).
KERNEL_LIMITS = sandbox.Limits(
    memory_bytes=2 * sandbox.GiB,
    nproc=64,
    fsize_bytes=64 * sandbox.MiB,
    cpu_seconds=900,
)


_KERNEL_LOG = "kernel.log"
#: Run in the kernel after start-up: '' before the first site-packages entry (IPython's rule).
_CWD_ON_PATH = (
    "import sys as _s; _s.path.insert(next((i for i, p in enumerate(_s.path) "
    "if p.endswith(('site-packages', 'dist-packages'))), 0), ''); del _s"
)
_SKIPPED_NAMES = {".ipynb_checkpoints", "__pycache__"}


#: Where sandbox_env puts matplotlib's configuration and cache, below SANDBOX_HOME.
_MPL_DIR = ".config/matplotlib"
assert sandbox.sandbox_env()["MPLCONFIGDIR"] == f"{sandbox.SANDBOX_HOME}/{_MPL_DIR}"


@functools.lru_cache(maxsize=1)
def matplotlib_font_cache() -> str | None:
    """Host path of matplotlib's font list (``fontlist-v*.json``) for this interpreter,
    built once per process in a private folder by the grader's interpreter (no student
    code involved); None if it cannot be built (each kernel then builds its own)."""
    folder = tempfile.mkdtemp(prefix="one-neuron-mpl-")
    atexit.register(shutil.rmtree, folder, True)
    try:
        subprocess.run(
            [sys.executable, "-I", "-c", "import matplotlib.font_manager"],
            env=sandbox.sandbox_env({"HOME": folder, "MPLCONFIGDIR": folder, "TMPDIR": folder}),
            cwd=folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=600,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = glob.glob(os.path.join(folder, "fontlist-v*.json"))
    if len(found) != 1:
        return None
    os.chmod(folder, 0o755)
    os.chmod(found[0], 0o644)
    return found[0]


def symlinked_entries(directory: str | None) -> set[str]:
    """Top-level names in a folder that are symlinks or contain one."""
    names: set[str] = set()
    if not directory or not os.path.isdir(directory):
        return names
    for entry in os.scandir(directory):
        if entry.is_symlink():
            names.add(entry.name)
        elif entry.is_dir(follow_symlinks=False):
            for root, dirs, files in os.walk(entry.path):
                if any(os.path.islink(os.path.join(root, name)) for name in dirs + files):
                    names.add(entry.name)
                    break
    return names


def student_file_binds(directory: str | None, exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Read-only binds of the student's files into the kernel's working directory.

    Notebooks are left out (the autograded copy carries the hidden tests
    restored by nbgrader), as are symlinks (bubblewrap would follow them on
    the host), Jupyter's checkpoint/cache directories and the names in
    ``exclude``.
    """
    if not directory or not os.path.isdir(directory):
        return []
    exclude = set(exclude)
    binds = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_symlink() or entry.name in _SKIPPED_NAMES or entry.name in exclude:
            continue
        if entry.name.endswith(".ipynb"):
            continue
        if not (entry.is_file(follow_symlinks=False) or entry.is_dir(follow_symlinks=False)):
            continue
        binds.append((entry.path, f"{sandbox.SANDBOX_WORKDIR}/{entry.name}"))
    return binds


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse messages over ``max_message_bytes``.

    ZeroMQ drops such a message and the connection (then reconnects), so one
    huge output never sits in the grader's memory; the cell then times out and
    ``SandboxedExecute`` reports the kernel as lost.
    """

    max_message_bytes = Integer(32 * 1024 * 1024)

    def _create_connected_socket(self, channel: str, identity: bytes | None = None):
        # jupyter_client's version, with MAXMSGSIZE set before connecting.
        sock = self.context.socket(_channel_socket_types[channel])
        sock.linger = 1000
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        if identity:
            sock.identity = identity
        if getattr(self, "curve_publickey", None) is not None:
            sock.curve_secretkey = self.curve_secretkey
            sock.curve_publickey = self.curve_publickey
            sock.curve_serverkey = self.curve_publickey
        sock.connect(self._make_url(channel))
        return sock


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel runs in the bubblewrap sandbox.

    ``sandboxed = False`` (unsafe mode) keeps only the resource limits.
    """

    sandboxed = Bool(True, help="Run the kernel under bubblewrap (False: limits only).")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = KERNEL_LIMITS
        self.uid = sandbox.allocate_uid()
        # Unix socket paths are limited to 107 bytes: fall back to /tmp for a long TMPDIR.
        base = tempfile.gettempdir()
        if len(os.path.realpath(base)) > 60:
            base = "/tmp"
        self._runtime_dir = os.path.realpath(
            tempfile.mkdtemp(prefix="one-neuron-kernel-", dir=base)
        )
        self._student_dir: str | None = None
        #: Names in the kernel's directory not to bind (see SandboxedExecute).
        self.excluded_names: set[str] = set()
        self._log_file = None
        self._ready = False
        self.cache_ports = False
        self.client_factory = BoundedKernelClient
        self.max_message_bytes = BoundedKernelClient.max_message_bytes.default_value
        self.transport = "ipc"
        self.ip = os.path.join(self._runtime_dir, "ipc")
        self.connection_file = os.path.join(self._runtime_dir, "kernel.json")
        self._sandbox_spec = KernelSpec(
            # -P: the cwd (the student's files) is not put first on sys.path, so a
            # student's ipykernel_launcher.py or zmq.py cannot stand in for the kernel's.
            # Once the kernel is up, the notebook may import the student's own modules
            # (the cwd goes where IPython puts it: after the standard library).
            argv=[
                sys.executable,
                "-P",
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
                f"--IPKernelApp.exec_lines={_CWD_ON_PATH}",
            ],
            display_name="Python 3 (sandbox)",
            language="python",
            interrupt_mode="message",
            metadata={},
        )

    @property
    def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
        return self._sandbox_spec

    def client(self, **kwargs: Any) -> BoundedKernelClient:
        kc = super().client(**kwargs)
        kc.max_message_bytes = self.max_message_bytes
        return kc

    @property
    def runtime_dir(self) -> str:
        return self._runtime_dir

    def _root_mode(self) -> bool:
        return self.sandboxed and os.geteuid() == 0

    def write_connection_file(self, **kwargs: Any) -> None:
        if self._root_mode():
            sandbox.prepare_writable_dir(self._runtime_dir, self.uid)
        super().write_connection_file(**kwargs)
        if self._root_mode():
            os.chown(self.connection_file, self.uid, self.uid)

    async def _async_pre_start_kernel(self, **kw: Any):
        self._student_dir = kw.get("cwd")
        # The host-side cwd of bubblewrap; the kernel's own cwd is set inside.
        kw["cwd"] = self._runtime_dir
        kw.pop("env", None)
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        font_cache = matplotlib_font_cache()
        return sandbox.build_command(
            cmd,
            sandboxed=self.sandboxed,
            rw_binds=[self._runtime_dir],
            ro_binds=student_file_binds(self._student_dir, self.excluded_names),
            home_files=[(font_cache, f"{_MPL_DIR}/{os.path.basename(font_cache)}")]
            if font_cache
            else [],
            limits=self.limits,
            uid=self.uid,
        )

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        self._log_file = open(os.path.join(self._runtime_dir, _KERNEL_LOG), "wb")
        kw["stdin"] = subprocess.DEVNULL
        kw["stdout"] = self._log_file
        kw["stderr"] = subprocess.STDOUT
        kw["close_fds"] = True
        if not self.sandboxed:
            mpl_dir = os.path.join(self._runtime_dir, "mpl")
            font_cache = matplotlib_font_cache()
            if font_cache:
                os.makedirs(mpl_dir, exist_ok=True)
                shutil.copy(font_cache, mpl_dir)
            kw["env"] = sandbox.sandbox_env(
                {
                    "HOME": self._runtime_dir,
                    "TMPDIR": self._runtime_dir,
                    "IPYTHONDIR": os.path.join(self._runtime_dir, "ipython"),
                    "MPLCONFIGDIR": mpl_dir,
                }
            )
        await super()._async_launch_kernel(kernel_cmd, **kw)

    def lock_runtime_dir(self) -> None:
        """Take the runtime directory back from the sandbox uid once the kernel listens."""
        self._ready = True
        if self._root_mode():
            os.chown(self._runtime_dir, 0, 0)
            os.chmod(self._runtime_dir, 0o700)

    def kernel_log_tail(self, limit: int = 4000) -> str:
        """End of the kernel's stdout/stderr (for diagnosing a failed start)."""
        path = os.path.join(self._runtime_dir, _KERNEL_LOG)
        try:
            # never blocks or follows a link, whatever may have been put in its place
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    return ""
                f.seek(max(0, info.st_size - limit))
                return f.read(limit).decode("utf-8", "replace")
        except OSError:
            return ""

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        if not self._ready:
            tail = self.kernel_log_tail()
            if tail:
                self.log.warning("sandboxed kernel output before it was ready:\n%s", tail)
        await super()._async_cleanup_resources(restart=restart)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if not restart:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources  # type: ignore[assignment]


__all__ = [
    "KERNEL_LIMITS",
    "BoundedKernelClient",
    "SandboxedKernelManager",
    "matplotlib_font_cache",
    "student_file_binds",
    "symlinked_entries",
]
