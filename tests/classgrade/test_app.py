"""Tests of the nbgrader set-up (autograder.classgrade.app): the noise filters, the
schema checked once."""

import logging
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nbgrader_helpers import ASSIGNMENT, ROOT, copy_course

from autograder.classgrade import app as classgrade_app
from autograder.classgrade import task
from autograder.classgrade.app import check_nbgrader_schema_once
from autograder.classgrade.gradebook import assignment_gradebook, ensure_assignment

MESSAGE = "Attribute '%s' for cell %s has changed! (should be: %s, got: %s)"


def _record(*args):
    return logging.LogRecord("AutogradeApp", logging.WARNING, "", 0, MESSAGE, args, None)


def test_checksum_filter_drops_only_the_release_checksum():
    """Is the expected warning dropped and an edited checksum or other attribute kept?"""
    f = classgrade_app.ReleaseChecksumFilter({"test_a": "rel"})
    assert not f.filter(_record("checksum", "test_a", "master", "rel"))
    assert f.filter(_record("checksum", "test_a", "master", "edited"))
    assert f.filter(_record("checksum", "test_b", "master", "rel"))
    assert f.filter(_record("points", "test_a", 1, 100))


def test_release_checksums_cover_the_committed_release():
    from autograder.assignment import contract

    sums = classgrade_app.release_checksums(ROOT / "release" / ASSIGNMENT)
    assert {c.grade_id for c in contract.GRADED_CELLS} <= set(sums)


def test_an_honest_submission_grades_without_nbgrader_noise(tmp_path):
    """No checksum warning in the student's log, no SQLAlchemy warning raised,
    yet full marks (the filters hide noise, not grading)."""
    from autograder.assignment import contract
    from fixtures import samples

    course = copy_course(tmp_path / "course")
    app = classgrade_app.make_app(course)
    ensure_assignment(app, ASSIGNMENT, log=lambda *a: None)
    snapshot = task.course_snapshot(
        course, ASSIGNMENT, assignment_gradebook(course / "gradebook.db", app.coursedir.course_id)
    )
    nb = samples.perfect(samples.read_release(course / "release" / ASSIGNMENT / "one_neuron.ipynb"))
    path = samples.write_submission(course, "s1", nb)
    job = task.GradingTask("s1", ASSIGNMENT, {path.name: path.read_bytes()}, feedback=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = task.grade_student(snapshot, job, scratch_dir=str(tmp_path))
    grades = outcome.submission["notebooks"][contract.NOTEBOOK]["grades"]
    assert sum(g["auto_score"] for g in grades.values()) == pytest.approx(
        sum(c.points for c in contract.GRADED_CELLS)
    )
    assert "has changed!" not in outcome.log
    assert "Overwriting files" in outcome.log  # the log itself is kept
    assert [str(w.message) for w in caught if "not in session" in str(w.message)] == []


_metadata = st.fixed_dictionaries(
    {"schema_version": st.just(3)},
    optional={
        "grade": st.one_of(st.booleans(), st.integers(0, 2)),
        "solution": st.one_of(st.booleans(), st.text(max_size=2)),
        "locked": st.booleans(),
        "task": st.booleans(),
        "grade_id": st.one_of(st.text(max_size=5), st.integers()),
        "points": st.one_of(st.floats(allow_nan=False), st.integers(-2, 5), st.text(max_size=2)),
        "cell_type": st.sampled_from(["code", "markdown", "raw"]),
    },
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_metadata)
def test_schema_checked_once_gives_nbgraders_verdicts(meta):
    """The class command's cell validation accepts and refuses exactly what nbgrader's does."""
    import jsonschema
    from nbformat.v4 import new_code_cell
    from nbgrader.nbgraderformat import MetadataValidator, common

    cell = new_code_cell("x = 1", metadata={"nbgrader": dict(meta)})

    def verdict():
        try:
            MetadataValidator().validate_cell(cell)
        except jsonschema.ValidationError as exc:
            return exc.message
        return None

    saved = common.jsonschema
    try:
        common.jsonschema = jsonschema
        stock = verdict()
        check_nbgrader_schema_once()
        assert common.jsonschema is not jsonschema
        assert verdict() == stock
    finally:
        common.jsonschema = saved


def test_only_databases_below_the_scratch_root_skip_fsync(tmp_path):
    import sqlalchemy

    scratch, course = tmp_path / "scratch", tmp_path / "course"
    scratch.mkdir()
    course.mkdir()
    classgrade_app.unsynced_sqlite_below(scratch)

    def synchronous(path):
        engine = sqlalchemy.create_engine(f"sqlite:///{path}")
        try:
            with engine.connect() as connection:
                return connection.exec_driver_sql("PRAGMA synchronous").scalar()
        finally:
            engine.dispose()

    assert synchronous(scratch / "gradebook.db") == 0  # OFF
    assert synchronous(course / "gradebook.db") == 2  # FULL, SQLite's default
    assert synchronous(tmp_path / "scratch-other.db") == 2  # a prefix is not a folder
