"""Does the master run top to bottom cleanly, and do its visible checks tell right from wrong?"""
import contextlib
import inspect
import io
import re
import shutil
import warnings

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from autograder import catalog, reference
from nbgrader_helpers import SOURCE_NOTEBOOK

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
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    return nb


def _stdout(nb, cell_id):
    cell = next(cell for cell in nb.cells if cell.id == cell_id)
    return "".join(out.text for out in cell.outputs if out.output_type == "stream" and out.name == "stdout")


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
    steps = [int(s) for s in re.findall(r"шаг\s+(\d+): валидация BCE = [\d.]+, accuracy = [\d.]+", _stdout(executed, "train"))]
    assert steps == list(range(0, N_STEPS + 1, EVAL_EVERY))


def test_final_test_accuracy(executed):
    """Is the printed final test accuracy of the reference run at least 0.9?"""
    match = re.search(r"тестовая выборка: BCE = ([\d.]+), accuracy = ([\d.]+)", _stdout(executed, "test_evaluation"))
    assert match, _stdout(executed, "test_evaluation")
    assert float(match.group(2)) >= MIN_TEST_ACCURACY


@pytest.mark.parametrize("cell_id", ["plot_curves", "plot_fit"])
def test_plots_are_drawn(executed, cell_id):
    """Does each plot cell display one PNG figure?"""
    cell = next(cell for cell in executed.cells if cell.id == cell_id)
    images = [out for out in cell.outputs if out.output_type == "display_data" and "image/png" in out.data]
    assert len(images) == 1


# --------------------------------------------------------------------------
# Visible checks of the master, run on the catalog of student implementations
# the way the student's kernel runs them: the entry's function, the reference
# for the other functions, and the given Net (which uses the namespace's sigmoid).
# --------------------------------------------------------------------------
MIN_CAUGHT_SHARE = 0.6  # goal of the course: visible checks catch most typical mistakes
VISIBLE_CELLS = {
    "random_sample": ["test_random_sample"],
    "sigmoid": ["test_sigmoid_values", "test_sigmoid_stability", "test_final_accuracy"],
    "BCELoss": ["test_bce_loss"],
    "backprop": ["test_backprop", "test_final_accuracy"],
}


@pytest.fixture(scope="module")
def visible_parts():
    nb = nbformat.read(SOURCE_NOTEBOOK, as_version=4)
    return {
        cell.metadata.nbgrader.grade_id: cell.source.split("### BEGIN HIDDEN TESTS")[0]
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }


def run_visible(visible_source, entry):
    """Run one visible check with entry's function; returns (failure or None, escaped warnings)."""
    namespace = {"np": np}
    for name in catalog.FUNCTIONS:
        namespace[name] = getattr(reference, name)
    exec(inspect.getsource(reference.Net), namespace)
    exec(entry.code, namespace)
    with warnings.catch_warnings(record=True) as escaped, contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        np.random.seed(0)
        try:
            exec(visible_source, namespace)
        except Exception as error:  # the student's code may raise anything: that is a caught mistake
            return f"{type(error).__name__}: {error}", escaped
    return None, escaped


@pytest.mark.parametrize("entry", catalog.entries(correct=True), ids=lambda e: e.name)
def test_visible_checks_accept_correct_variant(visible_parts, entry):
    """Does every visible check of its function pass a correct variant, with no warning escaping?"""
    for cell in VISIBLE_CELLS[entry.function]:
        failure, escaped = run_visible(visible_parts[cell], entry)
        assert failure is None, (cell, failure)
        assert [str(w.message) for w in escaped] == [], cell


def test_visible_checks_catch_most_mistakes(visible_parts):
    """Do the visible checks reject at least 60% of the catalog's typical mistakes?"""
    mistakes = catalog.entries(correct=False)
    missed = [
        entry.name
        for entry in mistakes
        if all(run_visible(visible_parts[cell], entry)[0] is None for cell in VISIBLE_CELLS[entry.function])
    ]
    caught_share = 1 - len(missed) / len(mistakes)
    assert caught_share >= MIN_CAUGHT_SHARE, missed
