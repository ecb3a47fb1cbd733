"""Tests of the gradebook side (autograder.classgrade.gradebook)."""

import copy
import sqlite3

import pytest
from classgrade.fixture_course import GOOD, gradebook_scores, run, submit

import autograder.classgrade as gc
from autograder.classgrade import gradebook


def test_assignment_gradebook_holds_the_assignment_and_no_student(course, tmp_path):
    """Does a task's gradebook carry the cells and due date but no one's grades?"""
    from nbgrader.api import Gradebook

    submit(course, "a", GOOD)
    code, _ = run(course, duedate="2026-01-15 12:00:00 UTC", workers=1)
    assert code == gc.EXIT_OK
    path = tmp_path / "task.db"
    path.write_bytes(gradebook.assignment_gradebook(course / "gradebook.db", "fixture"))
    with Gradebook(f"sqlite:///{path}", "fixture") as gb:
        assert gb.students == []
        assignment = gb.find_assignment("one_neuron")
        assert assignment.duedate is not None
        assert [nb.name for nb in assignment.notebooks] == ["one_neuron"]
        assert {c.name for c in assignment.notebooks[0].grade_cells} == {
            "test_double",
            "test_sigmoid",
        }
    assert gradebook_scores(course)[1] == 1  # the course's gradebook is untouched


def test_a_non_sqlite_gradebook_is_refused_by_name():
    with pytest.raises(gc.GradeClassError, match="not an SQLite file"):
        gradebook.sqlite_path("postgresql://host/db")


def test_store_outputs_refuses_a_path_outside_the_student_folder(course):
    from autograder.classgrade.app import make_app

    app = make_app(course)
    with pytest.raises(gc.GradeClassError, match="outside"):
        gradebook.store_outputs(
            course, app, "a", "one_neuron", {"autograded": {"../../b/x.ipynb": b"{}"}}
        )
    assert not (course / "autograded" / "b").exists()


def test_copy_sqlite_is_a_consistent_copy(tmp_path):
    src, dst = tmp_path / "a.db", tmp_path / "b.db"
    with sqlite3.connect(src) as db:
        db.execute("create table t (x)")
        db.executemany("insert into t values (?)", [(i,) for i in range(100)])
    gradebook.copy_sqlite(src, dst)
    with sqlite3.connect(dst) as db:
        assert db.execute("select count(*), sum(x) from t").fetchone() == (100, 4950)


# --- one transaction per student -------------------------------------------------
# The cut is a trigger in the database itself: it aborts a write only once an
# earlier write of the same merge is in the database (so it cuts the merge midway).

_CUT_NEW_SQLITE = """
CREATE TRIGGER cut BEFORE INSERT ON grade
WHEN EXISTS (SELECT 1 FROM grade WHERE notebook_id = NEW.notebook_id)
BEGIN SELECT RAISE(ABORT, 'injected cut'); END
"""
# (an update of a merged student: the second score written to 0 is cut)
_CUT_UPDATE_SQLITE = """
CREATE TRIGGER cut BEFORE UPDATE OF auto_score ON grade
WHEN NEW.auto_score = 0 AND EXISTS (
    SELECT 1 FROM grade WHERE notebook_id = NEW.notebook_id AND id != NEW.id AND auto_score = 0)
BEGIN SELECT RAISE(ABORT, 'injected cut'); END
"""
_TABLES = ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")


def _graded_result(course):
    """A real result (student 'a' graded by the class command) and its description."""
    from nbgrader.api import Gradebook

    submit(course, "a", GOOD)
    assert run(course, workers=1)[0] == gc.EXIT_OK
    with Gradebook(f"sqlite:///{course}/gradebook.db", "fixture") as gb:
        return (
            gradebook.read_submission(gb, "one_neuron", "a"),
            gradebook.describe_submission(gb, "one_neuron", "a"),
        )


def _row_counts(db_file):
    with sqlite3.connect(db_file) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in _TABLES}


def _zeroed(data):
    out = copy.deepcopy(data)
    for nb in out["notebooks"].values():
        for g in nb["grades"].values():
            g["auto_score"] = 0.0
    return out


def test_a_merge_cut_midway_leaves_nothing_of_the_student(course):
    """A new student's merge fails at its second score (in the database): is nothing
    of the student left (no student, submission, notebook, grade or comment row),
    and does merging again in the same gradebook session record everything?"""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SQLAlchemyError

    data, described = _graded_result(course)
    db_file = course / "gradebook.db"
    before = _row_counts(db_file)
    with sqlite3.connect(db_file) as db:
        db.executescript(_CUT_NEW_SQLITE)
    with Gradebook(f"sqlite:///{db_file}", "fixture") as gb:
        with pytest.raises(SQLAlchemyError, match="injected cut"):
            gradebook.merge_submission(gb, "one_neuron", "zed", data)
        assert _row_counts(db_file) == before
        with pytest.raises(MissingEntry):
            gb.find_student("zed")
        with sqlite3.connect(db_file) as db:
            db.execute("DROP TRIGGER cut")
        gradebook.merge_submission(gb, "one_neuron", "zed", data)
        assert gradebook.describe_submission(gb, "one_neuron", "zed") == described
    assert before["student"] == 1 and before["grade"] == 2
    assert _row_counts(db_file) == {t: 2 * n for t, n in before.items()}  # a's rows and zed's


def test_an_update_cut_midway_keeps_the_previous_grades(course):
    """A merged student's new scores fail at the second one: are the previous scores
    and timestamp all kept (not half new), and do the new ones land on a re-run?"""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SQLAlchemyError

    data, described = _graded_result(course)
    db_file = course / "gradebook.db"
    new = _zeroed(data)
    new["timestamp"] = "2026-01-11T09:00:00"
    with sqlite3.connect(db_file) as db:
        db.executescript(_CUT_UPDATE_SQLITE)
    with Gradebook(f"sqlite:///{db_file}", "fixture") as gb:
        with pytest.raises(SQLAlchemyError, match="injected cut"):
            gradebook.merge_submission(gb, "one_neuron", "a", new)
        assert gradebook.describe_submission(gb, "one_neuron", "a") == described
        with sqlite3.connect(db_file) as db:
            db.execute("DROP TRIGGER cut")
        gradebook.merge_submission(gb, "one_neuron", "a", new)
        after = gradebook.describe_submission(gb, "one_neuron", "a")
    assert described["score"] == 3.0 and after["score"] == 0.0
    assert after["timestamp"] == "2026-01-11T09:00:00"


def test_a_result_naming_an_unknown_cell_is_refused_whole(course):
    """A result whose second score names a cell the gradebook does not have: is it
    refused by name, with nothing of the student written?"""
    from nbgrader.api import Gradebook

    data, _ = _graded_result(course)
    bad = copy.deepcopy(data)
    grades = bad["notebooks"]["one_neuron"]["grades"]
    grades["test_gone"] = dict(next(iter(grades.values())))
    db_file = course / "gradebook.db"
    before = _row_counts(db_file)
    with Gradebook(f"sqlite:///{db_file}", "fixture") as gb:
        with pytest.raises(gc.GradeClassError, match="zed: .*test_gone"):
            gradebook.merge_submission(gb, "one_neuron", "zed", bad)
    assert _row_counts(db_file) == before


@pytest.mark.services
def test_a_merge_cut_midway_on_postgresql_leaves_nothing(course):
    """The same cut on a real PostgreSQL server: nothing of the student, then all of it."""
    from nbgrader.api import Gradebook
    from services import postgres
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from autograder.classgrade import database

    data, described = _graded_result(course)
    with postgres() as pg:
        url = pg.create_database("cut")
        database.copy_gradebook(f"sqlite:///{course}/gradebook.db", url)
        with Gradebook(url, "fixture") as gb:

            def counts():
                return {
                    t: gb.db.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in _TABLES
                }

            before = counts()
            gb.db.execute(
                text(
                    "CREATE FUNCTION cut() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF EXISTS (SELECT 1 FROM grade WHERE notebook_id = NEW.notebook_id) THEN "
                    "RAISE EXCEPTION 'injected cut'; END IF; RETURN NEW; END $$"
                )
            )
            gb.db.execute(
                text(
                    "CREATE TRIGGER cut BEFORE INSERT ON grade FOR EACH ROW EXECUTE FUNCTION cut()"
                )
            )
            gb.db.commit()
            with pytest.raises(SQLAlchemyError, match="injected cut"):
                gradebook.merge_submission(gb, "one_neuron", "zed", data)
            assert counts() == before
            gb.db.execute(text("DROP TRIGGER cut ON grade"))
            gb.db.commit()
            gradebook.merge_submission(gb, "one_neuron", "zed", data)
            assert gradebook.describe_submission(gb, "one_neuron", "zed") == described
            assert counts()["submitted_assignment"] == before["submitted_assignment"] + 1
            assert counts()["grade"] == before["grade"] + 2
