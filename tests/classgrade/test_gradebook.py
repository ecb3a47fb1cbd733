"""Tests of the gradebook side (autograder.classgrade.gradebook)."""

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
