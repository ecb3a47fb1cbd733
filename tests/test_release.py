"""Is the release the master with solutions and hidden tests removed, and nothing more?"""

import ast
import inspect

import nbformat
import pytest
from nbgrader_helpers import (
    ASSIGNMENT,
    RELEASE_NOTEBOOK,
    SOURCE_NOTEBOOK,
    copy_course,
    generate_assignment,
    validate,
)

from autograder.assignment import checks, reference

GRADED_CELLS = 6
ANSWER_FUNCTIONS = [
    reference.random_sample,
    reference.sigmoid,
    reference.BCELoss,
    reference.backprop,
]
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
    return RELEASE_NOTEBOOK.read_text(encoding="utf-8")


def test_master_validates():
    """Does `nbgrader validate` pass on the master, hidden tests included?"""
    assert validate(SOURCE_NOTEBOOK) == {}


def test_release_fails_every_graded_cell():
    """Does `nbgrader validate --invert` on the untouched release find no passing graded cell?"""
    release = nbformat.read(RELEASE_NOTEBOOK, as_version=4)
    graded = [cell for cell in release.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) == GRADED_CELLS
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
    assert cells[0].rstrip().endswith("raise NotImplementedError()")
