"""The engine beyond one machine: one Dask task per student.

``grade_in_dask`` is called like :func:`autograder.classgrade.pool.grade_in_workers`
and gives the same outcomes; the coordinator (this process) stays the only writer
of the gradebook, ``autograded/``, ``feedback/``, the CSV and the report.

- The course snapshot travels once to every worker (``scatter(broadcast=True)``),
  each submission inside its task: workers need no shared filesystem, the course's
  files or a gradebook credential (the snapshot's gradebook is an assignment-only
  SQLite file).
- On the worker, a task hands its student to a long-lived grading process of its
  own (``python -m autograder.classgrade.distributed``, one per worker thread,
  started on first use and kept warm), which runs
  :func:`autograder.classgrade.task.grade_student` -- the course's own pipeline,
  sandbox and trusted verdicts included -- in a private scratch course. The task
  enforces the time budget: over it, the grading process tree is killed
  (kernels and sandboxes included) and a fresh one starts for the next task.
  nbgrader changes the cwd and keeps app singletons, so it never runs inside the
  Dask worker process itself.
- A worker that cannot sandbox student code is refused before the run starts
  (exit 2, as locally); one that joins later and cannot reports the student as a
  grading error naming the worker.

A student who comes back "timed out" or "kernel died" is graded once more, in a
fresh grading process, before that verdict is final -- the local pool's rule and
detail text (:data:`autograder.classgrade.pool.RETRIED`,
:func:`autograder.classgrade.pool.retry_note`; :class:`RetryOnce` applies it here),
so the two engines never give a student different statuses. A grading process
whose student came back so is not reused.

Delivery is at least once (Dask re-runs the task of a worker that died, and a
task may finish twice); grades are recorded exactly once: :class:`ExactlyOnce`
lets the first complete result of a student in a run through (first wins) and
drops every later one, whatever the order. Every result is written to the spool
(``<report dir>/spool/<student>.pickle``) before it is merged and removed after:
when the gradebook fails mid-run, merging stops, the results still coming back
are kept there, and the same command run again merges the kept results whose
course and submission are unchanged without grading them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import multiprocessing.connection
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from autograder.classgrade.pool import RETRIED, kill_tree, needs_retry, retry_note
from autograder.classgrade.results import ERROR, KERNEL_DIED, TIMED_OUT, GradeClassError
from autograder.classgrade.task import (
    CourseSnapshot,
    GradingOutcome,
    GradingSetupError,
    GradingTask,
)


def task_digest(course: CourseSnapshot, task: GradingTask) -> str:
    """What a result depends on: the course snapshot and the submission."""
    h = hashlib.sha256(course.digest.encode())
    h.update(f"\0{task.student}\0{task.assignment}\0{task.feedback}\0".encode())
    for name in sorted(task.submission):
        h.update(name.encode() + b"\0" + task.submission[name] + b"\0")
    return h.hexdigest()


@dataclasses.dataclass
class Delivery:
    """One finished attempt at grading a student, as it comes back from a worker."""

    digest: str  # task_digest of what was graded
    attempt: str  # unique per attempt (a re-run task has a new one)
    worker: str
    outcome: GradingOutcome


class ExactlyOnce:
    """First complete delivery of each expected (student, digest) wins.

    ``expected`` maps a student to the digest of the task sent for them in this
    run; a delivery of another student or of another digest (a result of an
    earlier run, of a changed submission) and every later delivery of a student
    already accepted are dropped. ``duplicates`` counts the dropped ones."""

    def __init__(self, expected: dict[str, str] | None = None):
        self.expected = dict(expected or {})
        self.accepted: dict[str, str] = {}  # student -> attempt
        self.duplicates = 0

    def offer(self, delivery: Delivery) -> bool:
        student = delivery.outcome.student
        if self.expected.get(student) != delivery.digest or student in self.accepted:
            self.duplicates += 1
            return False
        self.accepted[student] = delivery.attempt
        return True

    @property
    def missing(self) -> list[str]:
        return sorted(set(self.expected) - set(self.accepted))


class RetryOnce:
    """The local pool's retry rule, on the coordinator: a student's first
    "timed out"/"kernel died" is held back and the student graded again; the
    second outcome, whatever it is, is the final one, noted as a retry."""

    def __init__(self):
        self.first: dict[str, GradingOutcome] = {}  # student -> first attempt held back

    def final(self, outcome: GradingOutcome) -> GradingOutcome | None:
        """The outcome to report for this attempt, or None: grade the student again."""
        first = self.first.pop(outcome.student, None)
        if first is not None:
            return retry_note(first, outcome)
        if needs_retry(outcome):
            self.first[outcome.student] = outcome
            return None
        return outcome


class Spool:
    """Results kept on the coordinator's disk until they are merged."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, student: str) -> Path:
        return self.folder / f"{student}.pickle"

    def put(self, delivery: Delivery) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(delivery.outcome.student)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(delivery))
        os.replace(tmp, path)  # a crash never leaves half a result

    def get(self, student: str, digest: str) -> Delivery | None:
        """The kept result of ``student`` if it is of this very task."""
        path = self._path(student)
        try:
            delivery = pickle.loads(path.read_bytes())  # written by this coordinator only
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            return None
        return delivery if getattr(delivery, "digest", None) == digest else None

    def remove(self, student: str) -> None:
        self._path(student).unlink(missing_ok=True)

    def students(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.pickle"))


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, SQLAlchemyError)


# --- worker side --------------------------------------------------------------


class _Child:
    """A grading process on the worker: gets the course once, then tasks."""

    def __init__(self, course: CourseSnapshot, unsafe: bool, local_dir: str | None):
        self.digest = course.digest
        # inside the worker's local directory: Dask removes it with a dead worker's
        self.dir = tempfile.mkdtemp(prefix="classgrade-worker-", dir=local_dir)
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        with open(Path(self.dir) / "process.log", "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(to_child_r), str(from_child_w), self.dir],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,  # its own group: killed as a whole
            )
        os.close(to_child_r)
        os.close(from_child_w)
        self.send = multiprocessing.connection.Connection(to_child_w, readable=False)
        self.recv = multiprocessing.connection.Connection(from_child_r, writable=False)
        self.send.send((course, unsafe))
        self.refused: str | None = None

    def wait_ready(self, timeout: float) -> None:
        """Raise GradingSetupError when the course cannot be set up here."""
        if not self.recv.poll(timeout):
            self.kill()
            raise GradingSetupError(f"grading process not ready after {timeout:g} s")
        try:
            msg = self.recv.recv()
        except EOFError:
            msg = {"fatal": "the grading process died while setting up the course"}
        if "fatal" in msg:
            self.kill()
            raise GradingSetupError(msg["fatal"])
        self.refused = msg.get("refused")

    def kill(self) -> None:
        kill_tree(self.proc.pid)
        self.proc.wait()
        for conn in (self.send, self.recv):
            conn.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_IDLE: list[_Child] = []
_IDLE_LOCK = threading.Lock()


def _take_child(
    course: CourseSnapshot, unsafe: bool, timeout: float, local_dir: str | None
) -> _Child:
    with _IDLE_LOCK:
        for child in _IDLE:
            if child.digest == course.digest:
                _IDLE.remove(child)
                return child
    child = _Child(course, unsafe, local_dir)
    child.wait_ready(max(timeout, 60.0))
    return child


def _give_back(child: _Child) -> None:
    with _IDLE_LOCK:
        stale = [c for c in _IDLE if c.digest != child.digest]  # of an earlier course
        for c in stale:
            _IDLE.remove(c)
        _IDLE.append(child)
    for c in stale:
        c.kill()


def _this_worker() -> tuple[str, str | None]:
    """(address, local directory) of the worker running this task."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # called outside a worker (tests, benchmark)
        return f"pid {os.getpid()}", None
    return worker.address, worker.local_directory


def grade_remote(
    course: CourseSnapshot, task: GradingTask, digest: str, timeout: float, unsafe: bool
) -> Delivery:
    """The Dask task: grade one student on this worker within ``timeout`` seconds."""
    worker, local_dir = _this_worker()
    attempt = uuid.uuid4().hex
    started = time.monotonic()
    child = _take_child(course, unsafe, timeout, local_dir)
    if child.refused:
        _give_back(child)
        outcome = GradingOutcome(task.student, ERROR, f"worker {worker}: {child.refused}")
        return Delivery(digest, attempt, worker, outcome)
    log_path = Path(child.dir) / f"{task.student}.log"
    child.send.send((task, str(log_path)))
    if child.recv.poll(timeout):
        try:
            outcome = child.recv.recv()
        except EOFError:
            outcome = None
        if isinstance(outcome, GradingOutcome):
            if outcome.outcome in RETRIED:  # its retry gets a fresh process, as locally
                child.kill()
            else:
                _give_back(child)
            return Delivery(digest, attempt, worker, outcome)
        status, detail = KERNEL_DIED, "the grading process died"
    else:
        status, detail = TIMED_OUT, f"over the time budget of {timeout:g} s"
    log = log_path.read_text(errors="replace") if log_path.is_file() else ""
    child.kill()
    outcome = GradingOutcome(
        task.student,
        status,
        f"{detail} (worker {worker})",
        seconds=time.monotonic() - started,
        log=log,
    )
    return Delivery(digest, attempt, worker, outcome)


async def _preflight(course: CourseSnapshot, unsafe: bool, dask_worker=None) -> str | None:
    """Run on every worker before the run (``client.run`` passes ``dask_worker``):
    start (and keep) a grading process; the reason when this worker cannot
    sandbox student code."""

    def start() -> str | None:
        child = _take_child(course, unsafe, 60.0, dask_worker.local_directory)
        _give_back(child)
        return child.refused

    return await asyncio.to_thread(start)


def _child_main(argv: list[str]) -> None:
    """The grading process (``python -m autograder.classgrade.distributed R W DIR``)."""
    from autograder.classgrade.app import check_sandbox, make_app
    from autograder.classgrade.task import grade_student, prepare

    recv = multiprocessing.connection.Connection(int(argv[0]), writable=False)
    send = multiprocessing.connection.Connection(int(argv[1]), readable=False)
    scratch = Path(argv[2])
    course, unsafe = recv.recv()
    if unsafe:
        os.environ["ONE_NEURON_UNSAFE"] = "1"
    check_dir = scratch / "config"
    check_dir.mkdir()
    (check_dir / "nbgrader_config.py").write_bytes(course.files["nbgrader_config.py"])
    try:
        check_sandbox(make_app(check_dir), unsafe)
        refused = None
    except GradeClassError as exc:
        refused = str(exc)
    try:
        prepare(course, str(scratch))
    except GradingSetupError as exc:
        send.send({"fatal": f"worker set-up failed: {exc}"})
        return
    send.send({"ready": True, "refused": refused})
    try:
        while True:
            try:
                task, log_path = recv.recv()
            except EOFError:  # the worker shut down or died
                return
            try:
                outcome = grade_student(course, task, scratch_dir=str(scratch), log_path=log_path)
            except Exception as exc:  # last resort: never lose the answer
                outcome = GradingOutcome(task.student, ERROR, f"{type(exc).__name__}: {exc}")
            send.send(outcome)  # BrokenPipeError when the worker died meanwhile
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # nothing of a student is left behind


# --- coordinator side -----------------------------------------------------------


def connect(scheduler: str, timeout: float = 20.0):
    """A client of ``scheduler`` with at least one worker, or GradeClassError."""
    from distributed import Client

    try:
        client = Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise GradeClassError(
            f"--scheduler {scheduler}: cannot reach the Dask scheduler ({type(exc).__name__}: "
            f"{exc}); start it with 'dask scheduler' (README, 'Beyond one machine')"
        ) from exc
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError as exc:
        client.close()
        raise GradeClassError(
            f"--scheduler {scheduler}: no worker joined within {timeout:g} s; "
            "start workers with 'dask worker'"
        ) from exc
    return client


def grade_in_dask(
    tasks: Iterable[GradingTask],
    course: CourseSnapshot,
    *,
    scheduler: str,
    timeout: float,
    spool_dir: Path,
    on_result: Callable[[GradingOutcome], None],
    unsafe: bool = False,
    connect_timeout: float = 20.0,
    log: Callable[[str], None] = print,
    log_dir: Path | None = None,
) -> None:
    """Grade ``tasks`` on the Dask cluster of ``scheduler``; ``on_result(outcome)``
    is called in this process, exactly once per student, in completion order.
    A retried student's first attempt's nbgrader log is kept as
    ``<log_dir>/<student>.1.log`` (as the local pool keeps it).

    Raises GradeClassError when the scheduler cannot be reached, a worker cannot
    sandbox student code, the course cannot be set up on a worker, or the
    gradebook failed (then the results not merged are kept in ``spool_dir``)."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    spool = Spool(spool_dir)
    client = connect(scheduler, connect_timeout)
    try:
        refused = {w: r for w, r in client.run(_preflight, course, unsafe).items() if r}
        if refused:
            raise GradeClassError(
                "worker(s) cannot grade safely, refusing to start: "
                + "; ".join(f"{w}: {r}" for w, r in sorted(refused.items()))
            )
        course_future = client.scatter(course, broadcast=True)
        run_id = uuid.uuid4().hex[:8]
        pending = iter(tasks)
        once = ExactlyOnce()
        expected = once.expected  # filled as tasks are sent
        retry = RetryOnce()
        sent: dict[str, GradingTask] = {}  # future key -> task (kept for a retry)
        in_flight = as_completed(loop=client.loop)
        limit = 2 * max(1, sum(client.nthreads().values()))
        state = {"db_error": None, "merged": 0, "resumed": 0}

        def deliver(delivery: Delivery) -> None:
            if not once.offer(delivery):
                return
            spool.put(delivery)
            if state["db_error"] is not None:
                return
            try:
                on_result(delivery.outcome)
            except Exception as exc:
                if not _is_database_error(exc):
                    raise
                state["db_error"] = exc
                log(f"the gradebook failed, merging stops: {type(exc).__name__}: {exc}")
                return
            spool.remove(delivery.outcome.student)
            state["merged"] += 1

        def submit_more() -> None:
            while state["db_error"] is None and in_flight.count() < limit:
                task = next(pending, None)
                if task is None:
                    return
                digest = task_digest(course, task)
                expected[task.student] = digest
                kept = spool.get(task.student, digest)
                if kept is not None:  # graded by an earlier run, not merged then
                    state["resumed"] += 1
                    deliver(kept)
                    continue
                send(task, "")

        def send(task: GradingTask, suffix: str) -> None:
            future = client.submit(
                grade_remote,
                course_future,
                task,
                expected[task.student],
                timeout,
                unsafe,
                key=f"grade-{task.student}-{run_id}{suffix}",
                pure=False,
            )
            sent[future.key] = task
            in_flight.add(future)

        submit_more()
        while in_flight.count():
            future = next(in_flight)
            task = sent.pop(future.key)
            student = task.student
            try:
                delivery = future.result()
            except GradingSetupError as exc:
                raise GradeClassError(f"worker set-up failed: {exc}") from exc
            except KilledWorker as exc:
                delivery = Delivery(
                    expected[student],
                    "scheduler",
                    "",
                    GradingOutcome(
                        student, KERNEL_DIED, f"not graded: every worker running it died ({exc})"
                    ),
                )
            except Exception as exc:
                if client.status != "running":
                    raise GradeClassError(
                        f"lost the Dask scheduler {scheduler} mid-run ({exc}); "
                        "the results so far are merged, run the same command again"
                    ) from exc
                delivery = Delivery(
                    expected[student],
                    "scheduler",
                    "",
                    GradingOutcome(student, ERROR, f"{type(exc).__name__}: {exc}"),
                )
            future.release()
            final = retry.final(delivery.outcome)
            if final is None:  # graded again (a new task: another key, a fresh process)
                if log_dir is not None and delivery.outcome.log:
                    (Path(log_dir) / f"{student}.1.log").write_text(delivery.outcome.log)
                send(task, "-retry")
            else:
                deliver(dataclasses.replace(delivery, outcome=final))
            submit_more()
        if state["db_error"] is not None:
            kept = spool.students()
            raise GradeClassError(
                f"the gradebook failed mid-run ({type(state['db_error']).__name__}); "
                f"{state['merged']} students merged, {len(kept)} results kept in {spool.folder} "
                "(not merged). When the database is back, run the same command again: "
                "the kept results are merged without grading them again, the rest is graded."
            )
        if state["resumed"]:
            log(f"{state['resumed']} results kept by an earlier run merged from {spool.folder}")
    finally:
        with contextlib.suppress(Exception):
            client.close()


if __name__ == "__main__":
    _child_main(sys.argv[1:])
