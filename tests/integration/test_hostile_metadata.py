"""Notebooks whose nbgrader metadata nbgrader cannot take (issue 13, item 3): each is
refused on its own, with its reason, under plain `nbgrader autograde` and under the
class command, and the honest student of the same class keeps 10/10.

Before: schema_version 99 or 1 made nbgrader raise NbGraderException and stop the
run, so every student after it (in sorted order) stayed ungraded."""

import json

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps.autogradeapp import AutogradeApp
from nbgrader_helpers import ASSIGNMENT, copy_course, generate_assignment

import autograder.classgrade as gc
from autograder.assignment import contract
from autograder.preprocessors.check_nbgrader_metadata import notebook_metadata_problem
from fixtures import samples

NB = f"{ASSIGNMENT}.ipynb"
FULL = sum(contract.POINTS.values())
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def _perfect():
    return json.loads(nbformat.writes(samples.perfect(samples.read_release())))


def _graded_cell(nb):
    """The first graded test cell (its metadata is what nbgrader validates)."""
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))


def _tampered(change):
    nb = _perfect()
    change(nb, _graded_cell(nb))
    return nb


def _set(key, value):
    return lambda nb, cell: cell["metadata"]["nbgrader"].__setitem__(key, value)


# Names sort so that every hostile student comes BEFORE "zz_honest": a run that
# stops at one of them leaves the honest student ungraded.
HOSTILE = {
    "a_schema_99": (_set("schema_version", 99), "schema_version 99"),
    "b_schema_1": (_set("schema_version", 1), "schema_version 1"),
    "c_schema_text": (_set("schema_version", "3"), "schema_version '3'"),
    "d_schema_true": (_set("schema_version", True), "schema_version True"),
    "e_nbgrader_list": (
        lambda nb, cell: cell["metadata"].__setitem__("nbgrader", [1, 2]),
        "nbgrader metadata of type list",
    ),
    "f_metadata_text": (
        lambda nb, cell: cell.__setitem__("metadata", "x"),
        "metadata of type str",
    ),
    "g_points_text": (_set("points", "many"), "invalid nbgrader metadata at points"),
    "h_grade_id_number": (_set("grade_id", 7), "invalid nbgrader metadata at grade_id"),
}
HONEST = "zz_honest"
# nbformat itself cannot read these (nbgrader fails them one by one before any
# preprocessor): the class command's pre-check still names the problem.
NBFORMAT_REFUSES = {"f_metadata_text"}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("hostile_metadata"))
    generate_assignment(course)
    students = {HONEST: _perfect()}
    students.update({sid: _tampered(change) for sid, (change, _) in HOSTILE.items()})
    for sid, nb in students.items():
        folder = course / "submitted" / sid / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / NB).write_text(json.dumps(nb))
    return course


def _score(course, student):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        try:
            return gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student).score
        except MissingEntry:
            return None


@pytest.mark.parametrize("student", sorted(HOSTILE))
def test_each_problem_is_named(student):
    change, reason = HOSTILE[student]
    assert reason in notebook_metadata_problem(_tampered(change))
    assert notebook_metadata_problem(_perfect()) == ""


@pytest.mark.slow
def test_plain_autograde_refuses_each_and_grades_the_honest(course, capfd):
    with pytest.raises(gc.GradeClassError):  # nbgrader exits non-zero: some submissions failed
        gc.run_nbgrader_app(AutogradeApp, course, [ASSIGNMENT, "--create"])
    log = capfd.readouterr().err
    assert _score(course, HONEST) == FULL
    for student, (_, reason) in HOSTILE.items():
        assert _score(course, student) in (None, 0), student
        assert not (course / "autograded" / student).exists(), student
        assert f"for student '{student}'" in log, student  # nbgrader's per-submission error
        if student not in NBFORMAT_REFUSES:
            assert f"invalid notebook ({student}/{ASSIGNMENT}): cell " in log, student
            assert reason in log, student
    # nbgrader's own abort message never appears: the run went through the class.
    assert "newer version" not in log and "old version" not in log


@pytest.mark.slow
def test_class_command_reports_invalid_notebook_with_the_reason(course):
    code, results = gc.grade_class(
        ASSIGNMENT, course_dir=course, workers=2, timeout=300, report=False, log=lambda *a: None
    )
    by_id = {r.student_id: r for r in results}
    assert code == gc.EXIT_ATTENTION
    assert by_id[HONEST].status == gc.GRADED and by_id[HONEST].score == FULL
    for student, (_, reason) in HOSTILE.items():
        assert by_id[student].status == gc.INVALID, (student, by_id[student].detail)
        assert reason in by_id[student].detail, (student, by_id[student].detail)
