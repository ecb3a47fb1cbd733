"""Grading one student: the unit of work that the local pool (and a remote
worker) runs, with plain data in and out.

Contract of :func:`grade_student` -- what a remote engine (e.g. a Dask task)
may rely on:

- inputs: a :class:`CourseSnapshot` (the course's ``nbgrader_config.py`` and
  ``source/<assignment>/`` as bytes, and an SQLite gradebook with the assignment
  and no student) and a :class:`GradingTask` (student id, assignment id, the
  files of ``submitted/<student>/<assignment>/`` as bytes, whether to make
  feedback). Both are plain, picklable data; no path on the coordinator's disk
  is read, no gradebook credential is needed.
- work: the course's own pipeline (nbgrader's ``Autograde`` and
  ``GenerateFeedback`` with the course's ``nbgrader_config.py``: sandbox and
  trusted verdicts as under plain ``nbgrader autograde``) in a private scratch
  course below ``scratch_dir`` (a fresh temporary directory by default). The
  scratch course is made once per process and snapshot, and reset before every
  student; nothing of one student is left for the next.
- output: a :class:`GradingOutcome` (status, detail, timing, the grades as plain
  data, the autograded and feedback files as bytes, nbgrader's log). It never
  raises for a bad submission (the outcome says what went wrong); it raises
  :class:`GradingSetupError` when the course cannot be set up at all (e.g. the
  configuration does not load), which must stop the run, not fail a student.
- idempotent: grading the same task twice gives the same outcome (apart from
  timings); the coordinator's merge is what records a student.
- not thread-safe (nbgrader changes the cwd and app singletons): one call at a
  time per process (Dask: workers with ``--nthreads 1``). No time budget is
  enforced here: the caller kills the process of a task over its budget.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import shutil
import tempfile
import time
import traceback
import warnings
from pathlib import Path

from autograder.classgrade.app import (
    ReleaseChecksumFilter,
    check_nbgrader_schema_once,
    ignore_nbgrader_sqlalchemy_warnings,
    make_app,
    release_checksums,
    unsynced_sqlite_below,
)
from autograder.classgrade.gradebook import read_submission
from autograder.classgrade.results import ERROR, GRADED, KERNEL_DIED, TIMED_OUT


class GradingSetupError(Exception):
    """The scratch course cannot be set up: no student can be graded."""


@dataclasses.dataclass(frozen=True)
class CourseSnapshot:
    """What grading needs of the course, as bytes."""

    files: dict[str, bytes]  # relative path -> content: nbgrader_config.py, source/<assignment>/**
    gradebook: bytes  # SQLite gradebook: the assignment (cells, due date), no student
    # grade_id -> checksum of the release's cells (app.ReleaseChecksumFilter)
    release_checksums: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def digest(self) -> str:
        h = hashlib.sha256(self.gradebook)
        h.update(json.dumps(self.release_checksums, sort_keys=True).encode())
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name] + b"\0")
        return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class GradingTask:
    student: str
    assignment: str
    submission: dict[str, bytes]  # relative path in submitted/<student>/<assignment>/ -> content
    feedback: bool = True


@dataclasses.dataclass
class GradingOutcome:
    student: str
    outcome: str  # GRADED, TIMED_OUT, KERNEL_DIED or ERROR
    detail: str = ""
    timing: dict[str, float] = dataclasses.field(default_factory=dict)  # phase -> seconds
    seconds: float = 0.0  # wall time of the whole task
    # grades and comments as gradebook.read_submission gives them; None when
    # nbgrader did not grade the submission
    submission: dict | None = None
    autograded: dict[str, bytes] | None = None  # files of autograded/<student>/<assignment>/
    feedback: dict[str, bytes] | None = None  # files of feedback/<student>/<assignment>/
    log: str = ""  # nbgrader's log of this student
    # the course's SandboxedExecute already ran the notebook a second time in a fresh
    # kernel with the same result: the engines do not grade such a student again
    kernel_reran: bool = False


def course_snapshot(course_dir: Path, assignment: str, gradebook: bytes) -> CourseSnapshot:
    """The snapshot of a course directory: its configuration and the assignment's
    source folder (caches left out), with the given assignment-only gradebook."""
    files = {"nbgrader_config.py": (course_dir / "nbgrader_config.py").read_bytes()}
    source = course_dir / "source" / assignment
    for path in sorted(source.rglob("*")):
        parts = path.relative_to(source).parts
        if path.is_file() and not {"__pycache__", ".ipynb_checkpoints"} & set(parts):
            files[(Path("source") / assignment / path.relative_to(source)).as_posix()] = (
                path.read_bytes()
            )
    checksums = release_checksums(course_dir / "release" / assignment)
    return CourseSnapshot(files=files, gradebook=gradebook, release_checksums=checksums)


def grade_student(
    course: CourseSnapshot,
    task: GradingTask,
    *,
    scratch_dir: str | None = None,
    log_path: str | None = None,
) -> GradingOutcome:
    """Grade one student in a private scratch course; see the module docstring.

    ``log_path``: also write nbgrader's log there as it happens (the local pool
    keeps the log of a task it had to kill)."""
    started = time.perf_counter()
    scratch = _scratch_course(course, scratch_dir)
    outcome = scratch.grade(task, log_path)
    outcome.seconds = time.perf_counter() - started
    return outcome


def prepare(course: CourseSnapshot, scratch_dir: str | None = None) -> None:
    """Set up the scratch course (and import nbgrader) ahead of the first task."""
    _scratch_course(course, scratch_dir)


def warm_shared_caches(course: CourseSnapshot) -> None:
    """Fill, in a process about to fork its workers, the process-wide caches whose
    content is the same for every student, so that each forked worker inherits them
    instead of filling its own: matplotlib's font list for the sandboxed kernels
    (``autograder.sandbox.kernel.matplotlib_font_cache``) and the feedback's drawings of
    the formulas of the assignment's markdown (``feedback_readable.tex_to_svg``). Best
    effort: a cache left empty is filled by the workers as before."""
    import nbformat

    from autograder.preprocessors.feedback_readable import render_math
    from autograder.sandbox.kernel import matplotlib_font_cache

    matplotlib_font_cache()
    for name, content in course.files.items():
        if name.startswith("source/") and name.endswith(".ipynb"):
            with contextlib.suppress(Exception):  # a broken source notebook: nothing warmed
                nb = nbformat.reads(content.decode("utf-8"), as_version=4)
                for cell in nb.cells:
                    if cell.cell_type == "markdown":
                        render_math(cell.source)


_SCRATCH: dict[tuple[str, str | None], _ScratchCourse] = {}


def _scratch_course(course: CourseSnapshot, scratch_dir: str | None) -> _ScratchCourse:
    key = (course.digest, scratch_dir)
    if key not in _SCRATCH:
        try:
            _SCRATCH[key] = _ScratchCourse(course, scratch_dir)
        except Exception as exc:
            raise GradingSetupError(f"course set-up failed: {type(exc).__name__}: {exc}") from exc
    return _SCRATCH[key]


def _exception_chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify(exc: BaseException) -> str:
    """KERNEL_DIED when nbgrader failed because the kernel died, else ERROR."""
    from nbclient.exceptions import DeadKernelError

    for e in _exception_chain(exc):
        if isinstance(e, DeadKernelError):
            return KERNEL_DIED
        if type(e).__name__ in {"DeadKernelError", "UnresponsiveKernelError"}:
            return KERNEL_DIED
    return ERROR


def kernel_reran(notebook_path: Path) -> bool:
    """Whether the autograded notebook says that the kernel already ran it twice
    (``SandboxedExecute`` appends ``RERUN_NOTE`` to the error of a second failure)."""
    from autograder.preprocessors.sandboxed_execute import RERUN_NOTE

    nb = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    return any(
        output.get("output_type") == "error" and RERUN_NOTE.strip() in str(output.get("evalue"))
        for cell in nb.get("cells", [])
        for output in cell.get("outputs", []) or []
    )


def execution_problem(notebook_path: Path) -> tuple[str, str]:
    """(status, detail) when the autograded notebook shows that its execution
    went wrong although nbgrader graded it: a cell over the kernel timeout
    (``CellTimeoutError``) or a kernel lost mid-notebook (the course's
    ``SandboxedExecute`` writes ``KernelLost`` and grades the rest); else (GRADED, "")."""
    nb = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    timed_out, lost = [], []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") != "error":
                continue
            if output.get("ename") == "CellTimeoutError":
                timed_out.append(index)
            elif output.get("ename") in ("KernelLost", "DeadKernelError"):
                lost.append(index)

    def where(index: int) -> str:
        # the cell's nbgrader grade_id says which answer it was (no cell numbers to count)
        grade_id = (nb["cells"][index].get("metadata", {}).get("nbgrader") or {}).get("grade_id")
        return f"cell {index} ({grade_id})" if isinstance(grade_id, str) else f"cell {index}"

    if timed_out:
        return TIMED_OUT, (
            f"{Path(notebook_path).name}: {where(timed_out[0])} hit the kernel's "
            "execution timeout (graded without it)"
        )
    if lost:
        return KERNEL_DIED, (
            f"{Path(notebook_path).name}: kernel lost in {where(lost[0])} "
            "(later cells not executed; graded without them)"
        )
    return GRADED, ""


def _read_tree(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


class _ScratchCourse:
    """A private course directory with the snapshot's files and one app."""

    def __init__(self, course: CourseSnapshot, scratch_dir: str | None):
        from nbgrader.converters import Autograde

        self.root = Path(tempfile.mkdtemp(prefix="classgrade-course-", dir=scratch_dir))
        for name, content in course.files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        self.gradebook = course.gradebook
        self.db_path = self.root / "gradebook.db"
        self.db_path.write_bytes(self.gradebook)
        unsynced_sqlite_below(self.root)  # a throwaway copy: no fsync per commit
        self.app = make_app(self.root)
        check_nbgrader_schema_once()  # a process grading many notebooks
        self.app.coursedir.db_url = f"sqlite:///{self.db_path}"
        self.app.coursedir.notebook_id = "*"
        self.app.log.propagate = False
        self.app.log.addFilter(ReleaseChecksumFilter(course.release_checksums))
        self.failure: BaseException | None = None
        scratch = self

        class RecordingAutograde(Autograde):
            """Autograde that remembers why a notebook failed (nbgrader logs
            the exception and raises a generic NbGraderException)."""

            def convert_single_notebook(self, notebook_filename):
                try:
                    super().convert_single_notebook(notebook_filename)
                except Exception as exc:  # re-raised: nbgrader handles the failure
                    scratch.failure = exc
                    raise

        self.autograde_class = RecordingAutograde

    def _folder(self, step: str, task: GradingTask) -> Path:
        directory = getattr(self.app.coursedir, f"{step}_directory")
        return self.root / directory / task.student / task.assignment

    def _reset(self, task: GradingTask) -> None:
        coursedir = self.app.coursedir
        for step in ("submitted", "autograded", "feedback"):
            shutil.rmtree(self.root / getattr(coursedir, f"{step}_directory"), ignore_errors=True)
        self.db_path.write_bytes(self.gradebook)
        folder = self._folder("submitted", task).resolve()
        for name, content in task.submission.items():
            path = folder / name
            if folder not in path.resolve().parents:
                raise ValueError(f"submission file outside its folder: {name!r}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        folder.mkdir(parents=True, exist_ok=True)

    def _execution_problem(self, task: GradingTask) -> tuple[str, str, bool]:
        for path in sorted(self._folder("autograded", task).glob("*.ipynb")):
            outcome, detail = execution_problem(path)
            if outcome != GRADED:
                reran = kernel_reran(path)
                if reran:
                    detail += "; the same after a second run in a fresh kernel"
                return outcome, detail, reran
        return GRADED, "", False

    def grade(self, task: GradingTask, log_path: str | None) -> GradingOutcome:
        from nbgrader.api import Gradebook
        from nbgrader.converters import GenerateFeedback

        self._reset(task)
        coursedir = self.app.coursedir
        coursedir.assignment_id = task.assignment
        coursedir.student_id = task.student
        self.failure = None
        result = GradingOutcome(task.student, ERROR)
        stream = io.StringIO()
        handler = (
            logging.FileHandler(log_path, mode="w") if log_path else logging.StreamHandler(stream)
        )
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log = self.app.log
        log.addHandler(handler)
        old_level = log.level
        log.setLevel(logging.INFO)
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                ignore_nbgrader_sqlalchemy_warnings()
                self._run(task, result, Gradebook, GenerateFeedback)
        finally:
            log.removeHandler(handler)
            log.setLevel(old_level)
            handler.close()
        result.log = Path(log_path).read_text(errors="replace") if log_path else stream.getvalue()
        return result

    def _run(self, task, result, Gradebook, GenerateFeedback) -> None:
        coursedir = self.app.coursedir
        log = self.app.log
        t0 = time.perf_counter()
        try:
            self.autograde_class(coursedir=coursedir, parent=self.app, force=True).start()
        except Exception as exc:  # one broken submission never stops the others
            cause = self.failure or exc
            log.error(
                "autograde failed: %s",
                "".join(traceback.format_exception(type(cause), cause, cause.__traceback__)),
            )
            result.outcome = classify(cause)
            result.detail = f"{type(cause).__name__}: {str(cause)[:300]}"
            return
        result.timing["autograde"] = time.perf_counter() - t0
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            result.submission = read_submission(gb, task.assignment, task.student)
        result.autograded = _read_tree(self._folder("autograded", task))
        result.outcome, result.detail, result.kernel_reran = self._execution_problem(task)
        if not task.feedback:
            return
        t0 = time.perf_counter()
        try:
            GenerateFeedback(coursedir=coursedir, parent=self.app, force=True).start()
        except Exception as exc:  # grades are kept; feedback is reported missing
            log.error("feedback failed: %s", traceback.format_exc())
            result.feedback = {}  # no stale feedback of an earlier run is kept
            result.detail = "; ".join(
                filter(None, [result.detail, f"feedback failed: {type(exc).__name__}: {exc}"])
            )
            return
        result.timing["feedback"] = time.perf_counter() - t0
        result.feedback = _read_tree(self._folder("feedback", task))
