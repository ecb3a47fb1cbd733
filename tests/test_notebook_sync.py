"""Is the master notebook in sync with the reference and the design?"""

import ast
import importlib.util
import inspect

import nbformat
import pytest
from nbgrader_helpers import ROOT, SOURCE_NOTEBOOK

from autograder.assignment import checks, reference

# The student contract of docs/design.md.
ANSWER_FUNCTIONS = {
    "random_sample": reference.random_sample,
    "sigmoid": reference.sigmoid,
    "bce_loss": reference.BCELoss,
    "backprop": reference.backprop,
}
TEST_POINTS = {
    "test_random_sample": 2,
    "test_sigmoid_values": 1.5,
    "test_sigmoid_stability": 0.5,
    "test_bce_loss": 2,
    "test_backprop": 3,
    "test_final_accuracy": 1,
}
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


@pytest.fixture(scope="module")
def master():
    return nbformat.read(SOURCE_NOTEBOOK, as_version=4)


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def cell_by_grade_id(nb, grade_id):
    found = [cell for cell in nb.cells if nbgrader_meta(cell).get("grade_id") == grade_id]
    assert len(found) == 1, f"{len(found)} cells with grade_id {grade_id!r}"
    return found[0]


def reference_source(obj):
    return inspect.getsource(obj).rstrip("\n")


@pytest.mark.parametrize("grade_id", sorted(ANSWER_FUNCTIONS))
def test_solution_is_reference_source(master, grade_id):
    """Is the solution cell exactly the reference function, with one solution region?"""
    source = cell_by_grade_id(master, grade_id).source
    lines = source.split("\n")
    for marker in SOLUTION_MARKERS:
        assert [line.strip() for line in lines].count(marker) == 1, marker
    without_markers = "\n".join(line for line in lines if line.strip() not in SOLUTION_MARKERS)
    assert without_markers == reference_source(ANSWER_FUNCTIONS[grade_id])


@pytest.mark.parametrize("grade_id", sorted(ANSWER_FUNCTIONS))
def test_signature_and_docstring_stay_outside_solution(master, grade_id):
    """Does the release keep the def line and the docstring (solution region = body only)?"""
    source = cell_by_grade_id(master, grade_id).source
    before_solution = source.split(SOLUTION_MARKERS[0])[0]
    function = ANSWER_FUNCTIONS[grade_id]
    assert inspect.getsource(function).split("\n")[0] in before_solution
    assert inspect.getdoc(function).split("\n")[0] in before_solution


def test_net_cell_is_reference_net(master):
    """Is the given read-only Net cell the reference Net?"""
    cell = cell_by_grade_id(master, "net")
    assert cell.cell_type == "code"
    assert cell.source == reference_source(reference.Net)
    assert nbgrader_meta(cell)["locked"] and not nbgrader_meta(cell)["solution"]


def test_exactly_the_four_answer_cells(master):
    """Are there exactly the four autograded answer cells (unlocked code, no points)?"""
    answers = {
        nbgrader_meta(cell)["grade_id"]: cell
        for cell in master.cells
        if nbgrader_meta(cell).get("solution")
    }
    assert set(answers) == set(ANSWER_FUNCTIONS)
    for cell in answers.values():
        meta = nbgrader_meta(cell)
        assert cell.cell_type == "code"
        assert not meta["grade"] and not meta["locked"] and "points" not in meta


def test_graded_cells_and_points(master):
    """Are the graded cells exactly the design's six test cells, locked, with its points?"""
    graded = {
        nbgrader_meta(cell)["grade_id"]: cell
        for cell in master.cells
        if nbgrader_meta(cell).get("grade")
    }
    assert {gid: nbgrader_meta(cell)["points"] for gid, cell in graded.items()} == TEST_POINTS
    for cell in graded.values():
        assert cell.cell_type == "code"
        assert nbgrader_meta(cell)["locked"] and not nbgrader_meta(cell)["solution"]
    assert sum(TEST_POINTS.values()) == 10


def _hidden_part(source):
    assert source.count(HIDDEN_BEGIN) == 1 and source.count(HIDDEN_END) == 1
    visible, rest = source.split(HIDDEN_BEGIN)
    hidden, after = rest.split(HIDDEN_END)
    assert after.strip() == "", "nothing may follow the hidden tests"
    return visible, hidden


@pytest.mark.parametrize("grade_id", sorted(TEST_POINTS))
def test_hidden_part_calls_the_check_of_checks_map(master, grade_id):
    """Does the hidden part import and call exactly the check CHECKS names, with the student functions?"""
    visible, hidden = _hidden_part(cell_by_grade_id(master, grade_id).source)
    check, argument_names = checks.CHECKS[grade_id]
    statements = ast.parse(hidden).body
    assert len(statements) == 2
    imported, called = statements
    assert (
        isinstance(imported, ast.ImportFrom) and imported.module == "autograder.assignment.checks"
    )
    assert [alias.name for alias in imported.names] == [check.__name__]
    call = called.value
    assert isinstance(call, ast.Call) and call.func.id == check.__name__
    passed = [arg.id for arg in call.args] + [kw.value.id for kw in call.keywords]
    assert passed == argument_names
    assert all(kw.arg == kw.value.id for kw in call.keywords)
    assert "autograder" not in visible


def test_test_cells_follow_their_answers(master):
    """Does each function's test cell come after its answer cell (and the Net cell after sigmoid)?"""
    order = [nbgrader_meta(cell).get("grade_id") for cell in master.cells]
    pairs = [
        ("random_sample", "test_random_sample"),
        ("sigmoid", "test_sigmoid_values"),
        ("sigmoid", "test_sigmoid_stability"),
        ("sigmoid", "net"),
        ("bce_loss", "test_bce_loss"),
        ("backprop", "test_backprop"),
        ("backprop", "test_final_accuracy"),
    ]
    for first, second in pairs:
        assert order.index(first) < order.index(second), (first, second)


def test_every_other_cell_is_locked(master):
    """Is every cell except the four answers locked (read-only)?"""
    unlocked = [
        nbgrader_meta(cell).get("grade_id", cell.source[:40])
        for cell in master.cells
        if not nbgrader_meta(cell).get("solution") and not nbgrader_meta(cell).get("locked")
    ]
    assert unlocked == []


def test_grade_ids_unique(master):
    """Does every cell have a grade_id, each used once?"""
    grade_ids = [nbgrader_meta(cell).get("grade_id") for cell in master.cells]
    assert None not in grade_ids
    assert len(grade_ids) == len(set(grade_ids))


def test_master_saved_without_outputs(master):
    """Is the master committed with outputs cleared?"""
    for cell in master.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id


def test_build_script_reproduces_master():
    """Does tools/build_master.py write exactly the committed master?"""
    spec = importlib.util.spec_from_file_location(
        "build_master", ROOT / "tools" / "build_master.py"
    )
    build_master = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_master)
    assert build_master.render() == SOURCE_NOTEBOOK.read_text(encoding="utf-8")


def test_training_cell_uses_reference_settings(master):
    """Do the training cell's settings agree with the reference (steps, rate, start)?"""
    source = cell_by_grade_id(master, "train").source
    assert f"N_STEPS = {reference.N_STEPS!r}" in source
    assert f"LEARNING_RATE = {reference.LEARNING_RATE!r}" in source
    assert f"Net(w={reference.INITIAL_W!r}, b={reference.INITIAL_B!r})" in source
    assert "backprop(net, X_train, y_train, lr=LEARNING_RATE)" in source
    text = cell_by_grade_id(master, "training_intro").source
    assert f"{reference.N_STEPS} шагов" in text
