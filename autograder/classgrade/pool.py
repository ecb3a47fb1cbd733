"""The local engine: long-lived worker processes on this machine, each running
:func:`autograder.classgrade.task.grade_student` one student at a time.

A task over its time budget has its worker's whole process tree killed
(kernels and sandboxes included) and a fresh worker takes the slot; a worker
that dies mid-task is replaced the same way.

A student whose grading comes back "timed out" or "kernel died" (killed by the
pool, or as :func:`autograder.classgrade.task.execution_problem` reads the
autograded notebook) is graded once more in a fresh worker process before
that verdict is final: a busy machine, not the student's code, may have caused
the first one. Only the second outcome is reported (one result per student);
its detail says "after one retry" and what the first attempt gave."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

from autograder.classgrade.results import ERROR, KERNEL_DIED, TIMED_OUT, GradeClassError
from autograder.classgrade.task import (
    CourseSnapshot,
    GradingOutcome,
    GradingSetupError,
    GradingTask,
    grade_student,
    prepare,
    warm_shared_caches,
)

#: Outcomes graded a second time, in a fresh worker, before they are final.
RETRIED = frozenset({TIMED_OUT, KERNEL_DIED})


def needs_retry(outcome: GradingOutcome) -> bool:
    """A first "timed out"/"kernel died" is graded again, unless the kernel itself
    already ran the notebook twice (a hanging notebook is not run four times)."""
    return outcome.outcome in RETRIED and not outcome.kernel_reran


def retry_note(first: GradingOutcome, final: GradingOutcome) -> GradingOutcome:
    """The outcome reported for a retried student: the second one, its detail
    saying that it came after one retry and what the first attempt gave, its
    time that of both attempts."""
    note = f"after one retry (first attempt: {first.outcome}: {first.detail})"
    return dataclasses.replace(
        final,
        detail="; ".join(filter(None, [final.detail, note])),
        seconds=first.seconds + final.seconds,
    )


def _worker_main(conn, course: CourseSnapshot, scratch: str, log_dir: str, index: int) -> None:
    os.setsid()  # own process group: the parent can kill the whole job
    # Nothing of the worker or its kernels reaches the instructor's terminal:
    # stdout/stderr go to a log file (nbgrader's log goes to logs/<student>.log).
    with open(os.devnull) as devnull:
        os.dup2(devnull.fileno(), 0)
    with open(Path(log_dir) / f"worker-{index}.log", "ab") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    try:
        prepare(course, scratch)
    except GradingSetupError as exc:  # reported to the parent, which stops the run
        conn.send({"fatal": f"worker set-up failed: {exc}"})
        return
    conn.send({"ready": True})
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        log_path = str(Path(log_dir) / f"{task.student}.log")
        try:
            outcome = grade_student(course, task, scratch_dir=scratch, log_path=log_path)
        except Exception as exc:  # last resort: never lose the worker's answer
            outcome = GradingOutcome(task.student, ERROR, f"{type(exc).__name__}: {exc}")
        conn.send(outcome)


def kill_tree(pid: int) -> None:
    """SIGKILL a worker and every descendant (kernels run in their own sessions,
    so the process group alone is not enough), then its process group (members
    whose parent died are no longer descendants)."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        procs = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    psutil.wait_procs(procs, timeout=5)


class _Slot:
    def __init__(self, ctx, index: int, course: CourseSnapshot, scratch: Path, log_dir: Path):
        parent_conn, child_conn = ctx.Pipe()
        self.conn = parent_conn
        worker_scratch = scratch / f"worker-{index}"
        worker_scratch.mkdir(parents=True, exist_ok=True)
        self.process = ctx.Process(
            target=_worker_main,
            daemon=True,
            args=(child_conn, course, str(worker_scratch), str(log_dir), index),
        )
        self.process.start()
        child_conn.close()
        self.task: GradingTask | None = None
        self.reserved: GradingTask | None = None  # a retry: the first task of this fresh worker
        self.deadline = 0.0
        self.started = 0.0
        self.ready = False

    def kill(self) -> None:
        kill_tree(self.process.pid)
        self.process.join(5)
        self.conn.close()


def grade_in_workers(
    tasks: Iterable[GradingTask],
    course: CourseSnapshot,
    *,
    workers: int,
    timeout: float,
    scratch: Path,
    log_dir: Path,
    on_result: Callable[[GradingOutcome], None],
) -> None:
    """Grade ``tasks`` with ``workers`` processes; ``on_result(outcome)`` is
    called in this process, one outcome at a time. ``timeout``: seconds per task
    (autograde and feedback together) before its process tree is killed.
    ``tasks`` is consumed lazily (a task holds a whole submission); pass no more
    workers than tasks."""
    ctx = multiprocessing.get_context("fork")
    pending = iter(tasks)
    queue: list[GradingTask] = []  # at most one task taken ahead of a free worker

    def refill() -> None:
        if not queue:
            queue.extend(itertools.islice(pending, 1))

    refill()
    if queue:
        warm_shared_caches(course)  # before forking: every worker inherits them
    spawned = 0

    def new_slot() -> _Slot:
        nonlocal spawned
        spawned += 1
        return _Slot(ctx, spawned - 1, course, scratch, log_dir)

    slots = [new_slot() for _ in range(workers if queue else 0)]

    first_attempts: dict[str, GradingOutcome] = {}

    def finish(slot: _Slot, task: GradingTask, outcome: GradingOutcome) -> None:
        """Report ``outcome``, or grade ``task`` again in a fresh worker (its
        first "timed out"/"kernel died"); ``slot`` is then replaced."""
        if needs_retry(outcome) and task.student not in first_attempts:
            first_attempts[task.student] = outcome
            # keep the first attempt's nbgrader log beside the second's
            with contextlib.suppress(OSError):
                os.replace(log_dir / f"{task.student}.log", log_dir / f"{task.student}.1.log")
            if slot in slots:
                slot.kill()
                slots.remove(slot)
            fresh = new_slot()
            fresh.reserved = task
            slots.append(fresh)
            return
        if task.student in first_attempts:
            outcome = retry_note(first_attempts.pop(task.student), outcome)
        on_result(outcome)

    def lost(slot: _Slot, outcome: str, detail: str, now: float) -> None:
        task = slot.task
        slot.kill()
        slots.remove(slot)
        if task is not None:
            finish(
                slot,
                task,
                GradingOutcome(task.student, outcome, detail, seconds=now - slot.started),
            )
        if (task is None or task.student not in first_attempts) and queue:
            slots.append(new_slot())

    try:
        while slots:
            for slot in slots:
                if slot.ready and slot.task is None and (slot.reserved or queue):
                    if slot.reserved is not None:
                        slot.task, slot.reserved = slot.reserved, None
                    else:
                        slot.task = queue.pop()
                        refill()
                    slot.started = time.monotonic()
                    slot.deadline = slot.started + timeout
                    slot.conn.send(slot.task)
            for slot in [s for s in slots if s.ready and s.task is None and not queue]:
                slot.conn.send(None)
                slot.process.join(10)
                slot.conn.close()
                slots.remove(slot)
            if not slots:
                break
            busy = [s for s in slots if s.task is not None]
            now = time.monotonic()
            wait_for = min([s.deadline for s in busy], default=now + 1.0) - now
            ready = multiprocessing.connection.wait(
                [s.conn for s in slots], timeout=max(0.0, min(wait_for, 1.0))
            )
            by_conn = {id(s.conn): s for s in slots}
            for conn in ready:
                slot = by_conn[id(conn)]
                try:
                    msg = conn.recv()
                except EOFError:
                    msg = None
                if msg is None:  # the worker process died under us
                    lost(slot, KERNEL_DIED, "the grading process died", time.monotonic())
                elif isinstance(msg, GradingOutcome):
                    task, slot.task = slot.task, None
                    finish(slot, task, msg)
                elif "fatal" in msg:
                    raise GradeClassError(msg["fatal"])
                else:  # {"ready": True}
                    slot.ready = True
            now = time.monotonic()
            for slot in list(slots):
                if slot.task is not None and now > slot.deadline:
                    lost(slot, TIMED_OUT, f"over the time budget of {timeout:g} s", now)
    finally:
        for slot in slots:
            slot.kill()
