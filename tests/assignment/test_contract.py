"""The contract module against the master notebook's nbgrader metadata.

The master notebook (source/) is the truth that instructors edit in JupyterLab;
``autograder.assignment.contract`` restates its answer cells, graded cells and
points for the code. These tests hold the two to each other, so an edit of one
without the other fails here with the difference.
"""

import ast
import inspect

import nbformat
import pytest
from nbgrader_helpers import SOURCE_NOTEBOOK

from autograder.assignment import checks, contract, reference


@pytest.fixture(scope="module")
def master():
    return nbformat.read(str(SOURCE_NOTEBOOK), as_version=4)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _defined_names(source: str) -> set[str]:
    """Top-level functions and classes a cell defines (the cell must parse)."""
    tree = ast.parse(source)
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
    }


def test_notebook_name_is_the_contracts():
    assert SOURCE_NOTEBOOK.parent.name == contract.ASSIGNMENT
    assert SOURCE_NOTEBOOK.stem == contract.NOTEBOOK


def test_answer_cells_in_notebook_order_define_their_function(master):
    """Solution cells, in order, are the contract's answer cells, each defining its function."""
    solutions = [c for c in master.cells if _nbgrader(c).get("solution")]
    assert [_nbgrader(c)["grade_id"] for c in solutions] == list(contract.ANSWER_IDS)
    for cell, answer in zip(solutions, contract.ANSWER_CELLS):
        assert cell.cell_type == "code", answer.grade_id
        assert answer.function in _defined_names(cell.source), (
            f"answer cell {answer.grade_id} does not define {answer.function}"
        )
        assert not _nbgrader(cell).get("grade"), f"{answer.grade_id} is a graded answer cell"


def test_graded_cells_and_points_match_metadata(master):
    """Graded cells in notebook order with the contract's points; nothing else is graded."""
    graded = {
        _nbgrader(c)["grade_id"]: float(_nbgrader(c)["points"])
        for c in master.cells
        if _nbgrader(c).get("grade")
    }
    assert list(graded) == [cell.grade_id for cell in contract.GRADED_CELLS]
    assert graded == contract.POINTS
    assert sum(graded.values()) == contract.TOTAL_POINTS


def test_hidden_part_calls_the_contracts_check_with_its_functions(master):
    """The hidden tests of each graded cell call the contract's check on the contract's functions."""
    for cell in master.cells:
        meta = _nbgrader(cell)
        if not meta.get("grade"):
            continue
        spec = contract.GRADED[meta["grade_id"]]
        hidden = cell.source.split("### BEGIN HIDDEN TESTS", 1)
        assert len(hidden) == 2, f"{spec.grade_id} has no hidden tests"
        calls = [
            node
            for node in ast.walk(ast.parse(hidden[1].split("### END HIDDEN TESTS")[0]))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == spec.check
        ]
        assert len(calls) == 1, f"{spec.grade_id} must call {spec.check} once"
        passed = [arg.id for arg in calls[0].args] + [kw.arg for kw in calls[0].keywords]
        assert sorted(passed) == sorted(spec.functions), spec.grade_id


def test_checks_exist_and_take_the_contracts_functions():
    """Every graded cell names a check whose parameters are the functions it judges."""
    for spec in contract.GRADED_CELLS:
        check = getattr(checks, spec.check)
        assert list(inspect.signature(check).parameters) == list(spec.functions), spec.check
        assert checks.CHECKS[spec.grade_id] == (check, list(spec.functions))


def test_given_definitions_are_read_only_cells_of_the_notebook(master):
    """Definitions the grader supplies come from locked, ungraded cells that define them."""
    by_id = {_nbgrader(c).get("grade_id"): c for c in master.cells}
    for grade_id, name in contract.GIVEN_DEFINITIONS.items():
        cell = by_id[grade_id]
        assert _nbgrader(cell).get("locked") and not _nbgrader(cell).get("solution"), grade_id
        assert name in _defined_names(cell.source), f"{grade_id} does not define {name}"
        assert hasattr(reference, name), f"the reference lacks {name}"


def test_every_function_is_judged_by_its_own_cell():
    """Each answer's function has a cell of its own (so a mistake can lose points)."""
    for function in contract.FUNCTIONS:
        assert contract.OWN_CELLS[function], function
