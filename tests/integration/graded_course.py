"""A course copy graded through real `nbgrader autograde` (in-process), shared by the
trusted-verdict, feedback and integration tests: one course copy per test session
(generate_assignment costs seconds), a submission builder and an autograde call
returning the scores."""

import inspect
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader_helpers import (
    ASSIGNMENT,
    RELEASE_NOTEBOOK,
    copy_course,
    generate_assignment,
    nbgrader_api,
)

from autograder.assignment import contract, reference

POINTS = dict(contract.POINTS)
MAX_SCORE = sum(POINTS.values())
REFERENCE_ANSWERS = {
    cell.grade_id: inspect.getsource(getattr(reference, cell.function))
    for cell in contract.ANSWER_CELLS
}
# exp(x) / (1 + exp(x)): right for moderate x, inf / inf = nan for x > 709 (unstable).
UNSTABLE_SIGMOID = "def sigmoid(x):\n    e = np.exp(x)\n    return e / (1 + e)\n"

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


def graded_unstable(course):
    """Scores and autograded notebook of the unstable-sigmoid submission (graded once)."""
    if "unstable" not in _COURSE:
        answers = dict(REFERENCE_ANSWERS, sigmoid=UNSTABLE_SIGMOID)
        _COURSE["unstable"] = autograde(course, "unstable", submission(answers))
    return _COURSE["unstable"]
