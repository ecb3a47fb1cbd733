"""Grade a whole class: collect, autograde in parallel, feedback, grades CSV, report.

Usage (from the course directory, with the venv first on PATH)::

    python -m autograder.classgrade one_neuron [--zip export.zip] [--lms moodle]
        [--roster roster.csv] [--duedate "2026-12-01 23:59:00 UTC"]
        [--workers N] [--timeout S] [--student ID ...] [--unsafe]
        [--report-dir reports] [--grades-csv grades.csv]

Pipeline
--------
1. Collect: submissions are read from ``submitted/<student>/<assignment>/``
   (nbgrader layout). ``--zip`` first runs nbgrader's ``zip_collect`` on an LMS
   export (``FileNameCollectorPlugin`` with the regular expression of ``--lms``
   or ``--regexp``). ``--roster`` imports students with nbgrader's
   ``db student import``; ``--duedate`` sets the due date like
   ``db assignment add --duedate``.
2. Each submission is checked in the parent (no symlink anywhere in it,
   notebook present, valid JSON, nbformat 4, readable ``timestamp.txt``);
   duplicate cell ids or grade_ids are graded (nbgrader copes) and noted.
3. Valid submissions are autograded by long-lived worker processes (forked
   once, nbgrader imported once) with nbgrader's ``Autograde`` converter and
   the course's ``nbgrader_config.py`` -- the same preprocessors as plain
   ``nbgrader autograde``. Every worker writes into its own private copy of the
   gradebook; the parent alone writes the main gradebook, merging each result
   in one transaction. A notebook over its time budget has its whole worker
   process tree killed (status "timed out") and a fresh worker takes its place.
4. Feedback (``GenerateFeedback``) is made by the worker right after grading,
   the grades CSV by nbgrader's ``CsvExportPlugin``, the HTML report by
   :mod:`autograder.classgrade.report`.

Statuses: graded; late (graded, timestamp.txt after the due date); timed out
(over ``--timeout``: not graded; or a cell hit the kernel timeout: graded
without it); kernel died (graded without the cells after it when the course's
SandboxedExecute survives it); invalid notebook (empty, not JSON/UTF-8, nbformat
< 4, duplicate cell ids or grade_ids, bad timestamp.txt, any symlink in the
submission: see :mod:`autograder.preprocessors.reject_symlinks`); missing notebook
(folder without ``<notebook>.ipynb``, e.g. renamed); not submitted (on the
roster or in the gradebook, no folder). A student not graded this run has no
stale grade, autograded or feedback files left.

``submitted/`` is only read (except by ``--zip`` collection, which writes it).
Re-running is idempotent; ``--student`` re-grades some students and keeps the
last results of the others in the report.
Exit status: 0 when nothing needs the instructor, 1 when something does (the
summary lists it: any status but graded/late/not submitted, a failed feedback,
a student not on the ``--roster``), 2 on a usage or set-up error.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import io
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ASSIGNMENT = "one_neuron"

# Statuses of a student in a run.
GRADED = "graded"
LATE = "late"  # graded, submitted after the due date
TIMED_OUT = "timed out"
KERNEL_DIED = "kernel died"
INVALID = "invalid notebook"
MISSING = "missing notebook"
NOT_SUBMITTED = "not submitted"  # on the roster, no submission folder
ERROR = "grading error"
STATUSES = (GRADED, LATE, TIMED_OUT, KERNEL_DIED, INVALID, MISSING, NOT_SUBMITTED, ERROR)
NEEDS_INSTRUCTOR = frozenset({TIMED_OUT, KERNEL_DIED, INVALID, MISSING, ERROR})

# File names as LMS exports write them, for nbgrader's FileNameCollectorPlugin.
# The expression is matched against the absolute path of each extracted file.
LMS_REGEXPS = {
    # Moodle "Download all submissions": one folder per participant
    # "Ivan Ivanov_1001_assignsubmission_file_/one_neuron.ipynb" (current) or a
    # flat file "Ivan Ivanov_1001_assignsubmission_file_one_neuron.ipynb" (old).
    # The student id is the participant id between the name and
    # "_assignsubmission_file_".
    "moodle": r".*/[^/]*_(?P<student_id>[^_/]+)_assignsubmission_file_/?(?P<file_id>[^/]+\.ipynb)$",
    # Canvas "Download submissions": "ivanovivan_1001_67890_one_neuron.ipynb"
    # (login_userid_submissionid_filename, "_late_" after the login when late,
    # "-1", "-2"... appended to the file name on resubmission).
    "canvas": r".*/[^/_]+_(?:late_|LATE_)?(?P<student_id>[^_/]+)_\d+_(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$",
}

EXIT_OK, EXIT_ATTENTION, EXIT_USAGE = 0, 1, 2


class GradeClassError(Exception):
    """A set-up problem that stops the run (bad roster, zip, config...)."""


@dataclasses.dataclass
class StudentResult:
    student_id: str
    status: str
    detail: str = ""
    score: float | None = None
    max_score: float | None = None
    cells: dict = dataclasses.field(default_factory=dict)  # grade_id -> [score, max]
    seconds: float | None = None  # wall time of the worker job
    timing: dict = dataclasses.field(default_factory=dict)  # phase -> seconds
    seconds_late: float = 0.0
    timestamp: str | None = None
    on_roster: bool = True

    @property
    def needs_instructor(self) -> bool:
        return self.status in NEEDS_INSTRUCTOR or "feedback failed" in self.detail

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> StudentResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# --------------------------------------------------------------------------
# nbgrader set-up shared by the parent and the workers
# --------------------------------------------------------------------------


def make_app(course_dir: Path, log_level: str = "WARN"):
    """An initialised ``AutogradeApp``: loads the course's nbgrader_config.py
    exactly as ``nbgrader autograde`` run in ``course_dir`` does."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    cwd = os.getcwd()
    os.chdir(course_dir)
    try:
        app = AutogradeApp()
        app.initialize([f"--log-level={log_level}"])
    finally:
        os.chdir(cwd)
    app.coursedir.root = str(course_dir)
    return app


def check_sandbox(app, unsafe: bool) -> None:
    """Refuse to start (rather than fail every notebook) when the course's
    pipeline runs kernels in the sandbox and bubblewrap cannot run here."""
    config = app.config.Autograde
    preprocessors = config.autograde_preprocessors if "autograde_preprocessors" in config else []
    if "SandboxedExecute" not in {getattr(p, "__name__", str(p)) for p in preprocessors}:
        return
    from autograder.sandbox import bubblewrap as sandbox

    try:
        sandbox.require_sandbox(True if unsafe else None)
    except sandbox.SandboxUnavailableError as exc:
        raise GradeClassError(str(exc)) from exc


def sqlite_path(db_url: str) -> Path:
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        raise GradeClassError(
            f"the gradebook {db_url!r} is not an SQLite file; grade_class needs an "
            "SQLite gradebook (workers grade into private copies of it)"
        )
    return Path(db_url[len(prefix) :])


def copy_sqlite(src: Path, dst: Path) -> None:
    """Consistent copy of an SQLite database (online backup API)."""
    with (
        contextlib.closing(sqlite3.connect(str(src))) as s,
        contextlib.closing(sqlite3.connect(str(dst))) as d,
    ):
        s.backup(d)


# --------------------------------------------------------------------------
# Checking a submission folder (parent, read-only)
# --------------------------------------------------------------------------


def check_submission(folder: Path, notebook_names: list[str]) -> tuple[str | None, str]:
    """Return (status, detail) for a bad submission, (None, notes) for a gradable one.

    Any symlink (the student or assignment folder, the notebook, any file or
    folder below) makes the submission invalid: nbgrader would follow it as the
    grader (e.g. to the master notebook or the gradebook). Nothing is read
    through a symlink here."""
    from autograder.preprocessors.reject_symlinks import describe_symlinks, find_symlinks

    links = find_symlinks(folder, parents=1)
    if links:
        return INVALID, (
            f"{folder}: symlinks are not allowed in a submission: "
            f"{describe_symlinks(links, folder.parent.parent)}"
        )
    if not folder.is_dir():
        return MISSING, f"{folder}: no submission folder"
    problems, notes = [], []
    for name in notebook_names:
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            others = sorted(p.name for p in folder.glob("*.ipynb"))
            hint = f" (renamed? found: {', '.join(others)})" if others else ""
            return MISSING, f"{path}: notebook {name}.ipynb not found{hint}"
        problem = notebook_problem(path)
        if problem:
            problems.append(f"{path}: {problem}")
        else:
            notes += [f"{path.name}: {note}" for note in notebook_notes(path)]
    if problems:
        return INVALID, "; ".join(problems)
    stamp = folder / "timestamp.txt"
    if stamp.exists():
        from nbgrader.utils import parse_utc

        text = stamp.read_text(errors="replace").strip()
        if text:
            try:
                parse_utc(text)
            except ValueError:
                return INVALID, f"{stamp}: invalid timestamp {text[:40]!r}"
    return None, "; ".join(notes)


def notebook_problem(path: Path) -> str:
    """Why nbgrader cannot grade this notebook file, or "" if it can."""
    raw = path.read_bytes()
    if not raw.strip():
        return "empty file"
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    except json.JSONDecodeError as exc:
        return f"invalid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return "not a notebook (no list of cells)"
    version = nb.get("nbformat")
    if not isinstance(version, int) or version < 4:
        return f"old notebook format (nbformat {version!r}, need 4)"
    for index, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict):
            return f"cell {index} is not an object"
    return ""


def notebook_notes(path: Path) -> list[str]:
    """Oddities that grading copes with but the instructor may want to know about.

    Duplicate cell ids are renumbered by nbgrader's DeduplicateIds; a repeated
    grade_id (a copied test or answer cell) is dropped by RestoreCellMetadata, the
    original is graded. Neither stops the submission from being graded. Call only
    on a notebook without a notebook_problem."""
    nb = json.loads(path.read_bytes().decode("utf-8"))
    notes, ids, grade_ids = [], set(), set()
    for index, cell in enumerate(nb["cells"]):
        cell_id = cell.get("id")
        if cell_id is not None:
            if cell_id in ids:
                notes.append(f"duplicate cell id {cell_id!r} (cell {index}; renumbered)")
            ids.add(cell_id)
        meta = cell.get("metadata", {})
        nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
        if isinstance(nbg, dict) and nbg.get("grade_id") is not None:
            gid = nbg["grade_id"]
            if gid in grade_ids:
                notes.append(f"duplicate grade_id {gid!r} (cell {index}; the copy is not graded)")
            grade_ids.add(gid)
    return notes


# --------------------------------------------------------------------------
# Worker process
# --------------------------------------------------------------------------


def _exception_chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _classify(exc: BaseException) -> str:
    from nbclient.exceptions import DeadKernelError

    for e in _exception_chain(exc):
        if isinstance(e, DeadKernelError):
            return KERNEL_DIED
        if type(e).__name__ in {"DeadKernelError", "UnresponsiveKernelError"}:
            return KERNEL_DIED
    return ERROR


def _read_submission(gb, assignment: str, student: str) -> dict:
    """The grading results of one submission, as plain data."""
    sub = gb.find_submission(assignment, student)
    data = {"timestamp": sub.timestamp.isoformat() if sub.timestamp else None, "notebooks": {}}
    for nb in sub.notebooks:
        data["notebooks"][nb.name] = {
            "flagged": nb.flagged,
            "late_submission_penalty": nb.late_submission_penalty,
            "grades": {
                g.name: {"auto_score": g.auto_score, "needs_manual_grade": g.needs_manual_grade}
                for g in nb.grades
            },
            "comments": {c.name: {"auto_comment": c.auto_comment} for c in nb.comments},
        }
    return data


class _Worker:
    """Grades one student at a time inside a long-lived process."""

    def __init__(
        self, course_dir: Path, assignment: str, db_path: Path, log_dir: Path, feedback: bool
    ):
        from nbgrader.converters import Autograde

        self.course_dir = course_dir
        self.assignment = assignment
        self.log_dir = log_dir
        self.feedback = feedback
        self.app = make_app(course_dir)
        self.app.coursedir.db_url = f"sqlite:///{db_path}"
        self.app.coursedir.assignment_id = assignment
        self.app.coursedir.notebook_id = "*"
        self.app.log.propagate = False
        self.failure: BaseException | None = None
        worker = self

        class RecordingAutograde(Autograde):
            """Autograde that remembers why a notebook failed (nbgrader logs
            the exception and raises a generic NbGraderException)."""

            def convert_single_notebook(self, notebook_filename):
                try:
                    super().convert_single_notebook(notebook_filename)
                except Exception as exc:  # re-raised: nbgrader handles the failure
                    worker.failure = exc
                    raise

        self.autograde_class = RecordingAutograde

    def _execution_problem(self, student: str) -> tuple[str, str]:
        folder = (
            self.course_dir / self.app.coursedir.autograded_directory / student / self.assignment
        )
        for path in sorted(folder.glob("*.ipynb")):
            outcome, detail = execution_problem(path)
            if outcome != GRADED:
                return outcome, detail
        return GRADED, ""

    def grade(self, student: str) -> dict:
        from nbgrader.api import Gradebook
        from nbgrader.converters import GenerateFeedback

        coursedir = self.app.coursedir
        coursedir.student_id = student
        self.failure = None
        timing = {}
        handler = logging.FileHandler(self.log_dir / f"{student}.log", mode="w")
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log = self.app.log
        log.addHandler(handler)
        old_level = log.level
        log.setLevel(logging.INFO)
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                t0 = time.perf_counter()
                try:
                    self.autograde_class(coursedir=coursedir, parent=self.app, force=True).start()
                except Exception as exc:  # one broken submission never stops the others
                    cause = self.failure or exc
                    log.error(
                        "autograde failed: %s",
                        "".join(
                            traceback.format_exception(type(cause), cause, cause.__traceback__)
                        ),
                    )
                    return {
                        "outcome": _classify(cause),
                        "detail": f"{type(cause).__name__}: {str(cause)[:300]}",
                        "timing": timing,
                    }
                timing["autograde"] = time.perf_counter() - t0
                with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
                    submission = _read_submission(gb, self.assignment, student)
                outcome, detail = self._execution_problem(student)
                if self.feedback:
                    t0 = time.perf_counter()
                    try:
                        GenerateFeedback(coursedir=coursedir, parent=self.app, force=True).start()
                    except Exception as exc:  # grades are kept; feedback is reported missing
                        log.error("feedback failed: %s", traceback.format_exc())
                        detail = "; ".join(
                            filter(None, [detail, f"feedback failed: {type(exc).__name__}: {exc}"])
                        )
                        return {
                            "outcome": outcome,
                            "submission": submission,
                            "timing": timing,
                            "detail": detail,
                        }
                    timing["feedback"] = time.perf_counter() - t0
                return {
                    "outcome": outcome,
                    "submission": submission,
                    "timing": timing,
                    "detail": detail,
                }
        finally:
            log.removeHandler(handler)
            log.setLevel(old_level)
            handler.close()


def execution_problem(notebook_path: Path) -> tuple[str, str]:
    """(status, detail) when the autograded notebook shows that its execution
    went wrong although nbgrader graded it: a cell over the kernel timeout
    (``CellTimeoutError``) or a kernel lost mid-notebook (the course's
    ``SandboxedExecute`` writes ``KernelLost`` and grades the rest); else (GRADED, "")."""
    nb = json.loads(notebook_path.read_text(encoding="utf-8"))
    timed_out, lost = [], []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") != "error":
                continue
            if output.get("ename") == "CellTimeoutError":
                timed_out.append(index)
            elif output.get("ename") in ("KernelLost", "DeadKernelError"):
                lost.append(index)
    if timed_out:
        return TIMED_OUT, (
            f"{notebook_path.name}: cell {timed_out[0]} hit the kernel's "
            "execution timeout (graded without it)"
        )
    if lost:
        return KERNEL_DIED, (
            f"{notebook_path.name}: kernel lost in cell {lost[0]} "
            "(later cells not executed; graded without them)"
        )
    return GRADED, ""


def _worker_main(conn, course_dir, assignment, db_path, log_dir, feedback, index):
    os.setsid()  # own process group: the parent can kill the whole job
    # Nothing of the worker or its kernels reaches the instructor's terminal:
    # stdout/stderr go to a log file (nbgrader's log also goes to logs/<student>.log).
    with open(os.devnull) as devnull:
        os.dup2(devnull.fileno(), 0)
    with open(Path(log_dir) / f"worker-{index}.log", "ab") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    try:
        worker = _Worker(Path(course_dir), assignment, Path(db_path), Path(log_dir), feedback)
    except Exception as exc:  # reported to the parent, which stops the run
        conn.send({"fatal": f"worker set-up failed: {type(exc).__name__}: {exc}"})
        return
    conn.send({"ready": True})
    while True:
        try:
            student = conn.recv()
        except EOFError:
            return
        if student is None:
            return
        started = time.perf_counter()
        try:
            result = worker.grade(student)
        except Exception as exc:  # last resort: never lose the worker's answer
            result = {"outcome": ERROR, "detail": f"{type(exc).__name__}: {exc}", "timing": {}}
        result["seconds"] = time.perf_counter() - started
        conn.send(result)


def _descendants(pid: int) -> list[int]:
    """Every live descendant of pid (Linux /proc; kernels start their own sessions)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # the process is gone
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL a worker, its process group and every descendant (kernels run
    in their own sessions, so the group alone is not enough)."""
    import signal

    procs = _descendants(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for child in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGKILL)


class _Slot:
    def __init__(self, ctx, index, spawn_args):
        self.index = index
        self.db_path = Path(spawn_args["scratch"]) / f"worker-{index}.db"
        copy_sqlite(spawn_args["main_db"], self.db_path)
        parent_conn, child_conn = ctx.Pipe()
        self.conn = parent_conn
        self.process = ctx.Process(
            target=_worker_main,
            daemon=True,
            args=(
                child_conn,
                str(spawn_args["course_dir"]),
                spawn_args["assignment"],
                str(self.db_path),
                str(spawn_args["log_dir"]),
                spawn_args["feedback"],
                index,
            ),
        )
        self.process.start()
        child_conn.close()
        self.student: str | None = None
        self.deadline = 0.0
        self.started = 0.0
        self.ready = False

    def kill(self):
        _kill_tree(self.process.pid)
        self.process.join(5)
        self.conn.close()


def grade_in_workers(
    students,
    *,
    course_dir: Path,
    assignment: str,
    main_db: Path,
    log_dir: Path,
    workers: int,
    timeout: float,
    feedback: bool,
    on_result,
    scratch: Path,
) -> None:
    """Autograde ``students`` with ``workers`` processes; ``on_result(student,
    payload)`` is called in this process, one result at a time."""
    ctx = multiprocessing.get_context("fork")
    spawn_args = dict(
        course_dir=course_dir,
        assignment=assignment,
        main_db=main_db,
        log_dir=log_dir,
        feedback=feedback,
        scratch=scratch,
    )
    queue = list(students)
    queue.reverse()
    slots = [_Slot(ctx, i, spawn_args) for i in range(min(workers, len(queue)))]
    spawned = len(slots)
    try:
        while slots:
            for slot in slots:
                if slot.ready and slot.student is None and queue:
                    slot.student = queue.pop()
                    slot.started = time.monotonic()
                    slot.deadline = slot.started + timeout
                    slot.conn.send(slot.student)
            busy = [s for s in slots if s.student is not None]
            for slot in [s for s in slots if s.ready and s.student is None and not queue]:
                slot.conn.send(None)
                slot.process.join(10)
                slot.conn.close()
                slots.remove(slot)
            if not slots:
                break
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
                    student = slot.student
                    slot.kill()
                    slots.remove(slot)
                    if student is not None:
                        on_result(
                            student,
                            {
                                "outcome": KERNEL_DIED,
                                "timing": {},
                                "detail": "the grading process died",
                                "seconds": time.monotonic() - slot.started,
                            },
                        )
                    if queue:
                        slots.append(_Slot(ctx, spawned, spawn_args))
                        spawned += 1
                elif "fatal" in msg:
                    raise GradeClassError(msg["fatal"])
                elif "ready" in msg:
                    slot.ready = True
                else:
                    student, slot.student = slot.student, None
                    on_result(student, msg)
            now = time.monotonic()
            for slot in list(slots):
                if slot.student is not None and now > slot.deadline:
                    student = slot.student
                    slot.kill()
                    slots.remove(slot)
                    on_result(
                        student,
                        {
                            "outcome": TIMED_OUT,
                            "timing": {},
                            "detail": f"over the time budget of {timeout:g} s",
                            "seconds": now - slot.started,
                        },
                    )
                    if queue:
                        slots.append(_Slot(ctx, spawned, spawn_args))
                        spawned += 1
    finally:
        for slot in slots:
            slot.kill()


# --------------------------------------------------------------------------
# Parent: gradebook, collection, roster
# --------------------------------------------------------------------------


def merge_submission(gb, assignment: str, student: str, data: dict) -> None:
    """Write one worker's results into the main gradebook (one transaction)."""
    from nbgrader.utils import parse_utc

    gb.update_or_create_student(student)
    kwargs = {}
    if data["timestamp"]:
        kwargs["timestamp"] = parse_utc(data["timestamp"])
    with warnings.catch_warnings():
        # SQLAlchemy's autoflush warning on nbgrader's own add_submission (also
        # printed by plain nbgrader autograde); harmless.
        warnings.filterwarnings("ignore", message=".*not in session.*")
        sub = gb.update_or_create_submission(assignment, student, **kwargs)
    for nb in sub.notebooks:
        nb_data = data["notebooks"].get(nb.name)
        if nb_data is None:
            continue
        nb.flagged = nb_data["flagged"]
        nb.late_submission_penalty = nb_data["late_submission_penalty"]
        for grade in nb.grades:
            g = nb_data["grades"].get(grade.name)
            if g is not None:
                grade.auto_score = g["auto_score"]
                grade.needs_manual_grade = g["needs_manual_grade"]
        for comment in nb.comments:
            c = nb_data["comments"].get(comment.name)
            if c is not None:
                comment.auto_comment = c["auto_comment"]
    gb.db.commit()


def forget_submission(gb, assignment: str, student: str, course_dir: Path, app) -> None:
    """Remove stale grades and outputs of a student whose grading failed now."""
    from nbgrader.api import MissingEntry

    with contextlib.suppress(MissingEntry):
        gb.remove_submission(assignment, student)
    for directory in (app.coursedir.autograded_directory, app.coursedir.feedback_directory):
        path = course_dir / directory / student / assignment
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def describe_submission(gb, assignment: str, student: str) -> dict:
    sub = gb.find_submission(assignment, student)
    cells = {}
    for nb in sub.notebooks:
        for grade in nb.grades:
            cells[grade.name] = [grade.score, grade.max_score]
    return {
        "score": sub.score,
        "max_score": sub.max_score,
        "cells": cells,
        "seconds_late": sub.total_seconds_late,
        "timestamp": sub.timestamp.isoformat() if sub.timestamp else None,
    }


def read_roster(path: Path) -> list[str]:
    """Student ids of a roster CSV in nbgrader's ``db student import`` format
    (column ``id`` required; ``first_name``, ``last_name``, ``email`` optional)."""
    import csv

    if not path.is_file():
        raise GradeClassError(f"{path}: roster file not found")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            if "id" not in fields:
                raise GradeClassError(
                    f"{path}: roster has no 'id' column (columns: {', '.join(fields) or 'none'})"
                )
            reader.fieldnames = fields
            ids = []
            for line, row in enumerate(reader, start=2):
                sid = (row.get("id") or "").strip()
                if not sid:
                    raise GradeClassError(f"{path}: line {line}: empty student id")
                if "/" in sid or sid.startswith("."):
                    raise GradeClassError(f"{path}: line {line}: invalid student id {sid!r}")
                if sid in ids:
                    raise GradeClassError(f"{path}: line {line}: duplicate student id {sid!r}")
                ids.append(sid)
    except UnicodeDecodeError as exc:
        raise GradeClassError(f"{path}: roster is not UTF-8 text ({exc.reason})") from exc
    return ids


def import_roster(course_dir: Path, path: Path) -> list[str]:
    """``nbgrader db student import <path>``, in-process, after our own checks."""
    from nbgrader.apps.dbapp import DbStudentImportApp

    ids = read_roster(path)
    run_nbgrader_app(DbStudentImportApp, course_dir, [str(path)])
    return ids


def run_nbgrader_app(app_class, course_dir: Path, argv: list[str]):
    """Run an nbgrader app in-process in course_dir (no 6 s CLI start-up per call)."""
    cwd = os.getcwd()
    os.chdir(course_dir)
    try:
        app = app_class()
        app.initialize(["--log-level=WARN", *argv])
        app.start()
    except SystemExit as exc:  # nbgrader apps call sys.exit on failure
        if exc.code not in (0, None):
            raise GradeClassError(f"nbgrader {app_class.name} failed (see the log above)") from exc
    finally:
        os.chdir(cwd)
        app_class.clear_instance()


def collect_zip(course_dir: Path, assignment: str, zip_path: Path, regexp: str) -> None:
    """Run nbgrader's zip_collect on an LMS export (files go to submitted/)."""
    import re
    import zipfile

    from nbgrader.apps.zipcollectapp import ZipCollectApp

    if not zip_path.is_file():
        raise GradeClassError(f"{zip_path}: zip file not found")
    if not zipfile.is_zipfile(zip_path):
        raise GradeClassError(f"{zip_path}: not a zip archive")
    try:
        compiled = re.compile(regexp)
    except re.error as exc:
        raise GradeClassError(f"invalid --regexp {regexp!r}: {exc}") from exc
    missing = {"student_id", "file_id"} - set(compiled.groupindex)
    if missing:
        raise GradeClassError(f"--regexp needs the named groups {sorted(missing)}")
    archive = course_dir / "downloaded" / assignment / "archive"
    if archive.exists():
        shutil.rmtree(archive)
    archive.mkdir(parents=True)
    shutil.copy(zip_path, archive / zip_path.name)
    run_nbgrader_app(
        ZipCollectApp,
        course_dir,
        [
            "--force",
            f"--FileNameCollectorPlugin.named_regexp={regexp}",
            f"--CourseDirectory.assignment_id={assignment}",
        ],
    )


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="nb",
        desc="grading",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=None if total else True,
    )


def grade_class(
    assignment: str = ASSIGNMENT,
    *,
    course_dir: Path | str = ".",
    zip_path: Path | None = None,
    lms: str = "moodle",
    regexp: str | None = None,
    roster: Path | None = None,
    duedate: str | None = None,
    workers: int | None = None,
    timeout: float = 120.0,
    students: list[str] | None = None,
    unsafe: bool = False,
    report_dir: Path | str = "reports",
    grades_csv: Path | str = "grades.csv",
    feedback: bool = True,
    report: bool = True,
    log=print,
) -> tuple[int, list[StudentResult]]:
    """Run the whole pipeline; returns (exit status, results per student)."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.plugins.export import CsvExportPlugin

    course_dir = Path(course_dir).resolve()
    report_dir = (course_dir / report_dir).resolve()
    grades_csv = (course_dir / grades_csv).resolve()
    if unsafe:
        os.environ["ONE_NEURON_UNSAFE"] = "1"
        log(
            "WARNING: --unsafe: student code may run WITHOUT the bubblewrap sandbox "
            "(ONE_NEURON_UNSAFE=1)."
        )
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise GradeClassError("--workers must be at least 1")
    if timeout <= 0:
        raise GradeClassError("--timeout must be positive")
    if not (course_dir / "nbgrader_config.py").is_file():
        raise GradeClassError(f"{course_dir}: no nbgrader_config.py (not a course directory)")

    app = make_app(course_dir)
    app.coursedir.assignment_id = assignment
    check_sandbox(app, unsafe)
    main_db = sqlite_path(app.coursedir.db_url)
    if not main_db.is_absolute():
        main_db = course_dir / main_db

    with Gradebook(app.coursedir.db_url, app.coursedir.course_id) as gb:
        try:
            notebook_names = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        except MissingEntry:
            notebook_names = []
        if not notebook_names:
            raise GradeClassError(
                f"{main_db}: assignment {assignment!r} has no notebooks in the gradebook; "
                f"run 'nbgrader generate_assignment {assignment}' first"
            )
        if duedate:
            from nbgrader.utils import parse_utc

            try:
                parse_utc(duedate)
            except ValueError as exc:
                raise GradeClassError(f"--duedate: cannot parse {duedate!r}") from exc
            gb.update_or_create_assignment(assignment, duedate=duedate)

    roster_ids: list[str] | None = None
    if roster is not None:
        roster_ids = import_roster(course_dir, Path(roster).resolve())
    if zip_path is not None:
        collect_zip(course_dir, assignment, Path(zip_path).resolve(), regexp or LMS_REGEXPS[lms])

    submitted = course_dir / app.coursedir.submitted_directory
    found = sorted(p.name for p in submitted.iterdir() if p.is_dir()) if submitted.is_dir() else []
    with Gradebook(app.coursedir.db_url, app.coursedir.course_id) as gb:
        in_gradebook = {student.id for student in gb.students}
    everyone = sorted(set(found) | set(roster_ids or []) | in_gradebook)
    if students:
        unknown = [s for s in students if s not in everyone]
        if unknown:
            raise GradeClassError(
                f"--student: no submission folder in {submitted} and not on the roster: "
                + ", ".join(unknown)
            )
        everyone = sorted(set(students))

    results: dict[str, StudentResult] = {}
    to_grade = []
    for sid in everyone:
        folder = submitted / sid / assignment
        on_roster = roster_ids is None or sid in roster_ids
        if not (submitted / sid).is_dir():
            results[sid] = StudentResult(
                sid, NOT_SUBMITTED, f"{submitted / sid}: no folder", on_roster=on_roster
            )
            continue
        status, detail = check_submission(folder, notebook_names)
        if status:
            results[sid] = StudentResult(sid, status, detail, on_roster=on_roster)
        else:
            results[sid] = StudentResult(sid, GRADED, detail, on_roster=on_roster)
            to_grade.append(sid)

    log_dir = report_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log(
        f"{len(everyone)} students: {len(to_grade)} to grade with "
        f"{min(workers, max(1, len(to_grade)))} workers, {len(everyone) - len(to_grade)} "
        "with nothing gradable"
    )

    with Gradebook(app.coursedir.db_url, app.coursedir.course_id) as gb:
        for sid, res in results.items():
            # every student not graded in this run (invalid, missing, not submitted
            # any more) loses stale grades and files of an earlier run
            if res.status != GRADED:
                forget_submission(gb, assignment, sid, course_dir, app)
        if to_grade:
            bar = _progress(len(to_grade))

            def on_result(student, payload):
                res = results[student]
                res.seconds = payload.get("seconds")
                res.timing = payload.get("timing", {})
                # keep the notes of the pre-check (e.g. duplicate ids) beside nbgrader's
                res.detail = "; ".join(filter(None, [res.detail, payload.get("detail", "")]))
                if "submission" in payload:  # graded by nbgrader (maybe with a problem)
                    merge_submission(gb, assignment, student, payload["submission"])
                    res.__dict__.update(describe_submission(gb, assignment, student))
                    res.status = payload["outcome"]
                    if res.seconds_late > 0:
                        if res.status == GRADED:
                            res.status = LATE
                        else:
                            res.detail += f"; late by {res.seconds_late / 3600:.1f} h"
                else:
                    res.status = payload["outcome"]
                    forget_submission(gb, assignment, student, course_dir, app)
                bar.update(1)
                counts = {}
                for r in results.values():
                    if r.student_id in to_grade and (r.seconds is not None):
                        counts[r.status] = counts.get(r.status, 0) + 1
                bar.set_postfix_str(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))

            scratch = Path(tempfile.mkdtemp(prefix="grade_class-"))
            try:
                grade_in_workers(
                    to_grade,
                    course_dir=course_dir,
                    assignment=assignment,
                    main_db=main_db,
                    log_dir=log_dir,
                    workers=workers,
                    timeout=timeout,
                    feedback=feedback,
                    on_result=on_result,
                    scratch=scratch,
                )
            finally:
                bar.close()
                shutil.rmtree(scratch, ignore_errors=True)

        exporter = CsvExportPlugin(to=str(grades_csv))
        exporter.export(gb)

    # Students not re-graded this time (--student) keep their last results.
    results_file = report_dir / "results.json"
    merged = dict(results)
    if students and results_file.is_file():
        try:
            previous = json.loads(results_file.read_text())["students"]
        except (ValueError, KeyError, TypeError):
            previous = []
        for item in previous:
            if item.get("student_id") not in merged:
                old = StudentResult.from_json(item)
                merged[old.student_id] = old
    final = [merged[k] for k in sorted(merged)]
    report_dir.mkdir(parents=True, exist_ok=True)
    results_file.write_text(
        json.dumps(
            {
                "assignment": assignment,
                "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "workers": workers,
                "timeout": timeout,
                "students": [r.to_json() for r in final],
            },
            indent=1,
        )
    )
    if report:
        from autograder.classgrade.report import build_report

        build_report(final, report_dir, assignment=assignment)

    attention = [r for r in final if r.needs_instructor]
    strangers = [r for r in final if roster_ids is not None and not r.on_roster]
    log(summary_text(final, grades_csv, report_dir if report else None, roster_ids is not None))
    return (EXIT_ATTENTION if attention or strangers else EXIT_OK), final


def summary_text(
    results: list[StudentResult], grades_csv: Path, report_dir: Path | None, with_roster: bool
) -> str:
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    lines = ["", "Summary: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]
    attention = [r for r in results if r.needs_instructor]
    strangers = [r for r in results if with_roster and not r.on_roster]
    if attention or strangers:
        lines.append("Needs the instructor:")
        for r in attention:
            lines.append(f"  {r.student_id}: {r.status}: {r.detail}")
        for r in strangers:
            lines.append(f"  {r.student_id}: not on the roster (check the student id)")
    else:
        lines.append("Nothing needs the instructor.")
    late = [r for r in results if r.status == LATE]
    for r in late:
        lines.append(f"  {r.student_id}: late by {r.seconds_late / 3600:.1f} h (graded)")
    lines.append(f"Grades: {grades_csv}")
    if report_dir is not None:
        lines.append(f"Report: {report_dir / 'index.html'}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m autograder.classgrade",
        description="Collect, autograde in parallel, make feedback, grades CSV and an HTML "
        "report for a whole class (run in the course directory).",
    )
    p.add_argument(
        "assignment", nargs="?", default=ASSIGNMENT, help=f"assignment id (default: {ASSIGNMENT})"
    )
    p.add_argument("--course-dir", default=".", help="course directory (default: .)")
    p.add_argument(
        "--zip",
        dest="zip_path",
        type=Path,
        help="LMS export to collect into submitted/ with nbgrader zip_collect",
    )
    p.add_argument(
        "--lms",
        choices=sorted(LMS_REGEXPS),
        default="moodle",
        help="file naming of the --zip export (default: moodle)",
    )
    p.add_argument(
        "--regexp",
        help="custom FileNameCollectorPlugin.named_regexp "
        "(groups student_id and file_id, optional timestamp)",
    )
    p.add_argument("--roster", type=Path, help="CSV for 'nbgrader db student import'")
    p.add_argument("--duedate", help="due date, as for 'nbgrader db assignment add --duedate'")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="time budget per notebook in seconds, autograde and feedback together (default: 120)",
    )
    p.add_argument(
        "--student",
        action="append",
        dest="students",
        metavar="ID",
        help="grade only this student (repeatable)",
    )
    p.add_argument(
        "--unsafe",
        action="store_true",
        help="allow grading without the sandbox (sets ONE_NEURON_UNSAFE=1)",
    )
    p.add_argument(
        "--report-dir",
        default="reports",
        help="HTML report, plots, results.json and per-student logs "
        "(relative to the course directory; default: reports)",
    )
    p.add_argument(
        "--grades-csv",
        default="grades.csv",
        help="nbgrader's CSV export of the grades (default: grades.csv)",
    )
    p.add_argument(
        "--no-feedback",
        dest="feedback",
        action="store_false",
        help="skip generate_feedback (autograde only)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code, _ = grade_class(
            args.assignment,
            course_dir=args.course_dir,
            zip_path=args.zip_path,
            lms=args.lms,
            regexp=args.regexp,
            roster=args.roster,
            duedate=args.duedate,
            workers=args.workers,
            timeout=args.timeout,
            students=args.students,
            unsafe=args.unsafe,
            report_dir=args.report_dir,
            grades_csv=args.grades_csv,
            feedback=args.feedback,
        )
    except GradeClassError as exc:
        print(f"grade_class: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
