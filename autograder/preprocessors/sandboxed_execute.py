"""``SandboxedExecute``: nbgrader's ``Execute`` with the kernel in the sandbox.

It replaces nbgrader's ``Execute`` preprocessor in the autograde pipeline; its
kernel (``autograder.sandbox.kernel.SandboxedKernelManager``) runs under
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

How the kernel runs (``SandboxedKernelManager``): see ``autograder.sandbox.kernel``.

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
  decides the graded cells anyway;
* before such a verdict is final -- a kernel lost or failing to start, or a
  cell over ``timeout`` (interrupted or not) -- it runs the notebook once more
  from the top in a fresh kernel (a busy machine, not the student's code, may
  have caused the first): only the second run is kept; if it fails the same
  way, the error says that the notebook was run twice.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

from nbclient.exceptions import CellControlSignal, CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets import Bool, Enum, Integer

from autograder.sandbox import bubblewrap as sandbox
from autograder.sandbox.kernel import KERNEL_LIMITS, SandboxedKernelManager, symlinked_entries

KERNEL_LOST_MESSAGE = (
    "Ядро Python остановилось или перестало отвечать во время выполнения этой ячейки "
    "(процесс убит, бесконечный цикл, исчерпана память или лимит процессов). "
    "Эта и последующие ячейки не выполнены."
)
KERNEL_TIMEOUT_MESSAGE = (
    "Ячейка выполнялась дольше допустимого времени и не ответила на прерывание "
    "(бесконечный цикл?): ядро Python остановлено. Эта и последующие ячейки не выполнены."
)
KERNEL_INTERRUPTED_MESSAGE = (
    "Ячейка выполнялась дольше {timeout} с и была прервана (бесконечный цикл или слишком "
    "долгий расчёт?). Следующие ячейки выполнены."
)
RERUN_NOTE = " Ноутбук был выполнен ещё раз с начала в новом ядре Python, с тем же результатом."
SKIPPED_MESSAGE = "Ячейка не выполнена: ядро Python остановилось раньше."
TRUNCATED_MESSAGE = "\n[... вывод обрезан: ячейка вывела больше {limit} байт ...]\n"


def _content_size(value: Any) -> int:
    """Size in characters of a message content as JSON writes it: strings, keys,
    numbers and nesting all count. ``json.dumps`` is fast (a burst of large outputs
    must not keep the grader busy past nbclient's iopub timeout); the content came
    from JSON, so it serializes, and it is at most ``max_message_bytes`` large."""
    try:
        return len(json.dumps(value, ensure_ascii=False, default=repr))
    except (ValueError, RecursionError):
        return sys.maxsize  # cannot be sized: over any cap


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

    iopub_timeout = Integer(
        60,
        help="Seconds the outputs of a cell may take to arrive after its reply (nbclient's 4 s "
        "fail a cell whose large output a busy grader decodes slowly; output is capped anyway).",
    ).tag(config=True)

    shutdown_kernel = Enum(
        ["graceful", "immediate"],
        default_value="immediate",
        help="How the kernel stops after the notebook: its sandbox is thrown away with it, "
        "so it is killed at once (nbclient's graceful shutdown polls for its exit).",
    ).tag(config=True)

    max_notebook_output_bytes = Integer(
        20_000_000,
        help="Outputs kept for the whole notebook; later outputs are dropped with a note.",
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
        self._timed_out: int | None = None  # first cell interrupted at its timeout
        self._cell_index = -1
        self._output_bytes: dict[int, int] = {}
        self._notebook_bytes = 0
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
        excluded = symlinked_entries(self._submitted_dir(resources))
        pristine = copy.deepcopy(nb)
        self._rerun = False
        try:
            nb, resources = self._run_notebook(nb, resources, km, excluded)
            problem = self._execution_problem()
        except (DeadKernelError, CellTimeoutError, RuntimeError, TimeoutError) as exc:
            problem = f"kernel failed outside the cells ({type(exc).__name__}: {exc})"
        if problem is None:
            return nb, resources
        self.log.warning(
            "%s: running the notebook once more from the top in a fresh kernel", problem
        )
        self._rerun = True
        nb.clear()  # in place, as Execute works: callers may hold the notebook object
        nb.update(pristine)
        return self._run_notebook(nb, resources, None, excluded)

    def _run_notebook(self, nb, resources, km, excluded: set[str]):
        self._reset_state()
        self._excluded_names = excluded
        return super().preprocess(nb, resources, km)

    def _execution_problem(self) -> str | None:
        """What makes the last run's verdict "kernel died" or "timed out", if anything."""
        if self._kernel_lost is not None:
            return f"kernel lost ({self._kernel_lost})"
        if self._timed_out is not None:
            return f"cell {self._timed_out} interrupted at its timeout of {self.timeout} s"
        return None

    def _rerun_note(self) -> str:
        return RERUN_NOTE if self._rerun else ""

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
        self._cell_index = index
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as exc:
            self.log.error("Kernel lost in cell %d (%s); the rest is not executed", index, exc)
            self._kernel_lost = str(exc)
            self._kill_kernel()
            # A cell that ignored the interrupt after its timeout is reported as a
            # timeout (the class command's "timed out"), anything else as a lost kernel.
            if isinstance(exc, CellTimeoutError):
                message = KERNEL_TIMEOUT_MESSAGE + self._rerun_note()
                cell.outputs.append(_error_output("CellTimeoutError", message))
            else:
                message = KERNEL_LOST_MESSAGE + self._rerun_note()
                cell.outputs.append(_error_output("KernelLost", message))
            return cell, self.resources

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None):
        # nbclient interrupts the cell and goes on with a CellTimeoutError reply.
        if self._timed_out is None:
            self._timed_out = self._cell_index
        reply = await super()._async_handle_timeout(timeout, cell)
        if reply is not None:
            message = KERNEL_INTERRUPTED_MESSAGE.format(timeout=timeout) + self._rerun_note()
            reply["content"].update(evalue=message, traceback=[f"CellTimeoutError: {message}"])
        return reply

    def _kill_kernel(self) -> None:
        if self.km is None:
            return
        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except RuntimeError as exc:  # "No kernel is running!"
            self.log.debug("kernel already gone: %s", exc)

    def on_cell_executed(self, **kwargs: Any) -> None:
        # nbgrader appends the execute_reply's error when no output shows it: that
        # error counts toward the caps like any output; a malformed reply is ignored.
        cell, index = kwargs.get("cell"), kwargs.get("cell_index", -1)
        count = len(cell.outputs) if cell is not None else 0
        try:
            super().on_cell_executed(**kwargs)
        except (KeyError, TypeError, AttributeError) as exc:
            self.log.warning("cell %s: malformed execute_reply ignored (%s)", index, exc)
            return
        for output in cell.outputs[count:] if cell is not None else []:
            size = _content_size(output)
            self._output_bytes[index] = self._output_bytes.get(index, 0) + size
            if (
                self._output_bytes[index] > self.max_output_bytes
                or self._notebook_bytes + size > self.max_notebook_output_bytes
            ):
                output.ename = str(output.get("ename", ""))[:200]
                output.evalue = str(output.get("evalue", ""))[:200]
                output.traceback = []
                size = 400
            self._notebook_bytes += size

    def process_message(self, msg, cell, cell_index):
        # Every message comes from the kernel, i.e. from student code: a malformed
        # one is dropped (nbclient would raise and the submission go ungraded).
        try:
            return self._process_message(msg, cell, cell_index)
        except CellControlSignal:
            raise
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            self.log.warning(
                "cell %d: malformed %r message from the kernel ignored (%s: %s)",
                cell_index,
                str(msg.get("msg_type") if isinstance(msg, dict) else type(msg))[:40],
                type(exc).__name__,
                str(exc)[:200],
            )
            return None

    def _process_message(self, msg, cell, cell_index):
        msg_type = msg.get("msg_type")
        content = msg.get("content", {})
        if not isinstance(content, dict):
            raise TypeError("content is not an object")
        if str(msg_type).startswith("comm"):
            # Widget messages: never shown in feedback, their state is not kept.
            return None
        if not isinstance(content.get("execution_count", 0), (int, type(None))):
            content.pop("execution_count")
        if msg_type in ("stream", "display_data", "execute_result", "update_display_data", "error"):
            # per cell: what the kernel sent; per notebook: what is kept
            before = self._output_bytes.get(cell_index, 0)
            size = _content_size(content)
            self._output_bytes[cell_index] = before + size
            over_cell = before + size > self.max_output_bytes
            over_notebook = self._notebook_bytes + size > self.max_notebook_output_bytes
            if not (over_cell or over_notebook):
                self._notebook_bytes += size
            else:
                room = min(
                    self.max_output_bytes - before,
                    self.max_notebook_output_bytes - self._notebook_bytes,
                )
                if msg_type == "stream" and room > 0 and cell_index not in self._truncated:
                    # Keep the beginning of the stream that overflows.
                    content["text"] = str(content.get("text", ""))[:room]
                    self._notebook_bytes += room
                    super().process_message(msg, cell, cell_index)
                elif msg_type == "error" and cell_index not in self._truncated:
                    # The first error itself is kept (its name, the start of its message).
                    content["ename"] = str(content.get("ename", ""))[:200]
                    content["evalue"] = str(content.get("evalue", ""))[: max(room, 200)]
                    content["traceback"] = []
                    self._notebook_bytes += max(room, 200) + 200
                    super().process_message(msg, cell, cell_index)
                if cell_index not in self._truncated:
                    self._truncated.add(cell_index)
                    limit = (
                        self.max_notebook_output_bytes if over_notebook else self.max_output_bytes
                    )
                    cell.outputs.append(
                        new_output(
                            "stream", name="stdout", text=TRUNCATED_MESSAGE.format(limit=limit)
                        )
                    )
                return None
        return super().process_message(msg, cell, cell_index)


__all__ = ["SandboxedExecute"]
