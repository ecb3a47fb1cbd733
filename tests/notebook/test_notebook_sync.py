"""Is the master notebook (the truth) consistent with the reference, the contract and itself?"""

import ast
import re
import shutil

import nbformat
import pytest
from nbgrader_helpers import ROOT, SOURCE_NOTEBOOK, course_config

from autograder.assignment import checks, contract, reference

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_BEGIN = "### BEGIN SOLUTION"
REFERENCE_PY = ROOT / "autograder" / "assignment" / "reference.py"
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def cell_by_grade_id(nb, grade_id):
    found = [cell for cell in nb.cells if nbgrader_meta(cell).get("grade_id") == grade_id]
    assert len(found) == 1, f"{len(found)} cells with grade_id {grade_id!r}"
    return found[0]


def edited_copy(tmp_path, master, grade_id, old, new):
    """A copy of the master whose cell grade_id has old replaced by new."""
    cell = cell_by_grade_id(master, grade_id)
    assert old in cell.source, (grade_id, old)
    cell.source = cell.source.replace(old, new)
    path = tmp_path / SOURCE_NOTEBOOK.name
    nbformat.write(master, str(path))
    return path


# --------------------------------------------------------------------------- reference
def test_reference_is_in_sync(sync_reference):
    """Does reference.py define exactly what the master's answer and given cells define?"""
    diffs = sync_reference.drift()
    assert diffs == [], "run python tools/sync_reference.py:\n" + "\n".join(diffs)


def test_compared_definitions_cover_the_contract(sync_reference, master):
    """Are every answer function and given definition of the contract among the compared?"""
    compared = {
        nb_def.name for (_, nb_def), _ in sync_reference._pairs(master, REFERENCE_PY.read_text())
    }
    assert set(contract.FUNCTIONS) | set(contract.GIVEN_DEFINITIONS.values()) <= compared
    # The given helpers the checks also use are compared too.
    assert {"target", "accuracy"} <= compared


def test_drifted_solution_fails_showing_the_diff(sync_reference, master, tmp_path):
    """Does a changed solution line fail with a unified diff, and does sync copy it over?"""
    drifted = edited_copy(tmp_path, master, "backprop", "np.mean(error * x)", "np.sum(error * x)")
    diffs = sync_reference.drift(drifted, REFERENCE_PY)
    assert len(diffs) == 1
    diff = diffs[0]
    assert diff.startswith("---") and "(backprop)" in diff.split("\n")[0]
    assert "-    net.w -= lr * np.mean(error * x)" in diff.split("\n")
    assert "+    net.w -= lr * np.sum(error * x)" in diff.split("\n")

    copied = tmp_path / "reference.py"
    shutil.copy2(REFERENCE_PY, copied)
    assert sync_reference.sync(drifted, copied) == ["backprop"]
    assert sync_reference.drift(drifted, copied) == []
    tree = ast.parse(copied.read_text())
    assert "np.sum(error * x)" in ast.unparse(
        next(n for n in tree.body if getattr(n, "name", "") == "backprop")
    )
    # Everything else of reference.py is untouched.
    before = ast.parse(REFERENCE_PY.read_text())
    assert [ast.dump(n) for n in before.body if getattr(n, "name", "") != "backprop"] == [
        ast.dump(n) for n in tree.body if getattr(n, "name", "") != "backprop"
    ]


def test_drifted_given_net_cell_fails(sync_reference, master, tmp_path):
    """Is the given Net cell compared with reference.Net?"""
    drifted = edited_copy(tmp_path, master, "net", "self.b = b", "self.b = -b")
    (diff,) = sync_reference.drift(drifted, REFERENCE_PY)
    assert "(Net)" in diff.split("\n")[0] and "+        self.b = -b" in diff.split("\n")


def test_layout_and_comments_are_not_drift(sync_reference, master, tmp_path):
    """Do a comment, a blank line and re-indented docstring lines leave the sync green?"""
    cell = cell_by_grade_id(master, "sigmoid")
    lines = cell.source.split("\n")
    at = next(i for i, line in enumerate(lines) if SOLUTION_BEGIN in line)
    lines[at + 1 : at + 1] = ["    # a comment of the instructor", ""]
    cell.source = "\n".join(lines)
    path = tmp_path / SOURCE_NOTEBOOK.name
    nbformat.write(master, str(path))
    assert sync_reference.drift(path, REFERENCE_PY) == []


def test_check_mode_exits_1_with_the_diff(sync_reference, master, tmp_path, capsys):
    """Does `sync_reference.py --check` exit 1 and print the diff on drift, 0 when in sync?"""
    assert sync_reference.main(["--check"]) == 0
    drifted = edited_copy(tmp_path, master, "sigmoid", "positive = x >= 0", "positive = x > 0")
    assert sync_reference.main(["--check", "--master", str(drifted)]) == 1
    out = capsys.readouterr().out
    assert "-    positive = x >= 0" in out and "+    positive = x > 0" in out


# --------------------------------------------------------------------------- points
def test_prose_points_agree_with_metadata_and_contract(check_master, master):
    """Does every points statement of the text equal the graded cells' metadata and the contract?"""
    assert check_master.points_problems(master) == []


@pytest.mark.parametrize(
    ("grade_id", "old", "new"),
    [
        ("loss", "`BCELoss` (2 балла)", "`BCELoss` (3 балла)"),
        ("intro", "Всего 10 баллов", "Всего 9 баллов"),
        ("intro", "(1.5) и устойчивость", "(1) и устойчивость"),
        ("intro", "| один шаг градиентного спуска | 3 |", "| один шаг градиентного спуска | 4 |"),
        ("final_accuracy_intro", "**1 балл**", "**2 балла**"),
        ("final_accuracy_intro", "**1 балл**", "Последний балл"),
    ],
)
def test_prose_points_drift_is_found(check_master, master, grade_id, old, new):
    """Does a points statement changed in the text alone (or written in words) fail?"""
    cell = cell_by_grade_id(master, grade_id)
    assert old in cell.source
    cell.source = cell.source.replace(old, new)
    assert check_master.points_problems(master) != []


def test_metadata_points_drift_is_found(check_master, master):
    """Do metadata points changed alone disagree with the prose and the contract?"""
    nbgrader_meta(cell_by_grade_id(master, "test_backprop"))["points"] = 4
    problems = check_master.points_problems(master)
    assert any("contract" in p for p in problems) and any("backprop" in p for p in problems)


# --------------------------------------------------------------------------- visible checks
def test_given_names_list_is_complete(check_master, master):
    """Does the visible-check cell list exactly the names the given cells bind?"""
    assert check_master.given_names_problems(master) == []


def test_given_names_list_drift_is_found(check_master, master):
    """Does a new variable in a given cell fail the list until it is added?"""
    cell_by_grade_id(master, "make_data").source += "\nn_points = X.size"
    assert any("n_points" in p for p in check_master.given_names_problems(master))


def test_visible_check_cell_is_given_collapsed_and_first(master):
    """Is the visible-check cell read-only, collapsed in JupyterLab and before every answer?"""
    cell = cell_by_grade_id(master, "visible_checks")
    meta = nbgrader_meta(cell)
    assert (
        cell.cell_type == "code" and meta["locked"] and not meta["solution"] and not meta["grade"]
    )
    assert cell.metadata["jupyter"]["source_hidden"] is True
    order = [nbgrader_meta(c).get("grade_id") for c in master.cells]
    assert order.index("visible_checks") < min(order.index(a) for a in contract.ANSWER_IDS)
    assert "autograder" not in cell.source and "hidden" not in cell.source.lower()


def _split_test_cell(source):
    assert source.count(HIDDEN_BEGIN) == 1 and source.count(HIDDEN_END) == 1
    visible, rest = source.split(HIDDEN_BEGIN)
    hidden, after = rest.split(HIDDEN_END)
    assert after.strip() == "", "nothing may follow the hidden tests"
    return visible, hidden


@pytest.mark.parametrize("grade_id", sorted(contract.POINTS))
def test_visible_part_is_one_call_of_a_visible_check(master, grade_id):
    """Is a test cell's visible part one call of a verify_* function with the cell's functions?"""
    visible, _ = _split_test_cell(cell_by_grade_id(master, grade_id).source)
    (statement,) = ast.parse(visible).body
    call = statement.value
    defined = {
        node.name
        for node in ast.parse(cell_by_grade_id(master, "visible_checks").source).body
        if isinstance(node, ast.FunctionDef)
    }
    assert isinstance(call, ast.Call) and call.func.id in defined
    assert [arg.id for arg in call.args] == list(contract.GRADED[grade_id].functions)


@pytest.mark.parametrize("grade_id", sorted(contract.POINTS))
def test_hidden_part_calls_the_check_of_the_contract(master, grade_id):
    """Does the hidden part import and call exactly the contract's check, with the student functions?"""
    _, hidden = _split_test_cell(cell_by_grade_id(master, grade_id).source)
    check, argument_names = checks.CHECKS[grade_id]
    imported, called = ast.parse(hidden).body
    assert isinstance(imported, ast.ImportFrom)
    assert imported.module == "autograder.assignment.checks"
    assert [alias.name for alias in imported.names] == [check.__name__]
    call = called.value
    assert isinstance(call, ast.Call) and call.func.id == check.__name__
    passed = [arg.id for arg in call.args] + [kw.value.id for kw in call.keywords]
    assert passed == argument_names
    assert all(kw.arg == kw.value.id for kw in call.keywords)


# --------------------------------------------------------------------------- structure
def test_answer_cells_are_the_contracts(master):
    """Are the answer cells exactly the contract's (unlocked code, no points), each defining its function?"""
    answers = {
        nbgrader_meta(c)["grade_id"]: c for c in master.cells if nbgrader_meta(c).get("solution")
    }
    assert set(answers) == set(contract.ANSWER_IDS)
    for grade_id, cell in answers.items():
        meta = nbgrader_meta(cell)
        assert cell.cell_type == "code" and not meta["grade"] and not meta["locked"]
        assert "points" not in meta
        (function,) = [n for n in ast.parse(cell.source).body if isinstance(n, ast.FunctionDef)]
        assert function.name == contract.FUNCTION_OF_ANSWER[grade_id]


@pytest.mark.parametrize("grade_id", contract.ANSWER_IDS)
def test_signature_and_russian_docstring_stay_outside_the_solution(master, grade_id):
    """Does the release keep the def line and a Russian docstring (solution region = body only)?"""
    source = cell_by_grade_id(master, grade_id).source
    assert source.count(SOLUTION_BEGIN) == 1
    before = source.split(SOLUTION_BEGIN)[0]
    function = ast.parse(source).body[0]
    docstring = ast.get_docstring(function)
    assert docstring and CYRILLIC.search(docstring), "the docstring a student reads is Russian"
    assert source.split("\n")[0] in before and docstring.split("\n")[0] in before


def test_stub_is_russian():
    """Does the stub nbgrader puts in place of a solution raise with a Russian message?"""
    stub = course_config(ROOT).ClearSolutions.code_stub["python"]
    raise_line = stub.strip().split("\n")[-1]
    assert raise_line.startswith('raise NotImplementedError("') and CYRILLIC.search(raise_line)


def test_graded_cells_are_the_contracts(master):
    """Are the graded cells exactly the contract's, locked code cells?"""
    graded = [c for c in master.cells if nbgrader_meta(c).get("grade")]
    assert {nbgrader_meta(c)["grade_id"] for c in graded} == set(contract.POINTS)
    for cell in graded:
        assert cell.cell_type == "code"
        assert nbgrader_meta(cell)["locked"] and not nbgrader_meta(cell)["solution"]


def test_test_cells_follow_their_answers(master):
    """Does each graded cell come after the answers it judges (and Net after sigmoid)?"""
    order = [nbgrader_meta(cell).get("grade_id") for cell in master.cells]
    for graded in contract.GRADED_CELLS:
        for function in graded.functions:
            assert order.index(contract.ANSWER_OF_FUNCTION[function]) < order.index(graded.grade_id)
    assert order.index(contract.ANSWER_OF_FUNCTION["sigmoid"]) < order.index("net")


def test_every_other_cell_is_locked(master):
    """Is every cell except the answers locked (read-only)?"""
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


def test_training_cell_uses_reference_settings(master):
    """Do the training cell's settings agree with the reference the final check trains with?"""
    source = cell_by_grade_id(master, "train").source
    assert f"N_STEPS = {reference.N_STEPS!r}" in source
    assert f"LEARNING_RATE = {reference.LEARNING_RATE!r}" in source
    assert f"Net(w={reference.INITIAL_W!r}, b={reference.INITIAL_B!r})" in source
    assert "backprop(net, X_train, y_train, lr=LEARNING_RATE)" in source
    assert f"{reference.N_STEPS} шагов" in cell_by_grade_id(master, "training_intro").source
