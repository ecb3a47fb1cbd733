"""Build submission notebooks from the release notebook.

A submission is the student version (``release/one_neuron/one_neuron.ipynb``)
with some answer cells replaced, found by their nbgrader ``grade_id``; every
other cell and all metadata stay as released.  Used by the demo, the class-
grading helper and the catalog tests.
"""
import copy
import inspect
from pathlib import Path

import nbformat

from autograder import ASSIGNMENT, NOTEBOOK, catalog, reference

COURSE_DIR = Path(__file__).resolve().parents[1]
RELEASE_NOTEBOOK = COURSE_DIR / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"

# Function of the reference behind each answer cell.
_REFERENCE_FUNCTIONS = {
    catalog.ANSWER_CELLS[name]: getattr(reference, name) for name in catalog.FUNCTIONS
}


def read_release(path=RELEASE_NOTEBOOK):
    """The released student notebook as a NotebookNode (nbformat 4)."""
    return nbformat.read(str(path), as_version=4)


def answer_cell_ids(nb):
    """grade_ids of the answer (solution) cells of a notebook, in order."""
    return [cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("solution")]


def build_submission(release_nb, answers):
    """A copy of release_nb whose answer cells named in answers get that code.

    answers: {grade_id: source code of the whole cell}.  Raises ValueError for
    a grade_id that is not an answer cell of the notebook.
    """
    nb = copy.deepcopy(release_nb)
    unknown = set(answers) - set(answer_cell_ids(nb))
    if unknown:
        raise ValueError(f"not answer cells of the notebook: {sorted(unknown)}")
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
    return nb


def reference_answers():
    """{answer grade_id: reference source} for all four answer cells."""
    return {grade_id: inspect.getsource(fn) for grade_id, fn in _REFERENCE_FUNCTIONS.items()}


def perfect(release_nb):
    """Every answer cell holds the reference solution."""
    return build_submission(release_nb, reference_answers())


def untouched(release_nb):
    """The notebook as released (stubs raise NotImplementedError)."""
    return copy.deepcopy(release_nb)


def entry_answers(entry):
    """Answers of a catalog entry: its code in its cell, the reference elsewhere."""
    answers = reference_answers()
    answers[entry.answer_cell] = entry.code
    return answers


def for_entry(release_nb, entry):
    """Submission of one catalog entry (other answer cells: reference)."""
    if isinstance(entry, str):
        entry = catalog.BY_NAME[entry]
    return build_submission(release_nb, entry_answers(entry))


def write_submission(course_dir, student_id, nb, assignment=ASSIGNMENT):
    """Write nb as submitted/<student_id>/<assignment>/<NOTEBOOK>.ipynb; returns the path."""
    path = Path(course_dir) / "submitted" / student_id / assignment / f"{NOTEBOOK}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
