"""The gradebook side of a class run.

Grading tasks never open the course's gradebook: each grades into a private
SQLite gradebook made from :func:`assignment_gradebook` (the assignment, its
cells and due date, no student) and returns the results as plain data
(:func:`read_submission`). The coordinator alone writes the course's gradebook,
one transaction per student (:func:`merge_submission`), and stores the task's
autograded and feedback files in the course (:func:`store_outputs`)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import warnings
from pathlib import Path

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
    """Write one task's results into the course's gradebook (one transaction)."""
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
