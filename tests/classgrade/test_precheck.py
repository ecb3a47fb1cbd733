"""Tests of the pre-check (autograder.classgrade.precheck): is every unreadable
notebook recognised with its problem named, and are duplicates noted, not fatal?"""

import json

import pytest

from autograder.classgrade import precheck


@pytest.mark.parametrize(
    "raw, problem",
    [
        (b"", "empty file"),
        (b"   \n", "empty file"),
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "not a notebook"),
        (
            json.dumps({"nbformat": 3, "nbformat_minor": 0, "cells": []}).encode(),
            "old notebook format",
        ),
        (json.dumps({"nbformat": 4, "cells": [1]}).encode(), "cell 0 is not an object"),
    ],
)
def test_notebook_problem_names_the_problem(tmp_path, raw, problem):
    """Is every kind of unreadable notebook recognised, with a useful message?"""
    path = tmp_path / "one_neuron.ipynb"
    path.write_bytes(raw)
    assert problem in precheck.notebook_problem(path)


SIGMOID_ANSWER = {
    "grade": False,
    "solution": True,
    "locked": False,
    "grade_id": "sigmoid",
    "schema_version": 3,
}


@pytest.mark.parametrize(
    "cells, note",
    [
        ([{"id": "a", "metadata": {}}, {"id": "a", "metadata": {}}], "duplicate cell id 'a'"),
        (
            [
                {"id": "a", "metadata": {"nbgrader": SIGMOID_ANSWER}},
                {"id": "b", "metadata": {"nbgrader": SIGMOID_ANSWER}},
            ],
            "duplicate grade_id 'sigmoid'",
        ),
    ],
)
def test_duplicate_ids_are_noted_not_fatal(tmp_path, cells, note):
    """Duplicates are graded (nbgrader and RestoreCellMetadata cope) but reported."""
    path = tmp_path / "one_neuron.ipynb"
    cells = [
        {"cell_type": "code", "source": "", "outputs": [], "execution_count": None, **c}
        for c in cells
    ]
    path.write_text(json.dumps({"nbformat": 4, "cells": cells}))
    assert precheck.notebook_problem(path) == ""
    assert any(note in text for text in precheck.notebook_notes(path))


def test_release_notebook_has_no_problem(template_course):
    assert precheck.notebook_problem(template_course / "release/one_neuron/one_neuron.ipynb") == ""
