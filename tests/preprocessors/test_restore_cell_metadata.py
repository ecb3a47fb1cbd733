"""RestoreCellMetadata: every cell's nbgrader flags and points come from the gradebook."""

import copy
from pathlib import Path

import pytest
from integration.graded_course import POINTS, grade_id, release_notebook, shared_course
from nbformat.v4 import new_code_cell
from nbgrader_helpers import ASSIGNMENT

from autograder.preprocessors.restore_cell_metadata import RestoreCellMetadata


@pytest.fixture(scope="module")
def resources(tmp_path_factory):
    course = shared_course(tmp_path_factory)
    return {
        "nbgrader": {
            "db_url": f"sqlite:///{Path(course) / 'gradebook.db'}",
            "notebook": ASSIGNMENT,
            "assignment": ASSIGNMENT,
        }
    }


def _restored(nb, resources):
    nb, _ = RestoreCellMetadata().preprocess(nb, copy.deepcopy(resources))
    return nb


def test_points_and_flags_are_the_gradebooks(resources):
    """Are edited points and a graded flag on an answer cell put back as the gradebook has them?"""
    nb = release_notebook()
    for cell in nb.cells:
        if grade_id(cell) == "test_backprop":
            cell.metadata.nbgrader["points"] = 1000
        if grade_id(cell) == "sigmoid":
            cell.metadata.nbgrader.update(grade=True, points=100, locked=True)
    nb = _restored(nb, resources)
    cells = {grade_id(c): c.metadata.nbgrader for c in nb.cells if grade_id(c)}
    assert {name: cells[name]["points"] for name in POINTS} == POINTS
    assert cells["sigmoid"]["grade"] is False and "points" not in cells["sigmoid"]
    assert cells["sigmoid"]["solution"] is True and cells["sigmoid"]["locked"] is False


def test_unknown_and_repeated_grade_ids_lose_their_metadata(resources):
    """Does an invented graded cell, and the earlier copy of a duplicated one, lose nbgrader metadata?"""
    nb = release_notebook()
    (index,) = [i for i, c in enumerate(nb.cells) if grade_id(c) == "test_bce_loss"]
    twin = copy.deepcopy(nb.cells[index])
    nb.cells.insert(index, twin)
    bonus = new_code_cell("print('бонус')")
    bonus.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus", "points": 5}
    nb.cells.append(bonus)
    nb = _restored(nb, resources)
    assert "nbgrader" not in nb.cells[index].metadata
    assert grade_id(nb.cells[index + 1]) == "test_bce_loss"
    assert "nbgrader" not in nb.cells[-1].metadata


def test_deleted_graded_cells_are_put_back_in_the_masters_order(resources):
    """Do deleted test cells come back, each after the cell that precedes it in the master?"""
    original = [grade_id(c) for c in release_notebook().cells if grade_id(c)]
    nb = release_notebook()
    nb.cells = [c for c in nb.cells if grade_id(c) not in POINTS]
    nb = _restored(nb, resources)
    assert [grade_id(c) for c in nb.cells if grade_id(c)] == original
