"""nbgrader set-up shared by the coordinator and the grading tasks: the course's
app, in-process nbgrader sub-commands and the sandbox check."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

from autograder.classgrade.results import GradeClassError


def make_app(course_dir: Path, log_level: str = "WARN"):
    """An initialised ``AutogradeApp``: loads the course's nbgrader_config.py
    exactly as ``nbgrader autograde`` run in ``course_dir`` does.

    The root is also put into the app's config, so that preprocessors building
    their own ``CourseDirectory(config=...)`` see this course, not the cwd. A
    configuration that fails to load raises (nbgrader only logs it and grades
    with its defaults: no sandbox, no trusted verdicts)."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    course_dir = Path(course_dir).resolve()
    cwd = os.getcwd()
    os.chdir(course_dir)
    try:
        app = AutogradeApp(raise_config_file_errors=True)
        try:
            app.initialize([f"--log-level={log_level}", f"--CourseDirectory.root={course_dir}"])
        except Exception as exc:
            raise GradeClassError(
                f"{course_dir / 'nbgrader_config.py'}: cannot load: {type(exc).__name__}: {exc}"
            ) from exc
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


def run_nbgrader_app(app_class, course_dir: Path, argv: list[str]) -> None:
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


# Noise that nbgrader logs for every honest submission of a course whose test
# cells hold hidden tests:
# - OverwriteCells warns "Attribute 'checksum' for cell <id> has changed!" for
#   each such cell: the submitted cell carries the release's checksum, the
#   gradebook the master's, and the two differ by design (the release lacks the
#   hidden tests). The cell is overwritten from the gradebook either way.
# - SQLAlchemy warns three times that nbgrader's new SubmittedAssignment /
#   SubmittedNotebook is "not in session" during autoflush inside
#   Gradebook.update_or_create_submission (nbgrader adds it right after).
_OVERWRITE_CELLS_MESSAGE = "Attribute '%s' for cell %s has changed! (should be: %s, got: %s)"
_SQLALCHEMY_NOISE = (
    r"Object of type <Submitted(Assignment|Notebook)> not in session, add operation along "
    r"'(Assignment|Student|Notebook)\.submissions' will not proceed"
)


class ReleaseChecksumFilter(logging.Filter):
    """Drops OverwriteCells' checksum warning when the submitted checksum is the
    release's own for that cell; a cell whose checksum was edited still warns."""

    def __init__(self, release_checksums: dict[str, str]):
        super().__init__()
        self.release_checksums = release_checksums

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != _OVERWRITE_CELLS_MESSAGE or len(record.args or ()) != 4:
            return True
        attr, name, _old, new = record.args
        return not (attr == "checksum" and self.release_checksums.get(name) == new)


def ignore_nbgrader_sqlalchemy_warnings() -> None:
    """Ignore exactly nbgrader's three autoflush warnings (call inside
    ``warnings.catch_warnings()``)."""
    warnings.filterwarnings("ignore", message=_SQLALCHEMY_NOISE)


def release_checksums(release_dir: Path) -> dict[str, str]:
    """grade_id -> checksum of every nbgrader cell of the release notebooks."""
    out = {}
    for path in sorted(Path(release_dir).glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if "grade_id" in meta and "checksum" in meta:
                out[meta["grade_id"]] = meta["checksum"]
    return out


_SCHEMA_VALIDATORS: dict[str, object] = {}


def _validate_once_per_schema(instance, schema, *args, **kwargs) -> None:
    """``jsonschema.validate`` with the schema checked and its validator built once."""
    import jsonschema

    if args or kwargs:
        return jsonschema.validate(instance, schema, *args, **kwargs)
    key = json.dumps(schema, sort_keys=True)
    validator = _SCHEMA_VALIDATORS.get(key)
    if validator is None:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validator = _SCHEMA_VALIDATORS[key] = cls(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def check_nbgrader_schema_once() -> None:
    """nbgrader's cell-metadata validator calls ``jsonschema.validate`` for every cell of
    every notebook, which first checks nbgrader's own (constant) schema against the JSON
    Schema metaschema: two thirds of its cost. In a grading process the schema is checked
    once and its validator kept; every cell's verdict is the same."""
    from types import SimpleNamespace

    from nbgrader.nbgraderformat import common

    if not isinstance(common.jsonschema, SimpleNamespace):
        common.jsonschema = SimpleNamespace(validate=_validate_once_per_schema)


_UNSYNCED_ROOTS: list[str] = []  # folder prefixes, with a trailing separator


def _no_fsync(dbapi_connection, _record) -> None:
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    for _, name, path in dbapi_connection.execute("PRAGMA database_list").fetchall():
        if name == "main" and path and os.path.realpath(path).startswith(tuple(_UNSYNCED_ROOTS)):
            dbapi_connection.execute("PRAGMA synchronous = OFF")


def unsynced_sqlite_below(root: Path) -> None:
    """SQLite databases whose file lies below ``root`` are written without fsync in this
    process. For a scratch course's gradebook: a throwaway copy, reset before every
    student, that the coordinator merges into the course's gradebook; each of nbgrader's
    ~40 commits per notebook would otherwise wait for the disk. Every other database
    (the course's own gradebook included) keeps SQLite's default."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    prefix = os.path.join(os.path.realpath(root), "")
    if prefix not in _UNSYNCED_ROOTS:
        _UNSYNCED_ROOTS.append(prefix)
    if not event.contains(Engine, "connect", _no_fsync):  # one listener per process
        event.listen(Engine, "connect", _no_fsync)
