"""Does one class with malformed submissions get graded, under plain `nbgrader autograde`
and under the class command, with every honest student graded and nothing lost?

Malformed kinds: invalid JSON, an empty file, a renamed notebook, duplicate cell ids,
duplicate grade_ids, an old nbformat version (v3), extra files beside the notebook.
"""

import hashlib
import json
import os
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps.autogradeapp import AutogradeApp
from nbgrader_helpers import ASSIGNMENT, copy_course, generate_assignment

import autograder.classgrade as gc
from autograder.assignment import contract
from fixtures import samples

NB = f"{ASSIGNMENT}.ipynb"
FULL = sum(contract.POINTS.values())
# nbgrader's own gradebook code triggers SQLAlchemy autoflush warnings; not ours.
pytestmark = [
    pytest.mark.slow,  # a class of broken submissions, plain autograde and the class command
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning"),
]


def _perfect_json():
    release = samples.read_release()
    return json.loads(nbformat.writes(samples.perfect(release)))


def _with_duplicate(key):
    """The perfect notebook whose bce_loss test cell carries the backprop test cell's `key`."""
    nb = _perfect_json()
    by_grade_id = {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in nb["cells"]}
    if key == "id":
        by_grade_id["test_bce_loss"]["id"] = by_grade_id["test_backprop"]["id"]
    else:
        by_grade_id["test_bce_loss"]["metadata"]["nbgrader"]["grade_id"] = "test_backprop"
    return json.dumps(nb).encode()


def _old_format():
    nb3 = nbformat.v3.new_notebook(
        worksheets=[
            nbformat.v3.new_worksheet(
                cells=[nbformat.v3.new_code_cell(input="def sigmoid(x):\n    return x\n")]
            )
        ]
    )
    return nbformat.v3.writes_json(nb3).encode()


# student -> (files: {relative name: bytes}, status of the class command,
#             whether both paths give the full 10 points)
CASES = {
    "honest": ({NB: None}, gc.GRADED, True),
    "extra_files": (
        {NB: None, "notes.txt": b"my notes\n", "helper.py": b"X = 1\n"},
        gc.GRADED,
        True,
    ),
    "bad_json": ({NB: b'{"cells": [,]}'}, gc.INVALID, False),
    "empty": ({NB: b""}, gc.INVALID, False),
    "renamed": ({"one_neuron-Copy1.ipynb": None}, gc.MISSING, False),
    # Gradable: nbgrader renumbers duplicate cell ids; the copied grade_id is dropped
    # (RestoreCellMetadata) and the original cell graded. The class command notes both.
    "dup_cell_ids": ({NB: _with_duplicate("id")}, gc.GRADED, True),
    "dup_grade_ids": ({NB: _with_duplicate("grade_id")}, gc.GRADED, True),
    "old_nbformat": ({NB: _old_format()}, gc.INVALID, False),
}


def tree_digest(path):
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            p = Path(root, name)
            h.update(str(p.relative_to(path)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("malformed"))
    generate_assignment(course)
    perfect = nbformat.writes(
        samples.perfect(samples.read_release(course / "release" / ASSIGNMENT / NB))
    ).encode()
    for student, (files, _, _) in CASES.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(perfect if data is None else data)
    return course


def totals(course):
    """{student: total score or None when nbgrader has no graded notebook}."""
    result = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in CASES:
            try:
                result[student] = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student).score
            except MissingEntry:
                result[student] = None
    return result


def test_plain_autograde_grades_the_honest_and_survives_the_rest(course):
    """One `nbgrader autograde one_neuron` for the whole class (in-process)."""
    before = tree_digest(course / "submitted")
    with pytest.raises(gc.GradeClassError):  # nbgrader exits non-zero: some submissions failed
        gc.run_nbgrader_app(AutogradeApp, course, [ASSIGNMENT, "--create"])
    scores = totals(course)
    for student, (_, _, full) in CASES.items():
        if full:
            assert scores[student] == FULL, student
        else:
            assert scores[student] in (None, 0), (student, scores[student])
    assert tree_digest(course / "submitted") == before


def test_class_command_gives_each_a_clear_status(course):
    before = tree_digest(course / "submitted")
    code, results = gc.grade_class(
        ASSIGNMENT, course_dir=course, workers=2, timeout=120, report=False, log=lambda *a: None
    )
    by_id = {r.student_id: r for r in results}
    assert code == gc.EXIT_ATTENTION  # the malformed ones need the instructor
    for student, (_, status, full) in CASES.items():
        assert by_id[student].status == status, (student, by_id[student].detail)
        if full:
            assert by_id[student].score == FULL
            if student.startswith("dup_"):
                assert "duplicate" in by_id[student].detail
        else:
            assert by_id[student].score in (None, 0)
            assert by_id[student].detail, student  # the summary says what is wrong
    assert tree_digest(course / "submitted") == before
