"""One run of the class command: :func:`grade_class` ties collection, the
pre-check, the grading engine, the gradebook merge and the report together.

Pipeline
--------
1. Collect: submissions are read from ``submitted/<student>/<assignment>/``
   (nbgrader layout). ``zip_path`` first runs nbgrader's ``zip_collect`` on an
   LMS export (:mod:`autograder.classgrade.collect`); ``roster`` imports students
   with nbgrader's ``db student import``; ``duedate`` sets the due date like
   ``db assignment add --duedate``.
2. Each submission is checked here (:mod:`autograder.classgrade.precheck`).
3. Valid submissions become plain-data tasks
   (:func:`autograder.classgrade.task.grade_student`) graded by the local pool
   (:mod:`autograder.classgrade.pool`); each task grades into a private
   gradebook, and this process alone merges its results into the course's
   gradebook, one transaction per student (:mod:`autograder.classgrade.gradebook`).
4. Grades CSV by nbgrader's ``CsvExportPlugin``; ``results.json`` and the HTML
   report by :mod:`autograder.classgrade.report`.

Statuses: graded; late (graded, timestamp.txt after the due date); timed out
(over ``timeout``: not graded; or a cell hit the kernel timeout: graded
without it); kernel died (graded without the cells after it when the course's
SandboxedExecute survives it); invalid notebook (empty, not JSON/UTF-8, nbformat
< 4, bad timestamp.txt, any symlink in the submission: see
:mod:`autograder.preprocessors.reject_symlinks`); missing notebook (folder
without ``<notebook>.ipynb``, e.g. renamed); not submitted (on the roster or in
the gradebook, no folder). Duplicate cell ids or grade_ids are graded and noted.
A student not graded this run has no stale grade, autograded or feedback files
left. ``submitted/`` is only read (except by zip collection, which writes it).
Re-running is idempotent; ``students`` re-grades some students and keeps the
last results of the others in the report.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from autograder.classgrade import database, lateness
from autograder.classgrade.app import check_sandbox, make_app
from autograder.classgrade.collect import LMS_REGEXPS, collect_zip, import_roster, read_folder
from autograder.classgrade.export import (
    export_warnings,
    graded_cell_order,
    read_people,
    write_exports,
)
from autograder.classgrade.gradebook import (
    describe_submission,
    ensure_assignment,
    forget_submission,
    merge_submission,
    store_outputs,
)
from autograder.classgrade.pool import grade_in_workers
from autograder.classgrade.precheck import check_submission
from autograder.classgrade.results import (
    EXIT_ATTENTION,
    EXIT_OK,
    GRADED,
    INVALID,
    LATE,
    NOT_SUBMITTED,
    GradeClassError,
    StudentResult,
)
from autograder.classgrade.task import GradingOutcome, GradingTask, course_snapshot


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


def only_assignment(course_dir: Path | str) -> str:
    """The course's one assignment (the single folder of ``source/``): the default
    when none is named, so that the class command names no assignment of its own."""
    source = Path(course_dir) / "source"
    names = sorted(p.name for p in source.iterdir() if p.is_dir()) if source.is_dir() else []
    if len(names) != 1:
        raise GradeClassError(
            f"{source}: name the assignment to grade (found {', '.join(names) or 'none'})"
        )
    return names[0]


def grade_class(
    assignment: str | None = None,
    *,
    course_dir: Path | str = ".",
    zip_path: Path | None = None,
    lms: str = "moodle",
    regexp: str | None = None,
    roster: Path | None = None,
    duedate: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    timeout: float = 600.0,  # a hang guard: see cli.py's --timeout
    students: list[str] | None = None,
    unsafe: bool = False,
    report_dir: Path | str = "reports",
    grades_csv: Path | str = "grades.csv",
    feedback: bool = True,
    report: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[int, list[StudentResult]]:
    """Run the whole pipeline; returns (exit status, results per student).

    Raises :class:`GradeClassError` on a usage or set-up problem."""
    from nbgrader.api import Gradebook

    course_dir = Path(course_dir).resolve()
    assignment = assignment or only_assignment(course_dir)
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
    if not scheduler:  # with a scheduler, the workers check their own sandbox
        check_sandbox(app, unsafe)
    if database.is_sqlite(app.coursedir.db_url):
        ensure_assignment(app, assignment, log)
    else:  # a database server: the schema is created here, once, before any task
        database.prepare_server_gradebook(app.coursedir.db_url, app.coursedir.course_id, assignment)
    with Gradebook(app.coursedir.db_url, app.coursedir.course_id) as gb:
        notebook_names = [nb.name for nb in gb.find_assignment(assignment).notebooks]
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
    refused: dict[str, str] = {}  # student -> why an entry of theirs was refused (safe_zip)
    if zip_path is not None:
        refused = collect_zip(
            course_dir, assignment, Path(zip_path).resolve(), regexp or LMS_REGEXPS[lms], roster_ids
        ).refused_students

    submitted = course_dir / app.coursedir.submitted_directory
    found = sorted(p.name for p in submitted.iterdir() if p.is_dir()) if submitted.is_dir() else []
    with Gradebook(app.coursedir.db_url, app.coursedir.course_id) as gb:
        in_gradebook = {student.id for student in gb.students}
    everyone = sorted(set(found) | set(roster_ids or []) | in_gradebook | set(refused))
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
        note = f"refused in the LMS export: {refused[sid]}" if sid in refused else ""
        if not (submitted / sid).is_dir():
            results[sid] = StudentResult(
                sid, NOT_SUBMITTED, note or f"{submitted / sid}: no folder", on_roster=on_roster
            )
            continue
        status, detail = check_submission(folder, notebook_names)
        detail = "; ".join(filter(None, [detail, note]))
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
            course = course_snapshot(
                course_dir,
                assignment,
                database.task_gradebook(app.coursedir.db_url, app.coursedir.course_id, course_dir),
            )
            bar = _progress(len(to_grade))

            def on_result(outcome: GradingOutcome) -> None:
                student = outcome.student
                res = results[student]
                res.seconds = outcome.seconds
                res.timing = outcome.timing
                # keep the notes of the pre-check (e.g. duplicate ids) beside nbgrader's
                res.detail = "; ".join(filter(None, [res.detail, outcome.detail]))
                if outcome.log:
                    (log_dir / f"{student}.log").write_text(outcome.log)
                if outcome.submission is not None:  # graded by nbgrader (maybe with a problem)
                    merge_submission(gb, assignment, student, outcome.submission)
                    store_outputs(
                        course_dir,
                        app,
                        student,
                        assignment,
                        {"autograded": outcome.autograded, "feedback": outcome.feedback},
                    )
                    res.__dict__.update(describe_submission(gb, assignment, student))
                    res.status = outcome.outcome
                    if res.seconds_late > 0:
                        if res.status == GRADED:
                            res.status = LATE
                        else:
                            res.detail += f"; late by {res.seconds_late / 3600:.1f} h"
                else:
                    res.status = outcome.outcome
                    forget_submission(gb, assignment, student, course_dir, app)
                bar.update(1)
                counts: dict[str, int] = {}
                for r in results.values():
                    if r.student_id in to_grade and (r.seconds is not None):
                        counts[r.status] = counts.get(r.status, 0) + 1
                bar.set_postfix_str(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))

            inbound = lateness.exchange_inbound(app)

            def tasks():
                for sid in to_grade:
                    try:
                        files = read_folder(submitted / sid / assignment)
                    except GradeClassError as exc:  # changed since the pre-check
                        results[sid].status, results[sid].detail = INVALID, str(exc)
                        forget_submission(gb, assignment, sid, course_dir, app)
                        bar.update(1)
                        continue
                    # lateness from the LMS or the exchange, not the student's timestamp.txt
                    late = lateness.judge(
                        course_dir,
                        assignment,
                        sid,
                        submitted / sid / assignment,
                        files,
                        notebook_names,
                        inbound,
                    )
                    files = late.apply(files)
                    results[sid].detail = "; ".join(filter(None, [results[sid].detail, late.note]))
                    yield GradingTask(sid, assignment, files, feedback)

            scratch = Path(tempfile.mkdtemp(prefix="classgrade-"))
            try:
                if scheduler:
                    from autograder.classgrade.distributed import grade_in_dask

                    database.check_no_secret(app.coursedir.db_url, course.files)
                    grade_in_dask(
                        tasks(),
                        course,
                        scheduler=scheduler,
                        timeout=timeout,
                        unsafe=unsafe,
                        spool_dir=report_dir / "spool",
                        on_result=on_result,
                        log=log,
                        log_dir=log_dir,
                    )
                else:
                    grade_in_workers(
                        tasks(),
                        course,
                        workers=min(workers, len(to_grade)),
                        timeout=timeout,
                        scratch=scratch,
                        log_dir=log_dir,
                        on_result=on_result,
                    )
            finally:
                bar.close()
                shutil.rmtree(scratch, ignore_errors=True)

        people = read_people(gb)
        record = gb.find_assignment(assignment)
        due, max_score = record.duedate, record.max_score
        # (nbgrader's cell lists follow the database's row order: the notebook's order)
        graded_cells = graded_cell_order(
            record,
            [
                course_dir / app.coursedir.source_directory / assignment,
                course_dir / app.coursedir.release_directory / assignment,
            ],
        )

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
    exports = write_exports(
        final, grades_csv, people, assignment=assignment, cells=graded_cells, max_score=max_score
    )
    warnings = export_warnings(final, due, exports)
    if report:
        from autograder.classgrade.report import build_report

        build_report(
            final,
            report_dir,
            assignment=assignment,
            course_dir=course_dir,
            people=people,
            warnings=warnings,
        )

    from autograder.classgrade.report import summary_text

    attention = [r for r in final if r.needs_instructor]
    strangers = [r for r in final if roster_ids is not None and not r.on_roster]
    log(
        summary_text(
            final, grades_csv, report_dir if report else None, roster_ids is not None, warnings
        )
    )
    return (EXIT_ATTENTION if attention or strangers else EXIT_OK), final
