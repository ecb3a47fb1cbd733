"""The gradebook side of a class run.

Grading tasks never open the course's gradebook: each grades into a private
SQLite gradebook made from :func:`assignment_gradebook` (the assignment, its
cells and due date, no student) and returns the results as plain data
(:func:`read_submission`). The coordinator alone writes the course's gradebook,
one transaction per student (:func:`merge_submission`: one commit, rolled back
whole on any error), and stores the task's autograded and feedback files in the
course (:func:`store_outputs`)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from autograder.classgrade.app import ignore_nbgrader_sqlalchemy_warnings, run_nbgrader_app
from autograder.classgrade.results import GradeClassError


def sqlite_path(db_url: str) -> Path:
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        raise GradeClassError(
            f"the gradebook {db_url!r} is not an SQLite file; the class command needs an "
            "SQLite gradebook (tasks grade into private copies of it)"
        )
    return Path(db_url[len(prefix) :])


def copy_sqlite(src: Path, dst: Path) -> None:
    """Consistent copy of an SQLite database (online backup API)."""
    with (
        contextlib.closing(sqlite3.connect(str(src))) as s,
        contextlib.closing(sqlite3.connect(str(dst))) as d,
    ):
        s.backup(d)


def assignment_gradebook(main_db: Path, course_id: str) -> bytes:
    """An SQLite gradebook holding what autograde needs of the course's one
    (assignments, notebooks, cells, due dates) and no student or grade."""
    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory(prefix="classgrade-gradebook-") as tmp:
        path = Path(tmp) / "gradebook.db"
        copy_sqlite(main_db, path)
        with Gradebook(f"sqlite:///{path}", course_id) as gb:
            for student in list(gb.students):
                gb.remove_student(student.id)
        with contextlib.closing(sqlite3.connect(str(path))) as db:
            db.execute("VACUUM")
        return path.read_bytes()


def read_submission(gb, assignment: str, student: str) -> dict:
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


def merge_submission(gb, assignment: str, student: str, data: dict) -> None:
    """Write one task's results into the course's gradebook in one transaction.

    The student, the submission (with every notebook, grade and comment, as
    nbgrader's ``add_submission`` mirrors the assignment) and the scores are
    written on nbgrader's ORM objects in ``gb``'s session and committed once;
    on any error (the database going away, a result that does not fit the
    gradebook) the session is rolled back, so nothing of the student is half
    written. nbgrader's own ``update_or_create_*`` calls are not used: each
    commits by itself (the submission row before its scores). Raises
    GradeClassError when the result names notebooks or cells other than the
    gradebook's (it was graded against another version of the assignment)."""
    try:
        with warnings.catch_warnings():
            ignore_nbgrader_sqlalchemy_warnings()  # see autograder.classgrade.app
            _write_submission(gb, assignment, student, data)
            gb.db.commit()
    except BaseException:
        # the original error is what matters; a rollback on a dead connection may fail too
        with contextlib.suppress(Exception):
            gb.db.rollback()
        raise


def _submission(gb, assignment: str, student: str):
    """The student's submission in ``gb``'s session, created when missing
    (nothing is committed)."""
    from nbgrader.api import (
        Comment,
        Grade,
        MissingEntry,
        Student,
        SubmittedAssignment,
        SubmittedNotebook,
    )

    try:
        return gb.find_submission(assignment, student)
    except MissingEntry:
        pass
    try:
        person = gb.find_student(student)
    except MissingEntry:
        person = Student(id=student)
        gb.db.add(person)
    sub = SubmittedAssignment(assignment=gb.find_assignment(assignment), student=person)
    for notebook in sub.assignment.notebooks:
        nb = SubmittedNotebook(notebook=notebook, assignment=sub)
        for cell in notebook.grade_cells:
            Grade(cell=cell, notebook=nb)
        for cell in notebook.solution_cells:
            Comment(cell=cell, notebook=nb)
        for cell in notebook.task_cells:
            Comment(cell=cell, notebook=nb)
            Grade(cell=cell, notebook=nb)
    gb.db.add(sub)
    return sub


def _same_names(student: str, what: str, in_gradebook: set[str], in_result: set[str]) -> None:
    if in_gradebook != in_result:
        raise GradeClassError(
            f"{student}: the result's {what} ({', '.join(sorted(in_result)) or 'none'}) are not "
            f"the gradebook's ({', '.join(sorted(in_gradebook)) or 'none'}); the assignment "
            "changed in the gradebook during the run? Grade the student again"
        )


def _write_submission(gb, assignment: str, student: str, data: dict) -> None:
    from nbgrader.utils import parse_utc

    sub = _submission(gb, assignment, student)
    if data["timestamp"]:
        sub.timestamp = parse_utc(data["timestamp"])
    notebooks = {nb.name: nb for nb in sub.notebooks}
    _same_names(student, "notebooks", set(notebooks), set(data["notebooks"]))
    for name, nb_data in data["notebooks"].items():
        nb = notebooks[name]
        nb.flagged = nb_data["flagged"]
        nb.late_submission_penalty = nb_data["late_submission_penalty"]
        grades = {grade.name: grade for grade in nb.grades}
        _same_names(student, f"graded cells of {name}", set(grades), set(nb_data["grades"]))
        for cell, g in nb_data["grades"].items():
            grades[cell].auto_score = g["auto_score"]
            grades[cell].needs_manual_grade = g["needs_manual_grade"]
        comments = {comment.name: comment for comment in nb.comments}
        _same_names(student, f"comment cells of {name}", set(comments), set(nb_data["comments"]))
        for cell, c in nb_data["comments"].items():
            comments[cell].auto_comment = c["auto_comment"]


def _output_dirs(course_dir: Path, app, student: str, assignment: str) -> dict[str, Path]:
    coursedir = app.coursedir
    return {
        "autograded": course_dir / coursedir.autograded_directory / student / assignment,
        "feedback": course_dir / coursedir.feedback_directory / student / assignment,
    }


def store_outputs(
    course_dir: Path,
    app,
    student: str,
    assignment: str,
    outputs: dict[str, dict[str, bytes] | None],
) -> None:
    """Replace the student's ``autograded/`` and ``feedback/`` folders by the
    files a task returned (``{"autograded": {path: bytes}, "feedback": ...}``;
    a kind given as None is left as it is)."""
    for kind, folder in _output_dirs(course_dir, app, student, assignment).items():
        files = outputs.get(kind)
        if files is None:
            continue
        if folder.is_dir():
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            path = folder / name
            if folder.resolve() not in path.resolve().parents:
                raise GradeClassError(f"{student}: task returned a file outside {folder}: {name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)


def forget_submission(gb, assignment: str, student: str, course_dir: Path, app) -> None:
    """Remove stale grades and outputs of a student not graded in this run."""
    from nbgrader.api import MissingEntry

    with contextlib.suppress(MissingEntry):
        gb.remove_submission(assignment, student)
    for path in _output_dirs(course_dir, app, student, assignment).values():
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def describe_submission(gb, assignment: str, student: str) -> dict:
    """Scores, cells, lateness and timestamp of a merged submission."""
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


def _has_assignment(db_url: str, course_id: str, assignment: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(db_url, course_id) as gb:
            return bool(gb.find_assignment(assignment).notebooks)
    except MissingEntry:
        return False


def ensure_assignment(app, assignment: str, log: Callable[[str], None] = print) -> bool:
    """Put the assignment into the course's gradebook when it is not there (a
    fresh clone: the release is committed, the gradebook is not, and plain
    ``nbgrader generate_assignment`` skips an existing release).

    nbgrader's ``generate_assignment --force`` runs in a scratch copy of the
    course (configuration and ``source/<assignment>/``) on a copy of the
    gradebook; the copy replaces the course's gradebook only when the release
    it made equals the committed ``release/<assignment>/`` file for file, so the
    gradebook describes exactly what students got. The committed release is
    never written. Returns True when the gradebook was changed; raises
    :class:`GradeClassError` naming what differs or is missing."""
    from nbgrader.apps.generateassignmentapp import GenerateAssignmentApp

    coursedir = app.coursedir
    course_dir = Path(coursedir.root)
    main_db = sqlite_path(coursedir.db_url)
    if not main_db.is_absolute():
        main_db = course_dir / main_db
    # (opening a gradebook that does not exist would create an empty one)
    if main_db.is_file() and _has_assignment(coursedir.db_url, coursedir.course_id, assignment):
        return False
    source = course_dir / coursedir.source_directory / assignment
    release = course_dir / coursedir.release_directory / assignment
    for folder in (source, release):
        if not folder.is_dir():
            raise GradeClassError(
                f"{main_db}: assignment {assignment!r} is not in the gradebook and {folder} "
                f"does not exist; run 'nbgrader generate_assignment {assignment}' first"
            )
    with tempfile.TemporaryDirectory(prefix="classgrade-generate-") as tmp:
        scratch = Path(tmp)
        shutil.copy2(course_dir / "nbgrader_config.py", scratch / "nbgrader_config.py")
        shutil.copytree(source, scratch / coursedir.source_directory / assignment)
        db = scratch / "gradebook.db"
        if main_db.is_file():
            copy_sqlite(main_db, db)
        run_nbgrader_app(
            GenerateAssignmentApp,
            scratch,
            [assignment, "--force", f"--CourseDirectory.db_url=sqlite:///{db}"],
        )
        made = scratch / coursedir.release_directory / assignment
        differ = _differences(made, release)
        if differ:
            raise GradeClassError(
                f"{release}: the committed release is not what nbgrader makes of {source} "
                f"({'; '.join(differ)}); run 'make release' and commit release/ "
                "(grading needs a gradebook that matches what students got)"
            )
        main_db.parent.mkdir(parents=True, exist_ok=True)
        copy_sqlite(db, main_db)
    log(f"{main_db}: assignment {assignment!r} added from {source} (release matches {release})")
    return True


def _differences(made: Path, committed: Path) -> list[str]:
    def files(folder: Path) -> dict[str, bytes]:
        return {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    a, b = files(made), files(committed)
    out = [f"{name}: not committed" for name in sorted(set(a) - set(b))]
    out += [f"{name}: not made by nbgrader" for name in sorted(set(b) - set(a))]
    out += [f"{name}: differs" for name in sorted(set(a) & set(b)) if a[name] != b[name]]
    return out
