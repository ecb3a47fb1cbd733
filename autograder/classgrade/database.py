"""The course's gradebook on a database server (PostgreSQL), beside the SQLite default.

A course sets ``c.CourseDirectory.db_url = "postgresql+psycopg://grader@dbhost/course"``
(driver: the pinned ``psycopg``); the password belongs in ``~/.pgpass`` or
``PGPASSWORD`` of the coordinator, never in ``nbgrader_config.py``, which is sent
to the grading workers (:func:`check_no_secret` refuses a run that would ship it).

- The coordinator alone talks to the server. :func:`prepare_server_gradebook`
  runs once before any task: nbgrader's ``Gradebook`` creates missing tables and
  stamps a new database with nbgrader's alembic head; an existing database at
  another revision is refused (``nbgrader db upgrade`` migrates it).
- Tasks get an assignment-only SQLite gradebook (:func:`task_gradebook`): the
  course, assignments, notebooks and cells copied row by row, no student.
- Merging is :func:`autograder.classgrade.gradebook.merge_submission`, one
  transaction per student, as for SQLite.

``python -m autograder.classgrade.database SRC_URL DST_URL`` copies a whole
gradebook (e.g. the course's SQLite file into an empty PostgreSQL database).
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import tempfile
from pathlib import Path

from autograder.classgrade.results import GradeClassError


def is_sqlite(db_url: str) -> bool:
    return db_url.startswith("sqlite:")


def label(db_url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(db_url).render_as_string(hide_password=True)


def _engine(db_url: str):
    from sqlalchemy import create_engine

    return create_engine(db_url, future=True)


def _tables(with_students: bool) -> list:
    """nbgrader's tables in dependency order; without those that hold (or hang
    off) students and their submissions unless ``with_students``."""
    from nbgrader.api import Base

    tables = list(Base.metadata.sorted_tables)
    if with_students:
        return tables
    excluded = {"student"}
    for table in tables:  # sorted: a table comes after everything it refers to
        if any(fk.column.table.name in excluded for fk in table.foreign_keys):
            excluded.add(table.name)
    return [t for t in tables if t.name not in excluded]


def _alembic_version(conn) -> str | None:
    from sqlalchemy import inspect, text

    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def alembic_head() -> str:
    """nbgrader's current schema revision (read in-process, no ``alembic`` run)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    config = Config()
    config.set_main_option("script_location", ALEMBIC_DIR)
    return ScriptDirectory.from_config(config).get_current_head()


def _copy_rows(src_url: str, dst_url: str, with_students: bool) -> None:
    from sqlalchemy import text

    src, dst = _engine(src_url), _engine(dst_url)
    try:
        tables = _tables(with_students)
        with src.connect() as s, dst.begin() as d:
            for table in tables:
                table.create(d, checkfirst=True)
            for table in tables:
                # the source's own row order (nbgrader lists cells in it)
                rows = [dict(r._mapping) for r in s.execute(table.select())]
                if rows:
                    d.execute(table.insert(), rows)
            version = _alembic_version(s)
            if version and _alembic_version(d) is None:
                d.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
                d.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": version})
    finally:
        src.dispose()
        dst.dispose()


def copy_gradebook(src_url: str, dst_url: str) -> None:
    """Copy every row of a gradebook into an empty one (e.g. SQLite -> PostgreSQL)."""
    from sqlalchemy import inspect

    dst = _engine(dst_url)
    try:
        with dst.connect() as conn:
            existing = set(inspect(conn).get_table_names())
            for table in _tables(True):
                if table.name in existing and conn.execute(table.select().limit(1)).first():
                    raise GradeClassError(
                        f"{label(dst_url)}: table {table.name} is not empty; refusing to copy"
                    )
    finally:
        dst.dispose()
    _copy_rows(src_url, dst_url, with_students=True)


def prepare_server_gradebook(db_url: str, course_id: str, assignment: str) -> None:
    """Create the schema once (before any task) and check the assignment is in it."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SQLAlchemyError

    where = label(db_url)
    try:
        with Gradebook(db_url, course_id) as gb:
            version = _alembic_version(gb.db.connection())
            try:
                has_notebooks = bool(gb.find_assignment(assignment).notebooks)
            except MissingEntry:
                has_notebooks = False
    except SQLAlchemyError as exc:
        raise GradeClassError(
            f"{where}: cannot open the gradebook: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        ) from exc
    head = alembic_head()
    if version != head:
        raise GradeClassError(
            f"{where}: gradebook schema at revision {version}, nbgrader needs {head}; "
            "run 'nbgrader db upgrade' first"
        )
    if not has_notebooks:
        raise GradeClassError(
            f"{where}: assignment {assignment!r} has no notebooks in the gradebook; run "
            f"'nbgrader generate_assignment {assignment} --force' with this db_url, or copy "
            "the SQLite gradebook in: python -m autograder.classgrade.database "
            f"sqlite:///gradebook.db {where}"
        )


def task_gradebook(db_url: str, course_id: str, course_dir: Path) -> bytes:
    """The assignment-only SQLite gradebook that grading tasks get."""
    from autograder.classgrade.gradebook import assignment_gradebook, sqlite_path

    if is_sqlite(db_url):
        path = sqlite_path(db_url)
        return assignment_gradebook(path if path.is_absolute() else course_dir / path, course_id)
    with tempfile.TemporaryDirectory(prefix="classgrade-gradebook-") as tmp:
        path = Path(tmp) / "gradebook.db"
        _copy_rows(db_url, f"sqlite:///{path}", with_students=False)
        with contextlib.closing(sqlite3.connect(str(path))) as db:
            db.execute("VACUUM")
        return path.read_bytes()


def check_no_secret(db_url: str, files: dict[str, bytes]) -> None:
    """Refuse when a file sent to the workers holds the gradebook's password."""
    from sqlalchemy.engine import make_url

    password = make_url(db_url).password
    if not password:
        return
    for name, content in files.items():
        if str(password).encode() in content:
            raise GradeClassError(
                f"{name} holds the gradebook's password and would be sent to the grading "
                "workers; put it in ~/.pgpass or PGPASSWORD of the coordinator instead"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.classgrade.database",
        description="Copy a whole nbgrader gradebook into an empty database.",
    )
    parser.add_argument("src", help="source db_url, e.g. sqlite:///gradebook.db")
    parser.add_argument("dst", help="empty destination, e.g. postgresql+psycopg://grader@host/db")
    args = parser.parse_args(argv)
    try:
        copy_gradebook(args.src, args.dst)
    except GradeClassError as exc:
        print(f"database: error: {exc}", file=sys.stderr)
        return 2
    print(f"copied {label(args.src)} into {label(args.dst)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
