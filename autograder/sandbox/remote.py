"""Calling a student's functions in a sandboxed worker process.

``StudentWorker`` starts ``worker.py`` (with ``wire.py``, see ``worker_program``) in
the sandbox of ``autograder.sandbox.bubblewrap``, loads the student's cells into it and
serves calls; ``RemoteFunction`` is a callable proxy that the checks receive instead of
the student's function. The engine knows nothing of an assignment: the classes the
checks share with student code (``SharedClass``) and the namespaces of trusted
functions those classes can be built in (``envs``) are given by the caller
(``trusted_verdict.load_assignment``).

What the proxy reproduces of an in-kernel call:

* arguments and results travel as data only (see ``wire``); a result that is one of
  the call's array or object arguments comes back as the caller's own object
  (``result is x`` holds as in-kernel); a value the format cannot carry comes back as
  an ``Opaque`` placeholder whose type has the original type's name and no behaviour;
* numpy arrays the student mutates are copied back into the caller's arrays
  (read-only arrays stay read-only in the worker);
* the student's namespace lives as long as the worker: module globals the student's
  functions keep between calls persist, as in the kernel;
* shared objects (instances of a ``SharedClass``, e.g. a net): the same grader object
  is the SAME instance in the worker for all calls (a handle per grader object).
  Attributes the student sets on it persist between calls; after every call the
  ``state`` attributes come back into the grader's object, and the grader's changes
  to them are pushed before the next call (unchanged ones are not touched, so their
  identity in the worker survives). A multi-step check therefore passes one object
  to several calls exactly as a notebook would::

      net = CheckNet(0.7, 0.1, "reference")
      for _ in range(3):
          backprop(net, x, y, lr=0.1)      # one net in the worker, state kept

  Its methods call the student's functions (env "student": the grader's object has
  a proxy of this worker in its ``env_attribute``) or trusted ones (the attribute is
  the name of one of ``envs``, e.g. ``"reference"``): an env's source is sent only
  when its first object is (after the checks of the student's own versions);
* an exception of the student's code is raised here with its type name and message
  (``StudentError`` subclass, also a subclass of the builtin of that name);
* the caller's ``np.geterr()`` applies in the worker; the global generators of numpy
  and ``random`` are seeded once per worker (0) and never reseeded behind the
  student's back; ``seed_global_rngs(fn, seed)`` seeds them where ``fn`` runs.

Nothing measured inside the worker decides anything (student code could rewrite it).
Per call the grader observes from outside (``CallObservation``, from
``observed_call(fn, ...)`` or ``StudentWorker.observations``): the returned value or
exception, the in-place state of arguments, ``cpu_seconds`` (user + system CPU time of
the worker process, measured with psutil on its pid before and after the call),
``wall_seconds`` (informational), and ``stderr``: what the worker wrote to its stderr
pipe during the call (numpy warnings are printed there; the student can silence or
forge it, so it may only feed a hint, never a pass). Warnings are not re-emitted.

On a timeout, a crash or a malformed message the worker is killed, the call raises
``WorkerFailure`` (Russian message) and the next call starts a fresh worker (which
reloads the same cells; shared objects are rebuilt from their synced state). A worker
that does not answer a ping before any student code is loaded raises
``WorkerStartError`` (a BaseException): grading stops loudly instead of scoring 0.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import io
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import psutil

from autograder.sandbox import bubblewrap as sandbox
from autograder.sandbox import wire

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_SOURCE_PATH = os.path.join(HERE, "worker.py")
WIRE_SOURCE_PATH = os.path.join(HERE, "wire.py")
DEFAULT_CALL_TIMEOUT = 10.0
#: Seconds a fresh worker may take to answer its first ping (a loaded machine).
START_TIMEOUT = 60.0
DEFAULT_MEMORY_BYTES = 1024 * sandbox.MiB
#: Characters of one cell sent to the worker (a larger cell raises there).
MAX_CELL_CHARS = 1_000_000
#: Bytes of a response larger than this are a protocol violation.
MAX_RESPONSE_BYTES = wire.MAX_MESSAGE_BYTES
#: Bytes of the worker's stderr kept per call (the rest is counted, not kept).
MAX_STDERR_BYTES = 64 * 1024
#: Observations kept per worker (the oldest are dropped).
MAX_OBSERVATIONS = 100_000


def worker_program() -> str:
    """The ``python -c`` program of the worker: ``wire.py`` installed as ``wire``, then ``worker.py``."""
    with open(WIRE_SOURCE_PATH, encoding="utf-8") as handle:
        wire_source = handle.read()
    with open(WORKER_SOURCE_PATH, encoding="utf-8") as handle:
        worker_source = handle.read()
    return (
        "import sys, types\n"
        "wire = types.ModuleType('wire')\n"
        f"exec(compile({wire_source!r}, 'wire.py', 'exec'), wire.__dict__)\n"
        "sys.modules['wire'] = wire\n"
        "del sys, types, wire\n"
        f"exec(compile({worker_source!r}, 'worker.py', 'exec'), {{'__name__': '__main__'}})\n"
    )


@dataclasses.dataclass(frozen=True)
class SharedClass:
    """A class whose instances the grader passes to student code (e.g. a given Net).

    ``local``: the grader's class (subclasses count); ``source``: its trusted source,
    built in every trusted env; ``state``: attributes synced both ways;
    ``env_attribute``: the grader's object's attribute naming its env (see the module
    docstring). The student-env class is the one the given cell defines in the
    worker (``StudentWorker.load``).
    """

    name: str
    local: type
    source: str
    state: tuple[str, ...]
    env_attribute: str


@dataclasses.dataclass(frozen=True)
class CallObservation:
    """What the grader saw of one call, from outside the student's process."""

    function: str
    cpu_seconds: float | None  # None when the process was gone (crash, kill)
    wall_seconds: float
    stderr: str
    stderr_bytes: int
    error: str | None  # type name of the student's exception, or None


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


class RemoteFunction:
    """Callable proxy of the student's function ``name`` in ``worker``."""

    def __init__(self, worker: StudentWorker, name: str):
        self.worker = worker
        self.name = name
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.worker.call(self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<student function {self.name}>"


def observed_call(fn: Callable, *args: Any, **kwargs: Any) -> tuple[Any, CallObservation]:
    """Call fn and return (result, what the grader observed of that call).

    For a proxy the observation is the worker's (CPU time measured from outside).
    For a plain function (pytest, the in-kernel hidden test) CPU time is this
    process's ``time.process_time()`` around the call and stderr is what Python code
    wrote to ``sys.stderr``. An exception of fn propagates with the observation as
    its ``observation`` attribute (when it can be set).
    """
    if isinstance(fn, RemoteFunction):
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _attach(exc, fn.worker.last_observation)
            raise
        return result, fn.worker.last_observation
    sink = io.StringIO()
    error = None
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        with contextlib.redirect_stderr(sink):
            result = fn(*args, **kwargs)
    except BaseException as exc:
        error = exc
    observation = CallObservation(
        function=getattr(fn, "__name__", type(fn).__name__),
        cpu_seconds=time.process_time() - cpu,
        wall_seconds=time.perf_counter() - wall,
        stderr=sink.getvalue()[:MAX_STDERR_BYTES],
        stderr_bytes=len(sink.getvalue().encode("utf-8", "replace")),
        error=None if error is None else type(error).__name__,
    )
    if error is not None:
        _attach(error, observation)
        raise error
    return result, observation


def _attach(exc: BaseException, observation: CallObservation | None) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        exc.observation = observation


def seed_global_rngs(fn: Callable, seed: int) -> None:
    """Seed numpy's and random's global generators where fn runs (worker or here)."""
    if isinstance(fn, RemoteFunction):
        fn.worker.seed(seed)
    else:
        np.random.seed(seed)
        random.seed(seed)


class StudentWorker:
    """A sandboxed worker process with the student's cells loaded.

    Use as a context manager. ``unsafe`` is passed to ``sandbox.require_sandbox``
    (refuses to start without bubblewrap unless unsafe grading is requested).
    ``shared_classes`` and ``envs`` (env name -> {function name: trusted source})
    come from the assignment (see the module docstring).
    """

    def __init__(
        self,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        unsafe: bool | None = None,
        sandboxed: bool | None = None,
        shared_classes: Sequence[SharedClass] = (),
        envs: Mapping[str, Mapping[str, str]] | None = None,
    ):
        self.call_timeout = float(call_timeout)
        self.memory_bytes = int(memory_bytes)
        self.unsafe = unsafe
        self.sandboxed = sandboxed
        self.shared_classes = tuple(shared_classes)
        self.envs = {name: dict(sources) for name, sources in (envs or {}).items()}
        if not all(wire.valid_env_name(n) and n != wire.STUDENT_ENV for n in self.envs):
            raise ValueError(f"bad env names: {sorted(self.envs)}")
        #: Names of the functions some env defines (the student's versions are theirs).
        self._env_functions = {name for sources in self.envs.values() for name in sources}
        self.start_timeout = START_TIMEOUT
        self.process: subprocess.Popen | None = None
        self._to_worker: int | None = None
        self._from_worker: int | None = None
        self._stderr: int | None = None
        self._stderr_data = bytearray()
        #: Bytes read from the response pipe and not yet consumed (see _read_exact).
        self._received = bytearray()
        self._stderr_count = 0
        self._student_process: psutil.Process | None = None
        self._cells: list[dict] | None = None
        self._failed_cells: dict[int, dict] = {}
        self._preamble = 0
        self._installed_envs: list[str] = []
        self._seed: int | None = None
        self._deadline: float | None = None
        self._handles: dict[int, tuple[weakref.ref, int]] = {}
        #: Envs of the shared objects in the arguments being encoded (see _encode_arg).
        self._envs_used: set[str] = set()
        self._next_handle = 0
        self.load_report: list[dict] = []
        self.observations: list[CallObservation] = []
        self.spawns = 0

    @property
    def last_observation(self) -> CallObservation | None:
        """The observation of the latest call (None before any call)."""
        return self.observations[-1] if self.observations else None

    # -- life cycle --

    def __enter__(self) -> StudentWorker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Decide on the sandbox now (raises if it cannot run); workers start lazily."""
        if self.sandboxed is None:
            self.sandboxed = sandbox.require_sandbox(self.unsafe)

    def _ensure_process(self) -> None:
        """Start a worker if none runs, with the cells and envs re-sent."""
        if self.process is not None:
            return
        for _ in range(len(self._cells or ()) + 1):
            self._start_process()
            try:
                if self._cells is not None:
                    self._load_cells()
                for env in self._installed_envs:
                    self._send_install_env(env)
                if self._seed is not None:
                    self._request({"op": "seed", "seed": self._seed}, self.call_timeout)
                return
            except _CellFailed:
                continue  # a fresh worker without the failed cell
        raise WorkerFailure("не удалось запустить процесс с кодом студента")

    def _start_process(self) -> None:
        program = worker_program()
        req_read, req_write = os.pipe()
        resp_read, resp_write = os.pipe()
        err_read, err_write = os.pipe()
        os.set_blocking(err_read, False)
        # A worker that stops reading cannot block a write past its timeout.
        os.set_blocking(req_write, False)
        limits = sandbox.Limits(
            memory_bytes=self.memory_bytes, nproc=32, fsize_bytes=16 * sandbox.MiB, cpu_seconds=3600
        )
        argv = sandbox.build_command(
            [sys.executable, "-I", "-c", program, str(req_read), str(resp_write)],
            sandboxed=self.sandboxed,
            limits=limits,
            env={"MPLBACKEND": "Agg"},
        )
        workdir = None if self.sandboxed else tempfile.gettempdir()
        env = (
            None if self.sandboxed else sandbox.sandbox_env({"HOME": workdir, "MPLBACKEND": "Agg"})
        )
        try:
            self.process = subprocess.Popen(
                argv,
                pass_fds=(req_read, resp_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err_write,
                start_new_session=True,
                env=env,
                cwd=workdir,
            )
        except BaseException:
            for fd in (req_write, resp_read, err_read):
                os.close(fd)
            raise
        finally:
            for fd in (req_read, resp_write, err_write):
                os.close(fd)
        self._to_worker, self._from_worker, self._stderr = req_write, resp_read, err_read
        self._received.clear()
        self._student_process = None
        self.spawns += 1
        # No student code runs yet: a worker that cannot answer a ping is a
        # failure of the grading machinery, never the student's.
        try:
            self._request({"op": "ping"}, self.start_timeout)
        except WorkerFailure as exc:
            raise WorkerStartError(f"the sandboxed worker does not start: {exc}") from exc
        self._student_process = _leaf_process(self.process.pid)

    def kill(self) -> None:
        """Kill the worker (the next request starts a fresh one)."""
        process, self.process = self.process, None
        for fd in (self._to_worker, self._from_worker, self._stderr):
            if fd is not None:
                os.close(fd)
        self._to_worker = self._from_worker = self._stderr = None
        self._received.clear()
        self._student_process = None
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
    def time_budget(self, seconds: float) -> Iterator[None]:
        """Limit the total time of all calls inside the block (a hang guard)."""
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
            self._drain_stderr()
            self.kill()
            raise
        self._drain_stderr()
        if response.get("ok") is not True:
            self.kill()
            raise ProtocolViolation("процесс с кодом студента ответил не по протоколу")
        return response

    def _write_all(self, data: bytes, timeout: float) -> None:
        """Write data to the (non-blocking) request pipe within timeout."""
        end = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._to_worker, view[: 1 << 16])
            except BlockingIOError:
                written = 0  # the pipe is full: wait below
            except BrokenPipeError as exc:
                raise WorkerFailure("процесс с кодом студента аварийно завершился") from exc
            view = view[written:]
            if not view:
                return
            left = end - time.monotonic()
            if left <= 0:
                raise WorkerTimeout(f"превышено время ({timeout:g} с) при передаче данных")
            select.select([], [self._to_worker], [], left)

    def _drain_stderr(self) -> None:
        """Read what the worker wrote to stderr so far (keeps the first bytes of a call)."""
        while self._stderr is not None:
            try:
                chunk = os.read(self._stderr, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                return
            self._stderr_count += len(chunk)
            room = MAX_STDERR_BYTES - len(self._stderr_data)
            if room > 0:
                self._stderr_data += chunk[:room]

    def _read_exact(self, size: int, end: float, timeout: float) -> bytes:
        """The next size bytes of the response pipe, read by the deadline end.

        Reads ahead what the pipe holds (a small response takes one read); bytes after
        a response stay in _received for the next one, as they would in the pipe.
        """
        received = self._received
        while len(received) < size:
            left = end - time.monotonic()
            if left <= 0:
                raise WorkerTimeout(f"превышено время выполнения ({timeout:g} с)")
            # stderr is drained meanwhile: a full pipe would block the worker.
            ready, _, _ = select.select([self._from_worker, self._stderr], [], [], left)
            if self._stderr in ready:
                self._drain_stderr()
            if self._from_worker not in ready:
                continue
            want = min(max(size - len(received), 1 << 16), 1 << 20)
            chunk = os.read(self._from_worker, want)
            if not chunk:
                raise WorkerFailure(
                    "процесс с кодом студента аварийно завершился"
                    " (например, исчерпал память или вызвал выход)"
                )
            received += chunk
        data = bytes(received[:size])
        del received[:size]
        return data

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

    def _cpu_seconds(self) -> float | None:
        """User + system CPU time of the worker process (and its reaped children)."""
        if self._student_process is None:
            return None
        try:
            times = self._student_process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        return times.user + times.system + times.children_user + times.children_system

    # -- loading --

    def load(self, cells: Iterable[tuple[str, str] | tuple[str, str, Sequence[str]]]) -> list[dict]:
        """Execute cells, given as (name, source[, captured class names]), in a fresh namespace.

        Cells run one by one, in order, as in a kernel: an exception stops only its
        cell. A shared class no cell captures is defined first from its trusted
        source. A cell that times out or kills the worker is left out and the others
        are loaded again into a fresh worker. Returns the report
        [{"name", "error": None | {"type", "message"}}], one item per given cell.
        """
        loaded = []
        for cell in cells:
            name, source, capture = (tuple(cell) + ((),))[:3]
            loaded.append(
                {
                    "name": str(name),
                    "source": _bounded_source(str(source)),
                    "capture": [str(item) for item in capture],
                }
            )
        captured = {name for cell in loaded for name in cell["capture"]}
        preamble = [
            {"name": f"given {cls.name}", "source": cls.source, "capture": [cls.name]}
            for cls in self.shared_classes
            if cls.name not in captured
        ]
        self._preamble = len(preamble)
        self._cells = preamble + loaded
        self._failed_cells = {}
        self._handles = {}
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
                response = self._request({"op": "load", "cells": [cell]}, self.call_timeout)
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
        self._stderr_data.clear()
        self.load_report = report[self._preamble :]

    @staticmethod
    def _valid_cell_report(item: Any) -> bool:
        if (
            type(item) is not dict
            or set(item) != {"name", "error"}
            or type(item["name"]) is not str
        ):
            return False
        return item["error"] is None or _valid_error(item["error"])

    def _send_install_env(self, env: str) -> None:
        sources = list(self.envs[env].items()) + [
            (cls.name, cls.source) for cls in self.shared_classes
        ]
        self._request(
            {
                "op": "install_env",
                "env": env,
                "sources": [list(item) for item in sources],
                "capture": [cls.name for cls in self.shared_classes],
            },
            self.call_timeout,
        )

    def seed(self, seed: int) -> None:
        """Seed the worker's global generators (kept for a respawned worker too)."""
        self._seed = int(seed) % 2**32
        self._request({"op": "seed", "seed": self._seed}, self._timeout(self.call_timeout))

    # -- calls --

    def function(self, name: str) -> RemoteFunction:
        return RemoteFunction(self, name)

    def _shared_class(self, value: Any) -> SharedClass | None:
        for cls in self.shared_classes:
            if isinstance(value, cls.local):
                return cls
        return None

    def _handle(self, value: Any) -> int:
        entry = self._handles.get(id(value))
        if entry is not None and entry[0]() is value:
            return entry[1]
        handle, self._next_handle = self._next_handle, self._next_handle + 1
        self._handles[id(value)] = (weakref.ref(value), handle)
        return handle

    def _encode_object(self, value: Any) -> dict | None:
        cls = self._shared_class(value)
        if cls is None:
            return None
        selector = getattr(value, cls.env_attribute, None)
        if isinstance(selector, str) and selector in self.envs:
            env = selector
        elif (
            isinstance(selector, RemoteFunction)
            and selector.worker is self
            and selector.name in self._env_functions
        ):
            env = wire.STUDENT_ENV
        else:
            raise TypeError(
                f"a {cls.name} with {cls.env_attribute} {selector!r} cannot be sent to the worker"
            )
        state = {name: self._encode_arg(getattr(value, name, None)) for name in cls.state}
        self._envs_used.add(env)
        return wire.encode_object(cls.name, env, self._handle(value), state)

    def _encode_arg(self, value: Any) -> Any:
        """wire.encode of an argument; TypeError where the format has no place for a value.

        The env of every shared object encoded (at any depth) is added to _envs_used.
        """
        try:
            return wire.encode(value, object_hook=self._encode_object, strict=True)
        except wire.Unencodable:
            raise TypeError(
                f"argument of type {type(value).__name__} cannot be sent to the worker"
            ) from None

    def call(self, name: str, args: tuple = (), kwargs: dict | None = None) -> Any:
        """Call the student's function name; see the module docstring for the semantics."""
        kwargs = dict(kwargs or {})
        self._envs_used = set()
        encoded_args = [self._encode_arg(value) for value in args]
        encoded_kwargs = [[key, self._encode_arg(value)] for key, value in kwargs.items()]
        needed = self._envs_used
        for env in sorted(needed - {wire.STUDENT_ENV} - set(self._installed_envs)):
            self._ensure_process()
            self._send_install_env(env)
            self._installed_envs.append(env)
        timeout = self._timeout(self.call_timeout)
        message = {
            "op": "call",
            "fn": name,
            "errstate": np.geterr(),
            "args": {"__tuple__": encoded_args},
            "kwargs": {"__dict__": encoded_kwargs},
        }
        self._ensure_process()
        self._drain_stderr()
        self._stderr_data.clear()
        self._stderr_count = 0
        cpu_before, wall_before = self._cpu_seconds(), time.perf_counter()
        try:
            response = self._request(message, timeout)
        except WorkerFailure as exc:
            self._observe(name, cpu_before, None, wall_before, type(exc).__name__)
            raise
        cpu_after = self._cpu_seconds()
        try:
            result, error = self._check_call_response(response, args, kwargs)
        except (wire.ProtocolError, ProtocolViolation) as exc:
            self.kill()
            raise ProtocolViolation("процесс с кодом студента ответил не по протоколу") from exc
        self._observe(name, cpu_before, cpu_after, wall_before, error and error["type"])
        if error is not None:
            raise self._student_error(error)
        return self._returned(result)

    # Once an env (trusted code, e.g. the reference activation) is installed, the
    # worker holds text the student must never see: from then on no free-form text
    # of the worker (exception messages, strings, type names) reaches a check's message.
    def _student_error(self, error: dict) -> StudentError:
        if self._installed_envs:
            type_name = error["type"] if error["type"] in _BUILTIN_ERRORS else "Exception"
            return student_error(type_name, "")
        return student_error(error["type"], error["message"])

    def _returned(self, value):
        if self._installed_envs:
            return _map_leaves(value, _anonymous)
        return _map_leaves(value, _placeholder)

    def _observe(self, name, cpu_before, cpu_after, wall_before, error) -> None:
        cpu = None if cpu_before is None or cpu_after is None else max(0.0, cpu_after - cpu_before)
        self.observations.append(
            CallObservation(
                function=name,
                cpu_seconds=cpu,
                wall_seconds=time.perf_counter() - wall_before,
                stderr=bytes(self._stderr_data).decode("utf-8", "replace"),
                stderr_bytes=self._stderr_count,
                error=error,
            )
        )
        if len(self.observations) > MAX_OBSERVATIONS:
            del self.observations[: len(self.observations) - MAX_OBSERVATIONS]

    def _check_call_response(self, response: dict, args: tuple, kwargs: dict):
        expected = {"ok", "result", "error", "args_after", "kwargs_after"}
        if set(response) != expected:
            raise ProtocolViolation("unexpected keys")
        error = response["error"]
        if error is not None and not _valid_error(error):
            raise ProtocolViolation("bad error")

        def passable(value: Any) -> bool:
            return isinstance(value, np.ndarray) or self._shared_class(value) is not None

        def argument(kind: str, key: Any) -> Any:
            if kind == "a" and 0 <= key < len(args) and passable(args[key]):
                return args[key]
            if kind == "k" and key in kwargs and passable(kwargs[key]):
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
            elif (cls := self._shared_class(original)) is not None:
                new = wire.decode(state)
                if type(new) is not dict or set(new) != set(cls.state):
                    raise ProtocolViolation("object state expected")
                # net.w = object(): the check sees a placeholder of that type
                updates.append((original, self._returned(new)))
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
                for attribute, value in new.items():
                    setattr(original, attribute, value)
        return result, error


def _leaf_process(pid: int) -> psutil.Process | None:
    """The process running the worker's Python: the deepest one under pid.

    Under bubblewrap the Popen pid is bwrap; the tree is a chain (bwrap, its
    pid-namespace init, the nested bwrap, python) until student code runs, which it
    has not yet when this is called (right after the first ping).
    """
    try:
        root = psutil.Process(pid)
        chain = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    leaves = []
    for process in chain:
        with contextlib.suppress(psutil.NoSuchProcess):
            if not process.children():
                leaves.append(process)
    return leaves[-1] if leaves else None


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


def _map_leaves(value, leaf):
    """value with leaf() applied to everything that is not a tuple, list or dict."""
    if type(value) in (tuple, list):
        items = [_map_leaves(item, leaf) for item in value]
        return tuple(items) if type(value) is tuple else items
    if type(value) is dict:
        return {key: _map_leaves(item, leaf) for key, item in value.items()}
    return leaf(value)


def _placeholder(x):
    """An unsupported marker as an Opaque placeholder named like the student's type."""
    return opaque(x.name) if isinstance(x, wire.Unsupported) else x


def _anonymous(x):
    """A string, placeholder or unsupported marker as an anonymous placeholder (no text)."""
    return opaque("object") if type(x) is str or isinstance(x, (Opaque, wire.Unsupported)) else x


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
    "SharedClass",
    "CallObservation",
    "observed_call",
    "seed_global_rngs",
]
