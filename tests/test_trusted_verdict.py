"""Trusted verdicts through real `nbgrader autograde` (in-process) on a copy of the course.

Also holds the helpers that test_feedback.py and test_tamper_verdicts.py share:
one course copy per test session (generate_assignment costs seconds), a
submission builder and an autograde call returning the scores.
"""

import inspect
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader_helpers import (
    ASSIGNMENT,
    RELEASE_NOTEBOOK,
    copy_course,
    generate_assignment,
    nbgrader_api,
)

from autograder.assignment import reference
from autograder.assignment.checks import CHECKS
from autograder.preprocessors.trusted_verdict import PASS_TEXT, TrustedVerdict
from autograder.sandbox.remote import StudentWorker
from fixtures import catalog

POINTS = dict(catalog.POINTS)
MAX_SCORE = sum(POINTS.values())
REFERENCE_ANSWERS = {
    "random_sample": inspect.getsource(reference.random_sample),
    "sigmoid": inspect.getsource(reference.sigmoid),
    "bce_loss": inspect.getsource(reference.BCELoss),
    "backprop": inspect.getsource(reference.backprop),
}
NAIVE_SIGMOID = "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n"

_COURSE = {}


def shared_course(tmp_path_factory):
    """A course copy with the assignment in its gradebook, made once per session."""
    if "path" not in _COURSE:
        course = copy_course(tmp_path_factory.mktemp("course"))
        generate_assignment(course)
        _COURSE["path"] = course
    return _COURSE["path"]


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def release_notebook():
    return nbformat.read(RELEASE_NOTEBOOK, as_version=4)


def submission(answers=None, base=None):
    """The release notebook with the given answer cells' sources replaced."""
    nb = release_notebook() if base is None else base
    for cell in nb.cells:
        if answers and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb


def autograde(course, student, nb):
    """Submit nb as student and autograde it; returns ({grade_id: score}, autograded nb)."""
    folder = Path(course) / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    result = nbgrader_api(course).autograde(ASSIGNMENT, student, force=True, create=True)
    assert result["success"], result.get("error", "") + result.get("log", "")
    return scores(course, student), nbformat.read(
        Path(course) / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4
    )


def scores(course, student):
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        return {grade.name: grade.auto_score for grade in notebook.grades}


def assignment_max_score(course):
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        return gb.find_assignment(ASSIGNMENT).max_score


def graded_perfect(course):
    """Scores and autograded notebook of the reference solution (graded once)."""
    if "perfect" not in _COURSE:
        _COURSE["perfect"] = autograde(course, "perfect", submission(REFERENCE_ANSWERS))
    return _COURSE["perfect"]


def graded_naive(course):
    """Scores and autograded notebook of the naive-sigmoid submission (graded once)."""
    if "naive" not in _COURSE:
        answers = dict(REFERENCE_ANSWERS, sigmoid=NAIVE_SIGMOID)
        _COURSE["naive"] = autograde(course, "naive", submission(answers))
    return _COURSE["naive"]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return shared_course(tmp_path_factory)


def test_gradebook_and_checks_agree_on_graded_cells(course):
    """Does every graded cell of the gradebook have a check, with the design's points?"""
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        graded = {
            cell.name: cell.max_score
            for cell in gb.find_notebook(ASSIGNMENT, ASSIGNMENT).grade_cells
        }
    assert graded == POINTS
    assert set(CHECKS) == set(POINTS)


def test_perfect_submission_gets_full_marks(course):
    """Does the reference solution get every point, each cell saying that it passed?"""
    got, graded_nb = graded_perfect(course)
    assert got == POINTS
    for cell in graded_nb.cells:
        if grade_id(cell) in POINTS:
            assert [(o.output_type, o.get("text")) for o in cell.outputs] == [("stream", PASS_TEXT)]


def test_untouched_release_gets_zero_in_every_graded_cell(course):
    """Does the release as handed out (stubs raising NotImplementedError) score 0 everywhere?"""
    got, graded_nb = autograde(course, "untouched", release_notebook())
    assert got == {name: 0.0 for name in POINTS}
    messages = [cell.outputs[0].evalue for cell in graded_nb.cells if grade_id(cell) in POINTS]
    assert all("NotImplementedError" in message for message in messages), messages


def test_naive_sigmoid_loses_only_the_stability_cell(course):
    """Does an overflowing 1 / (1 + exp(-x)) lose exactly test_sigmoid_stability?"""
    got, graded_nb = graded_naive(course)
    assert got == dict(POINTS, test_sigmoid_stability=0.0)
    (cell,) = [c for c in graded_nb.cells if grade_id(c) == "test_sigmoid_stability"]
    (output,) = cell.outputs
    assert output.output_type == "error" and output.ename == "AssertionError"
    assert "RuntimeWarning: overflow encountered in exp" in output.evalue
    assert output.traceback == [f"AssertionError: {output.evalue}"]


# Every 8th entry of the catalog, own cells only (the full catalog, final
# accuracy included, takes about two minutes through the worker: 80 of 80 agree).
CATALOG_SAMPLE = catalog.ENTRIES[::8]
ANSWER_ORDER = ("random_sample", "sigmoid", "BCELoss", "backprop")
REFERENCE_BY_FUNCTION = {
    "random_sample": reference.random_sample,
    "sigmoid": reference.sigmoid,
    "BCELoss": reference.BCELoss,
    "backprop": reference.backprop,
}


@pytest.mark.parametrize("entry", CATALOG_SAMPLE, ids=lambda entry: entry.name)
def test_catalog_entries_get_the_same_verdicts_through_the_worker(entry):
    """Do proxies of the sandboxed worker give each check the verdict the catalog expects?"""
    sources = {name: inspect.getsource(REFERENCE_BY_FUNCTION[name]) for name in ANSWER_ORDER}
    sources[entry.function] = entry.code
    expected = entry.expected_points()
    verdict = TrustedVerdict(call_timeout=10, check_timeout=60)
    with StudentWorker(call_timeout=10) as worker:
        worker.load([(catalog.ANSWER_CELLS[name], sources[name]) for name in ANSWER_ORDER])
        for cell in catalog.OWN_CELLS[entry.function]:
            check, arg_names = CHECKS[cell]
            failure = verdict.run_check(worker, check, arg_names)
            assert (failure is None) == (expected[cell] > 0), (cell, failure)
