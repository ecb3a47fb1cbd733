"""Submissions with symlinks are refused (autograder.preprocessors.reject_symlinks).

nbgrader reads and copies a submission as the grader and follows symlinks, so
a notebook symlinked to the master would get the master's marks and a file
symlinked to gradebook.db would be copied into autograded/ and feedback/. Both
plain ``nbgrader autograde`` (sanitize step ``RejectSymlinks``) and the class
command (its pre-check) refuse such a submission and grade the others.
"""

import hashlib
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from integration.graded_course import (
    MAX_SCORE,
    POINTS,
    REFERENCE_ANSWERS,
    shared_course,
    submission,
)
from nbgrader.api import Gradebook
from nbgrader_helpers import ASSIGNMENT, nbgrader_api

import autograder.classgrade as gc

NB = f"{ASSIGNMENT}.ipynb"
EVIL = ("evil_nb", "evil_db", "evil_dir")
# Text of the master that no student-side file may contain.
MASTER_MARKERS = (b"BEGIN SOLUTION", b"BEGIN HIDDEN TESTS", b"check_sigmoid_values(sigmoid)")


@pytest.fixture
def course(tmp_path_factory, tmp_path):
    """A fresh copy of the generated course with one honest and three symlink submissions:

    * evil_nb: the notebook is a symlink to the master (absolute path);
    * evil_db: the release notebook plus ``data.db`` -> ``../../../gradebook.db``;
    * evil_dir: ``submitted/evil_dir/one_neuron`` -> ``../../source/one_neuron``.
    """
    root = tmp_path / "course"
    shutil.copytree(
        shared_course(tmp_path_factory),
        root,
        symlinks=True,
        ignore=shutil.ignore_patterns("submitted", "autograded", "feedback"),
    )
    sub = root / "submitted"
    honest = sub / "honest" / ASSIGNMENT
    honest.mkdir(parents=True)
    nbformat.write(submission(REFERENCE_ANSWERS), honest / NB)
    (sub / "evil_nb" / ASSIGNMENT).mkdir(parents=True)
    os.symlink(root / "source" / ASSIGNMENT / NB, sub / "evil_nb" / ASSIGNMENT / NB)
    (sub / "evil_db" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(submission(), sub / "evil_db" / ASSIGNMENT / NB)
    os.symlink(
        os.path.join("..", "..", "..", "gradebook.db"), sub / "evil_db" / ASSIGNMENT / "data.db"
    )
    (sub / "evil_dir").mkdir()
    os.symlink(os.path.join("..", "..", "source", ASSIGNMENT), sub / "evil_dir" / ASSIGNMENT)
    assert (sub / "evil_db" / ASSIGNMENT / "data.db").read_bytes().startswith(b"SQLite format 3")
    assert (sub / "evil_dir" / ASSIGNMENT / NB).is_file()
    return root


def tree_digest(path):
    """Hash of names, modes, mtimes, contents and symlink targets under path (no link followed)."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path, followlinks=False):
        dirs.sort()
        for name in sorted(dirs + files):
            p = os.path.join(root, name)
            h.update(os.path.relpath(p, path).encode() + b"\0")
            st = os.lstat(p)
            h.update(f"{st.st_mode}:{st.st_mtime_ns}".encode())
            if os.path.islink(p):
                h.update(b"L" + os.readlink(p).encode())
            elif os.path.isfile(p):
                h.update(b"F" + Path(p).read_bytes())
    return h.hexdigest()


def files_under(path):
    return [p for p in Path(path).rglob("*") if p.is_file() or p.is_symlink()]


def assert_nothing_leaked(course, student):
    """No file at all for the student in autograded/ or feedback/; no gradebook bytes in
    any file there, no master text in any feedback (autograded notebooks of graded
    students do hold the restored hidden tests: grader side, by design)."""
    for step in ("autograded", "feedback"):
        assert files_under(course / step / student) == [], (step, student)
        for p in files_under(course / step):
            data = p.read_bytes()
            assert not data.startswith(b"SQLite format 3"), p
            if step == "feedback":
                for marker in MASTER_MARKERS:
                    assert marker not in data, (p, marker)


def gradebook(course):
    """{student: (score, {grade cell: auto_score})} of every submission in the gradebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {
            s.student.id: (s.score, {g.name: g.auto_score for nb in s.notebooks for g in nb.grades})
            for s in gb.assignment_submissions(ASSIGNMENT)
        }


def test_class_precheck_names_the_symlink_and_reads_nothing(course):
    sub = course / "submitted"
    for student, name in [
        ("evil_nb", f"evil_nb/{ASSIGNMENT}/{NB}"),
        ("evil_db", f"evil_db/{ASSIGNMENT}/data.db"),
        ("evil_dir", f"evil_dir/{ASSIGNMENT}"),
    ]:
        status, detail = gc.check_submission(sub / student / ASSIGNMENT, [ASSIGNMENT])
        assert status == gc.INVALID
        assert f"{name} (symlink)" in detail and "symlinks are not allowed" in detail
    assert gc.check_submission(sub / "honest" / ASSIGNMENT, [ASSIGNMENT]) == (None, "")


# --- plain nbgrader autograde / generate_feedback (in-process API) ---------------


def test_plain_autograde_refuses_symlinks_and_grades_the_others(course):
    before = tree_digest(course / "submitted")
    api = nbgrader_api(course)
    result = api.autograde(ASSIGNMENT, "*", force=True, create=True)
    log = result.get("log", "")
    assert not result["success"]  # nbgrader reports the refused students...
    for name in (
        f"evil_nb/{ASSIGNMENT}/{NB} (symlink)",
        f"evil_db/{ASSIGNMENT}/data.db (symlink)",
        f"evil_dir/{ASSIGNMENT} (symlink)",
    ):
        assert name in log
    for student in EVIL:
        assert f"for student '{student}'" in log
    feedback = api.generate_feedback(ASSIGNMENT, "*", force=True)
    assert feedback["success"], feedback.get("error", "") + feedback.get("log", "")

    grades = gradebook(course)  # ...and goes on with the others
    assert grades["honest"] == (MAX_SCORE, POINTS)
    assert (course / "feedback" / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()
    for student in EVIL:
        score, cells = grades[student]
        assert score == 0 and set(cells.values()) == {None}, (student, grades[student])
        assert_nothing_leaked(course, student)
    assert tree_digest(course / "submitted") == before


def test_plain_autograde_of_one_notebook_leaves_no_copy_of_the_link(course):
    """With --notebook nbgrader keeps the folder of a failed submission (it removes only
    the notebook): the copy it made of data.db is removed by RejectSymlinks itself."""
    before = tree_digest(course / "submitted")
    api = nbgrader_api(course)
    api.coursedir.notebook_id = ASSIGNMENT
    result = api.autograde(ASSIGNMENT, "evil_db", force=True, create=True)
    assert not result["success"]
    assert "data.db (symlink)" in result.get("log", "")
    assert_nothing_leaked(course, "evil_db")
    assert tree_digest(course / "submitted") == before


# --- the class command -----------------------------------------------------------


@pytest.mark.slow
def test_class_command_refuses_symlinks_and_grades_the_others(course):
    before = tree_digest(course / "submitted")
    code, results = gc.grade_class(
        ASSIGNMENT, course_dir=course, workers=2, timeout=120, report=False, log=lambda *a: None
    )
    by_id = {r.student_id: r for r in results}
    assert code == gc.EXIT_ATTENTION
    assert by_id["honest"].status == gc.GRADED
    assert by_id["honest"].score == MAX_SCORE
    assert (course / "feedback" / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()
    for student in EVIL:
        assert by_id[student].status == gc.INVALID
        assert "symlink" in by_id[student].detail and student in by_id[student].detail
        assert by_id[student].score is None
        assert_nothing_leaked(course, student)
    # No submission of the refused students (the shared course's gradebook may hold
    # students of other test modules).
    assert set(EVIL).isdisjoint(gradebook(course)) and "honest" in gradebook(course)
    assert tree_digest(course / "submitted") == before
