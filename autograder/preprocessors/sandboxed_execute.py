"""The notebook kernel of ``nbgrader autograde`` inside the sandbox.

``SandboxedExecute`` replaces nbgrader's ``Execute`` preprocessor in the
autograde pipeline; its kernel (``SandboxedKernelManager``) runs under
bubblewrap with resource limits (``autograder.sandbox.bubblewrap``).  Configure it in
``nbgrader_config.py``::

    from nbgrader.preprocessors import (
        AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput,
        SaveAutoGrades)
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from autograder.preprocessors.sandboxed_execute import SandboxedExecute
    from autograder.preprocessors.trusted_verdict import TrustedVerdict

    c.Autograde.autograde_preprocessors = [
        SandboxedExecute, TrustedVerdict, IgnorePattern,
        ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata]
    c.SandboxedExecute.timeout = 60          # per cell, as Execute.timeout
    c.SandboxedExecute.unsafe = False        # or ONE_NEURON_UNSAFE=1

Only ``Autograde`` uses it; ``nbgrader validate`` keeps the plain ``Execute``.

How the kernel runs:

* its kernelspec is fixed (``python -m ipykernel_launcher`` of the grader's
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
* its stdout/stderr go to a log file in the runtime directory (capped by the
  file-size limit), never to the grader's terminal.

What ``SandboxedExecute`` adds to ``Execute``:

* refuses to run when the sandbox is unavailable, unless unsafe grading was
  asked for (``autograder.sandbox.bubblewrap.require_sandbox``);
* caps the outputs kept per cell (``max_output_bytes``) while they arrive, so a
  flood cannot fill the grader's memory before ``LimitOutput`` runs, and
  refuses any single kernel message over ``max_message_bytes`` (ZeroMQ
  ``MAXMSGSIZE`` on the grader's sockets);
* if the kernel dies or stops answering (e.g. ``os.kill(os.getpid(), 9)``, or
  an endless loop that ignores the interrupt), it kills the kernel, records an
  error in that cell and in every later code cell, and lets nbgrader go on
  (plain ``Execute`` would abort the whole submission).  The trusted verdict
  decides the graded cells anyway.
"""

from __future__ import annotations

import os
import shutil
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
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
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
_SKIPPED_NAMES = {".ipynb_checkpoints", "__pycache__"}

KERNEL_LOST_MESSAGE = (
    "Ядро Python остановилось или перестало отвечать во время выполнения этой ячейки "
    "(процесс убит, бесконечный цикл, исчерпана память или лимит процессов). "
    "Эта и последующие ячейки не выполнены."
)
KERNEL_TIMEOUT_MESSAGE = (
    "Ячейка выполнялась дольше допустимого времени и не ответила на прерывание "
    "(бесконечный цикл?): ядро Python остановлено. Эта и последующие ячейки не выполнены."
)
SKIPPED_MESSAGE = "Ячейка не выполнена: ядро Python остановилось раньше."
TRUNCATED_MESSAGE = "\n[... вывод обрезан: ячейка вывела больше {limit} байт ...]\n"


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
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
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
        return sandbox.build_command(
            cmd,
            sandboxed=self.sandboxed,
            rw_binds=[self._runtime_dir],
            ro_binds=student_file_binds(self._student_dir, self.excluded_names),
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
            kw["env"] = sandbox.sandbox_env(
                {
                    "HOME": self._runtime_dir,
                    "TMPDIR": self._runtime_dir,
                    "IPYTHONDIR": os.path.join(self._runtime_dir, "ipython"),
                    "MPLCONFIGDIR": os.path.join(self._runtime_dir, "mpl"),
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
            with open(path, "rb") as f:
                f.seek(max(0, os.path.getsize(path) - limit))
                return f.read().decode("utf-8", "replace")
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


def _content_size(value: Any) -> int:
    """Rough size in characters of a message content (strings only)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_content_size(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_content_size(v) for v in value)
    return 0


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` with the kernel in the sandbox (see the module docstring)."""

    unsafe = Bool(
        False,
        help="Grade without the sandbox when bubblewrap cannot run (also ONE_NEURON_UNSAFE=1).",
    ).tag(config=True)

    max_output_bytes = Integer(
        1_000_000,
        help="Outputs kept per cell while executing; the rest is dropped with a note.",
    ).tag(config=True)

    max_message_bytes = Integer(
        32 * 1024 * 1024,
        help="Largest message accepted from the kernel (a bigger one loses the kernel).",
    ).tag(config=True)

    kernel_memory_bytes = Integer(KERNEL_LIMITS.memory_bytes, help="RLIMIT_AS of the kernel").tag(
        config=True
    )
    kernel_nproc = Integer(KERNEL_LIMITS.nproc, help="RLIMIT_NPROC (tasks) of the kernel").tag(
        config=True
    )
    kernel_cpu_seconds = Integer(KERNEL_LIMITS.cpu_seconds, help="RLIMIT_CPU of the kernel").tag(
        config=True
    )
    kernel_fsize_bytes = Integer(KERNEL_LIMITS.fsize_bytes, help="RLIMIT_FSIZE of the kernel").tag(
        config=True
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self._sandboxed = True
        self._reset_state()

    def _reset_state(self) -> None:
        self._kernel_lost: str | None = None
        self._output_bytes: dict[int, int] = {}
        self._truncated: set[int] = set()
        self._excluded_names: set[str] = set()

    def kernel_limits(self) -> sandbox.Limits:
        return sandbox.Limits(
            memory_bytes=self.kernel_memory_bytes,
            nproc=self.kernel_nproc,
            fsize_bytes=self.kernel_fsize_bytes,
            cpu_seconds=self.kernel_cpu_seconds,
        )

    def preprocess(self, nb, resources=None, km=None):
        self._sandboxed = sandbox.require_sandbox(self.unsafe)
        self._reset_state()
        self._excluded_names = symlinked_entries(self._submitted_dir(resources))
        return super().preprocess(nb, resources, km)

    def _submitted_dir(self, resources) -> str | None:
        """The student's folder in submitted/, when nbgrader runs us."""
        info = (resources or {}).get("nbgrader", {})
        if "student" not in info or "assignment" not in info:
            return None
        coursedir = CourseDirectory(config=self.config)
        return coursedir.format_path(
            coursedir.submitted_directory, info["student"], info["assignment"]
        )

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.sandboxed = self._sandboxed
            km.limits = self.kernel_limits()
            km.max_message_bytes = self.max_message_bytes
            # nbgrader copies submitted files with shutil.copy, which follows
            # symlinks (as the grader!): whatever came from a symlink in
            # submitted/ is not shown to the kernel.
            km.excluded_names = set(self._excluded_names)
        return km

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        if isinstance(self.km, SandboxedKernelManager):
            self.km.lock_runtime_dir()
        return kc

    # nbclient binds the sync wrapper to its own coroutine: rebind to ours.
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        if self._kernel_lost is not None:
            cell.outputs = [_error_output("KernelLost", SKIPPED_MESSAGE)]
            return cell, self.resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as exc:
            self.log.error("Kernel lost in cell %d (%s); the rest is not executed", index, exc)
            self._kernel_lost = str(exc)
            self._kill_kernel()
            # A cell that ignored the interrupt after its timeout is reported as a
            # timeout (the class command's "timed out"), anything else as a lost kernel.
            if isinstance(exc, CellTimeoutError):
                cell.outputs.append(_error_output("CellTimeoutError", KERNEL_TIMEOUT_MESSAGE))
            else:
                cell.outputs.append(_error_output("KernelLost", KERNEL_LOST_MESSAGE))
            return cell, self.resources

    def _kill_kernel(self) -> None:
        if self.km is None:
            return
        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except RuntimeError as exc:  # "No kernel is running!"
            self.log.debug("kernel already gone: %s", exc)

    def process_message(self, msg, cell, cell_index):
        msg_type = msg.get("msg_type")
        content = msg.get("content", {})
        if msg_type in ("stream", "display_data", "execute_result", "update_display_data"):
            before = self._output_bytes.get(cell_index, 0)
            used = before + _content_size(content)
            self._output_bytes[cell_index] = used
            if used > self.max_output_bytes:
                room = self.max_output_bytes - before
                if msg_type == "stream" and room > 0 and cell_index not in self._truncated:
                    # Keep the beginning of the stream that overflows.
                    content["text"] = str(content.get("text", ""))[:room]
                    super().process_message(msg, cell, cell_index)
                if cell_index not in self._truncated:
                    self._truncated.add(cell_index)
                    cell.outputs.append(
                        new_output(
                            "stream",
                            name="stdout",
                            text=TRUNCATED_MESSAGE.format(limit=self.max_output_bytes),
                        )
                    )
                return None
        elif msg_type == "error":
            limit = self.max_output_bytes
            content["evalue"] = str(content.get("evalue", ""))[:limit]
            content["traceback"] = [
                str(line)[:limit] for line in content.get("traceback", [])[:200]
            ]
        return super().process_message(msg, cell, cell_index)


__all__ = [
    "KERNEL_LIMITS",
    "SandboxedExecute",
    "SandboxedKernelManager",
    "student_file_binds",
    "symlinked_entries",
]
