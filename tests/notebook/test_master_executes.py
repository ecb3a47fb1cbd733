"""Does the master notebook run top to bottom cleanly, as a student's finished notebook would?

(The visible checks against the catalog: tests/notebook/test_visible_checks.py.)
"""

import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader_helpers import SOURCE_NOTEBOOK

from autograder.assignment import contract

MIN_TEST_ACCURACY = 0.9  # sanity bound on the reference run, not a grading rule
EVAL_EVERY, N_STEPS = 100, 1000


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    # Build matplotlib's font cache here, so the kernel never logs its creation to stderr.
    import matplotlib.font_manager  # noqa: F401

    work = tmp_path_factory.mktemp("master")
    notebook = work / SOURCE_NOTEBOOK.name
    shutil.copy2(SOURCE_NOTEBOOK, notebook)
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    return nb


def _stdout(nb, cell_id):
    cell = next(cell for cell in nb.cells if cell.id == cell_id)
    return "".join(
        out.text for out in cell.outputs if out.output_type == "stream" and out.name == "stdout"
    )


def test_no_error_and_no_stderr(executed):
    """Does every cell run without an error output or anything on stderr?"""
    bad = [
        (cell.id, out.output_type, out.get("name"))
        for cell in executed.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error" or (out.output_type == "stream" and out.name == "stderr")
    ]
    assert bad == []


def test_validation_reported_every_100_steps(executed):
    """Does training print validation loss and accuracy at steps 0, 100, ..., 1000?"""
    steps = [
        int(s)
        for s in re.findall(
            r"шаг\s+(\d+): валидация BCE = [\d.]+, accuracy = [\d.]+", _stdout(executed, "train")
        )
    ]
    assert steps == list(range(0, N_STEPS + 1, EVAL_EVERY))


def test_final_test_accuracy(executed):
    """Is the printed final test accuracy of the reference run at least 0.9?"""
    match = re.search(
        r"тестовая выборка: BCE = ([\d.]+), accuracy = ([\d.]+)",
        _stdout(executed, "test_evaluation"),
    )
    assert match, _stdout(executed, "test_evaluation")
    assert float(match.group(2)) >= MIN_TEST_ACCURACY


@pytest.mark.parametrize("cell_id", ["plot_curves", "plot_fit"])
def test_plots_are_drawn(executed, cell_id):
    """Does each plot cell display one PNG figure?"""
    cell = next(cell for cell in executed.cells if cell.id == cell_id)
    images = [
        out for out in cell.outputs if out.output_type == "display_data" and "image/png" in out.data
    ]
    assert len(images) == 1


@pytest.mark.parametrize("grade_id", sorted(contract.POINTS))
def test_visible_check_reports_success(executed, grade_id):
    """Does each test cell's visible check print that it passed (and the hidden part stay silent)?"""
    (cell,) = [c for c in executed.cells if c.metadata["nbgrader"]["grade_id"] == grade_id]
    assert "видимые проверки пройдены" in _stdout(executed, cell.id)
