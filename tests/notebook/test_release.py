"""Is the release the master with solutions and hidden tests removed, and nothing more?"""

import ast
import inspect

import nbformat
import pytest
from nbgrader_helpers import (
    ASSIGNMENT,
    RELEASE_NOTEBOOK,
    ROOT,
    SOURCE_NOTEBOOK,
    copy_course,
    course_config,
    generate_assignment,
    validate,
)

from autograder.assignment import checks, contract, reference

ANSWER_FUNCTIONS = [getattr(reference, name) for name in contract.FUNCTIONS]
FORBIDDEN = ["BEGIN SOLUTION", "END SOLUTION", "HIDDEN", "autograder"] + sorted(
    check.__name__ for check, _ in checks.CHECKS.values()
)


def _body_lines(function):
    """Lines of the reference function after its docstring (the solution)."""
    source = inspect.getsource(function)
    docstring_end = ast.parse(source).body[0].body[0].end_lineno
    return [line.strip() for line in source.split("\n")[docstring_end:] if line.strip()]


@pytest.fixture(scope="module")
def release_text():
    """The release file's text, without JupyterLab's "source_hidden" key (not a leak)."""
    return RELEASE_NOTEBOOK.read_text(encoding="utf-8").replace('"source_hidden"', "")


def test_master_validates():
    """Does `nbgrader validate` pass on the master, hidden tests included?"""
    assert validate(SOURCE_NOTEBOOK) == {}


def test_release_fails_every_graded_cell():
    """Does `nbgrader validate --invert` on the untouched release find no passing graded cell?"""
    release = nbformat.read(RELEASE_NOTEBOOK, as_version=4)
    graded = [cell for cell in release.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) == len(contract.GRADED_CELLS)
    assert validate(RELEASE_NOTEBOOK, invert=True) == {}


def test_regenerated_release_is_identical(tmp_path):
    """Does regenerating the release from the master reproduce the committed one byte for byte?"""
    course = copy_course(tmp_path / "course")
    release_dir = course / "release" / ASSIGNMENT
    committed = {
        p.relative_to(release_dir): p.read_bytes() for p in release_dir.rglob("*") if p.is_file()
    }
    for path in release_dir.rglob("*"):
        if path.is_file():
            path.unlink()
    generate_assignment(course)
    regenerated = {
        p.relative_to(release_dir): p.read_bytes() for p in release_dir.rglob("*") if p.is_file()
    }
    assert (
        sorted(regenerated)
        == sorted(committed)
        == [RELEASE_NOTEBOOK.relative_to(RELEASE_NOTEBOOK.parent)]
    )
    assert regenerated == committed


@pytest.mark.parametrize("word", FORBIDDEN)
def test_release_leaks_no_marker(release_text, word):
    """Is there no solution marker, hidden test or grader name in the release?"""
    assert word.lower() not in release_text.lower()


@pytest.mark.parametrize("function", ANSWER_FUNCTIONS, ids=lambda f: f.__name__)
def test_release_leaks_no_reference_body(function):
    """Does no line of a reference solution body appear in the release's code?"""
    release = nbformat.read(RELEASE_NOTEBOOK, as_version=4)
    code_lines = {
        line.strip()
        for cell in release.cells
        if cell.cell_type == "code"
        for line in cell.source.split("\n")
    }
    body = _body_lines(function)
    assert body, "the reference function has no body?"
    assert [line for line in body if line in code_lines] == []


@pytest.mark.parametrize("function", ANSWER_FUNCTIONS, ids=lambda f: f.__name__)
def test_release_keeps_stub_signature(function):
    """Does the release keep each answer's def line and docstring, with the stub in place of the body?"""
    release = nbformat.read(RELEASE_NOTEBOOK, as_version=4)
    header = inspect.getsource(function).split("\n")[0]
    cells = [cell.source for cell in release.cells if cell.source.startswith(header)]
    assert len(cells) == 1
    assert inspect.getdoc(function).split("\n")[0] in cells[0]
    stub = course_config(ROOT).ClearSolutions.code_stub["python"].strip().split("\n")[-1]
    assert cells[0].rstrip().endswith(stub)


def test_visible_checks_reach_the_release_collapsed():
    """Does the release keep the visible-check cell, collapsed, and one call per test cell?"""
    release = nbformat.read(RELEASE_NOTEBOOK, as_version=4)
    (cell,) = [c for c in release.cells if c.metadata["nbgrader"]["grade_id"] == "visible_checks"]
    assert cell.metadata["jupyter"]["source_hidden"] is True
    for graded in (c for c in release.cells if c.metadata["nbgrader"].get("grade")):
        assert len(ast.parse(graded.source).body) == 1, graded.metadata["nbgrader"]["grade_id"]


def _cell(nb, grade_id):
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell


def test_master_edits_survive_regenerate(tmp_path, check_master):
    """Do a new sentence, consistently changed points and a new visible assertion made in the
    master survive generate_assignment untouched, and does the release follow them?"""
    course = copy_course(tmp_path / "course")
    master_path = course / SOURCE_NOTEBOOK.relative_to(ROOT)
    nb = nbformat.read(master_path, as_version=4)
    bce_cell, sigmoid_cell = contract.OWN_CELLS["BCELoss"][0], contract.OWN_CELLS["sigmoid"][0]
    sentence = "Это предложение добавлено в JupyterLab."
    _cell(nb, "intro").source += "\n\n" + sentence
    # BCELoss: 2 -> 3 points in the metadata, the prose and (here, a copy of) the contract.
    _cell(nb, bce_cell).metadata["nbgrader"]["points"] = 3
    for grade_id, old, new in [
        ("loss", "`BCELoss` (2 балла)", "`BCELoss` (3 балла)"),
        ("intro", "для каждого элемента | 2 |", "для каждого элемента | 3 |"),
        ("intro", "Всего 10 баллов", "Всего 11 баллов"),
    ]:
        assert old in _cell(nb, grade_id).source
        _cell(nb, grade_id).source = _cell(nb, grade_id).source.replace(old, new)
    points = dict(contract.POINTS, **{bce_cell: 3.0})
    assertion = 'assert float(sigmoid(0.0)) == 0.5, "sigmoid(0) должна быть ровно 0.5"'
    test_cell = _cell(nb, sigmoid_cell)
    test_cell.source = assertion + "\n" + test_cell.source
    assert check_master.points_problems(nb, points) == []
    assert check_master.points_problems(nb) != []  # the committed contract disagrees
    nbformat.write(nb, str(master_path))
    edited = master_path.read_bytes()

    generate_assignment(course)

    assert master_path.read_bytes() == edited, "regenerating must not touch the master"
    release = nbformat.read(course / RELEASE_NOTEBOOK.relative_to(ROOT), as_version=4)
    assert _cell(release, "intro").source.endswith(sentence)
    assert _cell(release, bce_cell).metadata["nbgrader"]["points"] == 3
    assert check_master.points_problems(release, points) == []
    visible = _cell(release, sigmoid_cell).source
    assert visible.split("\n")[0] == assertion and "HIDDEN" not in visible
