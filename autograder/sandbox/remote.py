"""Calling a student's functions in a sandboxed worker process.

``StudentWorker`` starts ``sandbox_worker.py`` in the sandbox of
``autograder.sandbox.bubblewrap``, loads the student's answer cells into it and serves
calls; ``RemoteFunction`` is a callable proxy that the checks of
``autograder.assignment.checks`` receive instead of the student's function.

What the proxy reproduces of an in-kernel call:

* arguments and results travel as data only (see the wire format in
  ``sandbox_worker``); a result that is one of the call's array or net
  arguments comes back as the caller's own object (``result is x`` holds as
  in-kernel); a value the format cannot carry comes back as an ``Opaque``
  placeholder whose type has the original type's name and no behaviour (it
  equals nothing but itself), so a check reports the wrong type as it would
  in-kernel;
* numpy arrays the student mutates are copied back into the caller's arrays
  (read-only arrays stay read-only in the worker); a ``reference.Net`` argument
  gets its ``w`` and ``b`` updated;
* warnings raised in the worker are re-emitted here (``warnings.warn``), and
  the caller's ``np.geterr()`` applies in the worker;
* an exception of the student's code is raised here as an exception whose type
  name and message are the original ones (``StudentError`` subclass, also a
  subclass of the builtin exception of that name when there is one);
* numpy's global RNG and ``random`` are seeded deterministically before every
  call (the seed is the grader's call counter).

On a timeout, a crash or a malformed message the worker is killed, the call
raises ``WorkerFailure`` (Russian message) and the next call starts a fresh
worker (which reloads the same cells). A worker that does not answer a ping
before any student code is loaded raises ``WorkerStartError`` (a
BaseException): grading stops loudly instead of scoring the student 0.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from autograder.assignment import reference
from autograder.sandbox import bubblewrap as sandbox
from autograder.sandbox import worker as wire

WORKER_SOURCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
DEFAULT_CALL_TIMEOUT = 10.0
#: Seconds a fresh worker may take to answer its first ping (a loaded machine).
START_TIMEOUT = 60.0
DEFAULT_MEMORY_BYTES = 1024 * sandbox.MiB
#: Characters of one answer cell sent to the worker (a larger cell raises there).
MAX_CELL_CHARS = 1_000_000
#: Bytes of a response larger than this are a protocol violation.
MAX_RESPONSE_BYTES = wire.MAX_MESSAGE_BYTES


class WorkerFailure(Exception):
    """The worker did not answer properly (timeout, crash, forged message)."""


class WorkerTimeout(WorkerFailure, TimeoutError):
    """The call exceeded its time budget."""


class WorkerStartError(BaseException):
    """The worker process cannot start at all: grading must stop, not score 0.

    A BaseException so that a check's ``except Exception`` (which turns the
    student's errors into failed checks) lets it through.
    """


class ProtocolViolation(WorkerFailure):
    """The worker sent something that is not a valid response."""


class Opaque:
    """Stand-in for a value of the student's that the wire format cannot carry."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object of the student's code>"


_OPAQUE_CLASSES: dict[str, type] = {}


def opaque(type_name: str) -> Opaque:
    """An Opaque instance whose class is named like the student's type."""
    cls = _OPAQUE_CLASSES.get(type_name)
    if cls is None:
        cls = type(type_name, (Opaque,), {"__slots__": (), "__module__": "student"})
        if len(_OPAQUE_CLASSES) < 1000:
            _OPAQUE_CLASSES[type_name] = cls
    return cls()


class _CellFailed(Exception):
    """Internal: an answer cell timed out or killed the worker while loading."""


class StudentError(Exception):
    """Base of the exceptions re-raised for errors of the student's code."""


_BUILTIN_ERRORS = (
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "FloatingPointError",
    "IndexError",
    "KeyError",
    "LookupError",
    "MemoryError",
    "NameError",
    "NotImplementedError",
    "OverflowError",
    "RecursionError",
    "RuntimeError",
    "TypeError",
    "UnboundLocalError",
    "ValueError",
    "ZeroDivisionError",
)
_ERROR_CLASSES: dict[str, type] = {}

_WARNING_CATEGORIES = {
    cls.__name__: cls
    for cls in (
        RuntimeWarning,
        UserWarning,
        DeprecationWarning,
        FutureWarning,
        PendingDeprecationWarning,
        SyntaxWarning,
        ImportWarning,
        UnicodeWarning,
        BytesWarning,
        ResourceWarning,
        Warning,
        np.exceptions.ComplexWarning,
        np.exceptions.VisibleDeprecationWarning,
        np.exceptions.RankWarning,
    )
}


def student_error(type_name: str, message: str) -> StudentError:
    """An exception carrying the name and message of the student's exception."""
    cls = _ERROR_CLASSES.get(type_name)
    if cls is None:
        bases: tuple = (StudentError,)
        if type_name in _BUILTIN_ERRORS:
            bases = (StudentError, getattr(builtins, type_name))
        cls = type(type_name, bases, {"__module__": "student"})
        if len(_ERROR_CLASSES) < 1000:
            _ERROR_CLASSES[type_name] = cls
    return cls(message)


def _is_warning_pair(item) -> bool:
    return (
        type(item) is list
        and len(item) == 2
        and all(type(part) is str and len(part) <= 2 * wire.MAX_TEXT + 10 for part in item)
    )


class RemoteFunction:
    """Callable proxy of the student's function ``name`` in ``worker``."""

    def __init__(self, worker: StudentWorker, name: str):
        self.worker = worker
        self.name = name
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        return self.worker.call(self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<student function {self.name}>"


class StudentWorker:
    """A sandboxed worker process with the student's answer cells loaded.

    Use as a context manager. ``unsafe`` is passed to
    ``sandbox.require_sandbox`` (refuses to start without bubblewrap unless
    unsafe grading is requested).
    """

    def __init__(
        self,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        unsafe: bool | None = None,
        sandboxed: bool | None = None,
    ):
        self.call_timeout = float(call_timeout)
        self.memory_bytes = int(memory_bytes)
        self.unsafe = unsafe
        self.sandboxed = sandboxed
        self.start_timeout = START_TIMEOUT
        self.process: subprocess.Popen | None = None
        self._to_worker: int | None = None
        self._from_worker: int | None = None
        self._cells: list[dict] | None = None
        self._failed_cells: dict[int, dict] = {}
        self._reference_installed = False
        self._calls = 0
        self._deadline: float | None = None
        self.load_report: list[dict] = []
        self.spawns = 0

    # -- life cycle --

    def __enter__(self) -> StudentWorker:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> None:
        """Decide on the sandbox now (raises if it cannot run); workers start lazily."""
        if self.sandboxed is None:
            self.sandboxed = sandbox.require_sandbox(self.unsafe)

    def _ensure_process(self) -> None:
        """Start a worker if none runs, with the cells and activation re-sent."""
        if self.process is not None:
            return
        for _ in range(len(self._cells or ()) + 1):
            self._start_process()
            try:
                if self._cells is not None:
                    self._load_cells()
                if self._reference_installed:
                    self._send_install_reference()
                return
            except _CellFailed:
                continue  # a fresh worker without the failed cell
        raise WorkerFailure("не удалось запустить процесс с кодом студента")

    def _start_process(self) -> None:
        with open(WORKER_SOURCE_PATH, encoding="utf-8") as handle:
            source = handle.read()
        req_read, req_write = os.pipe()
        resp_read, resp_write = os.pipe()
        limits = sandbox.Limits(
            memory_bytes=self.memory_bytes, nproc=32, fsize_bytes=16 * sandbox.MiB, cpu_seconds=3600
        )
        argv = sandbox.build_command(
            [sys.executable, "-I", "-c", source, str(req_read), str(resp_write)],
            sandboxed=self.sandboxed,
            limits=limits,
        )
        workdir = None if self.sandboxed else tempfile.gettempdir()
        env = None if self.sandboxed else sandbox.sandbox_env({"HOME": workdir})
        try:
            self.process = subprocess.Popen(
                argv,
                pass_fds=(req_read, resp_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=workdir,
            )
        except BaseException:
            os.close(req_write)
            os.close(resp_read)
            raise
        finally:
            os.close(req_read)
            os.close(resp_write)
        self._to_worker, self._from_worker = req_write, resp_read
        self.spawns += 1
        # No student code runs yet: a worker that cannot answer a ping is a
        # failure of the grading machinery, never the student's.
        try:
            self._request({"op": "ping"}, self.start_timeout)
        except WorkerFailure as exc:
            raise WorkerStartError(f"the sandboxed worker does not start: {exc}") from exc

    def kill(self) -> None:
        """Kill the worker (the next request starts a fresh one)."""
        process, self.process = self.process, None
        for fd in (self._to_worker, self._from_worker):
            if fd is not None:
                os.close(fd)
        self._to_worker = self._from_worker = None
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()

    def close(self) -> None:
        self.kill()

    # -- time budget --

    @contextlib.contextmanager
    def time_budget(self, seconds: float):
        """Limit the total time of all calls inside the block."""
        previous = self._deadline
        self._deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._deadline = previous

    def _timeout(self, base: float) -> float:
        if self._deadline is None:
            return base
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise WorkerTimeout("превышено общее время на проверку функций студента")
        return min(base, remaining)

    # -- requests --

    def _request(self, message: dict, timeout: float) -> dict:
        self._ensure_process()
        try:
            data = wire.pack(message)
        except wire.ProtocolError as exc:
            raise ValueError("запрос к процессу с кодом студента слишком велик") from exc
        try:
            self._write_all(data, timeout)
            response = self._read_response(timeout)
        except WorkerFailure:
            self.kill()
            raise
        if response.get("ok") is not True:
            self.kill()
            raise ProtocolViolation("процесс с кодом студента ответил не по протоколу")
        return response

    def _write_all(self, data: bytes, timeout: float) -> None:
        end = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            left = end - time.monotonic()
            if left <= 0:
                raise WorkerTimeout(f"превышено время ({timeout:g} с) при передаче данных")
            _, ready, _ = select.select([], [self._to_worker], [], left)
            if not ready:
                continue
            try:
                written = os.write(self._to_worker, view[: 1 << 16])
            except BrokenPipeError as exc:
                raise WorkerFailure("процесс с кодом студента аварийно завершился") from exc
            view = view[written:]

    def _read_exact(self, size: int, end: float, timeout: float) -> bytes:
        chunks, got = [], 0
        while got < size:
            left = end - time.monotonic()
            if left <= 0:
                raise WorkerTimeout(f"превышено время выполнения ({timeout:g} с)")
            ready, _, _ = select.select([self._from_worker], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_worker, min(size - got, 1 << 20))
            if not chunk:
                raise WorkerFailure(
                    "процесс с кодом студента аварийно завершился"
                    " (например, исчерпал память или вызвал выход)"
                )
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _read_response(self, timeout: float) -> dict:
        end = time.monotonic() + timeout
        (size,) = wire.HEADER.unpack(self._read_exact(wire.HEADER.size, end, timeout))
        if size > MAX_RESPONSE_BYTES:
            raise ProtocolViolation("ответ процесса с кодом студента слишком велик")
        body = self._read_exact(size, end, timeout)
        try:
            return wire.unpack_body(body)
        except wire.ProtocolError as exc:
            raise ProtocolViolation("процесс с кодом студента ответил не по протоколу") from exc

    # -- loading --

    def load(self, cells) -> list[dict]:
        """Execute answer cells, given as (name, source) pairs, in a fresh namespace.

        Cells run one by one, as in a kernel: an exception stops only its cell.
        A cell that times out or kills the worker is left out and the others
        are loaded again into a fresh worker. Returns the report
        [{"name", "error": None | {"type", "message"}}], one item per cell.
        """
        self._cells = [
            {"name": str(name), "source": _bounded_source(str(source))} for name, source in cells
        ]
        self._failed_cells: dict[int, dict] = {}
        self.kill()
        self._ensure_process()
        return self.load_report

    def _load_cells(self) -> None:
        report = []
        for index, cell in enumerate(self._cells):
            if index in self._failed_cells:
                report.append({"name": cell["name"], "error": self._failed_cells[index]})
                continue
            try:
                response = self._request(
                    {"op": "load", "cells": [cell], "seed": 0}, self.call_timeout
                )
                items = response.get("cells")
                if (
                    set(response) != {"ok", "cells"}
                    or type(items) is not list
                    or len(items) != 1
                    or not self._valid_cell_report(items[0])
                ):
                    raise ProtocolViolation("процесс с кодом студента ответил не по протоколу")
            except WorkerFailure as exc:
                self.kill()
                self._failed_cells[index] = {"type": type(exc).__name__, "message": str(exc)}
                raise _CellFailed() from exc
            report.append({"name": cell["name"], "error": items[0]["error"]})
        self.load_report = report

    @staticmethod
    def _valid_cell_report(item) -> bool:
        if (
            type(item) is not dict
            or set(item) != {"name", "error"}
            or type(item["name"]) is not str
        ):
            return False
        return item["error"] is None or _valid_error(item["error"])

    def _send_install_reference(self) -> None:
        source = inspect.getsource(reference.sigmoid)
        self._request(
            {"op": "install_reference", "source": source, "name": "sigmoid"}, self.call_timeout
        )

    # -- calls --

    def function(self, name: str) -> RemoteFunction:
        return RemoteFunction(self, name)

    def _encode_net(self, value):
        if not isinstance(value, reference.Net):
            return None
        activation = getattr(value, "activation", "reference")
        if activation == "reference" or activation is reference.sigmoid:
            kind = "reference"
        elif (
            isinstance(activation, RemoteFunction)
            and activation.worker is self
            and activation.name == "sigmoid"
        ):
            kind = "student"
        else:
            raise TypeError(f"a Net with activation {activation!r} cannot be sent to the worker")
        return {
            "__net__": {
                "w": self._encode_arg(value.w),
                "b": self._encode_arg(value.b),
                "activation": kind,
            }
        }

    def _encode_arg(self, value):
        encoded = wire.encode(value, net_hook=self._encode_net)
        if _contains_unsupported(encoded):
            raise TypeError(f"argument of type {type(value).__name__} cannot be sent to the worker")
        return encoded

    def call(self, name: str, args: tuple = (), kwargs: dict | None = None):
        kwargs = dict(kwargs or {})
        encoded_args = [self._encode_arg(value) for value in args]
        encoded_kwargs = [[key, self._encode_arg(value)] for key, value in kwargs.items()]
        needs_reference = any(_uses_reference(item) for item in encoded_args) or any(
            _uses_reference(item) for _, item in encoded_kwargs
        )
        if needs_reference and not self._reference_installed:
            self._ensure_process()
            self._send_install_reference()
            self._reference_installed = True
        seed = self._calls % 2**32
        self._calls += 1
        timeout = self._timeout(self.call_timeout)
        response = self._request(
            {
                "op": "call",
                "fn": name,
                "seed": seed,
                "errstate": np.geterr(),
                "args": {"__tuple__": encoded_args},
                "kwargs": {"__dict__": encoded_kwargs},
            },
            timeout,
        )
        try:
            result, error, caught = self._check_call_response(response, args, kwargs)
        except (wire.ProtocolError, ProtocolViolation) as exc:
            self.kill()
            raise ProtocolViolation("процесс с кодом студента ответил не по протоколу") from exc
        for category, message in caught:
            warnings.warn(message, _WARNING_CATEGORIES.get(category, RuntimeWarning), stacklevel=3)
        if error is not None:
            raise student_error(error["type"], error["message"])
        return _replace_unsupported(result)

    def _check_call_response(self, response: dict, args: tuple, kwargs: dict):
        expected = {"ok", "result", "error", "warnings", "args_after", "kwargs_after"}
        if set(response) != expected:
            raise ProtocolViolation("unexpected keys")
        error = response["error"]
        if error is not None and not _valid_error(error):
            raise ProtocolViolation("bad error")
        caught = response["warnings"]
        if (
            type(caught) is not list
            or len(caught) > wire.MAX_WARNINGS
            or not all(_is_warning_pair(item) for item in caught)
        ):
            raise ProtocolViolation("bad warnings")

        def argument(kind, key):
            if (
                kind == "a"
                and 0 <= key < len(args)
                and isinstance(args[key], (np.ndarray, reference.Net))
            ):
                return args[key]
            if (
                kind == "k"
                and key in kwargs
                and isinstance(kwargs[key], (np.ndarray, reference.Net))
            ):
                return kwargs[key]
            raise ProtocolViolation("bad argument reference")

        result = wire.decode(response["result"], argument=argument)
        args_after = response["args_after"]
        kwargs_after = response["kwargs_after"]
        if (
            type(args_after) is not list
            or len(args_after) != len(args)
            or type(kwargs_after) is not dict
            or set(kwargs_after) != set(kwargs)
        ):
            raise ProtocolViolation("bad after-state")
        # Decode everything before touching the caller's objects.
        updates = []
        for original, state in list(zip(args, args_after)) + [
            (kwargs[key], kwargs_after[key]) for key in kwargs
        ]:
            if state is None:
                continue
            if isinstance(original, np.ndarray):
                new = wire.decode(state)
                if not isinstance(new, np.ndarray):
                    raise ProtocolViolation("array expected")
                updates.append((original, new))
            elif isinstance(original, reference.Net):
                new = wire.decode(state, net_factory=lambda w, b, activation: (w, b))
                if type(new) is not tuple or len(new) != 2:
                    raise ProtocolViolation("net expected")
                # net.w = object(): the check sees a placeholder of that type
                updates.append((original, _replace_unsupported(new)))
            else:
                raise ProtocolViolation("unexpected after-state")
        for original, new in updates:
            if isinstance(original, np.ndarray):
                if (
                    original.flags.writeable
                    and new.shape == original.shape
                    and new.dtype == original.dtype
                ):
                    np.copyto(original, new)
            else:
                original.w, original.b = new
        return result, error, caught


def _bounded_source(source: str) -> str:
    """source, or code raising an error when the cell is too large to send."""
    if len(source) <= MAX_CELL_CHARS:
        return source
    return f"raise MemoryError('ячейка слишком велика: {len(source)} символов')\n"


def _valid_error(error) -> bool:
    return (
        type(error) is dict
        and set(error) == {"type", "message"}
        and type(error["type"]) is str
        and 0 < len(error["type"]) <= 203
        and type(error["message"]) is str
        and len(error["message"]) <= wire.MAX_TEXT + 3
    )


def _uses_reference(encoded) -> bool:
    return (
        type(encoded) is dict
        and "__net__" in encoded
        and encoded["__net__"]["activation"] == "reference"
    )


def _contains_unsupported(value) -> bool:
    if type(value) is dict:
        if "__unsupported__" in value:
            return True
        return any(_contains_unsupported(item) for item in value.values())
    if type(value) is list:
        return any(_contains_unsupported(item) for item in value)
    return False


def _replace_unsupported(value):
    """value with every unsupported marker replaced by an Opaque placeholder."""
    if isinstance(value, wire.Unsupported):
        return opaque(value.name)
    if type(value) in (tuple, list):
        items = [_replace_unsupported(item) for item in value]
        return tuple(items) if type(value) is tuple else items
    if type(value) is dict:
        return {key: _replace_unsupported(item) for key, item in value.items()}
    return value


__all__ = [
    "StudentWorker",
    "RemoteFunction",
    "StudentError",
    "WorkerFailure",
    "WorkerStartError",
    "WorkerTimeout",
    "ProtocolViolation",
    "Opaque",
    "student_error",
]
