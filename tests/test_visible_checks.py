"""Visible parts of the master's test cells against the catalog.

The code of each graded test cell before ``### BEGIN HIDDEN TESTS`` is what
students see and run.  It must accept every correct catalog entry and should
flag most mistakes in the test cell(s) of their own function; this test
measures how many (`pytest -s` prints the figure).
"""

import contextlib
import io
import warnings

import nbformat
import numpy as np
import pytest

from autograder.assignment import reference
from fixtures import catalog
from fixtures.samples import COURSE_DIR

MASTER = COURSE_DIR / "source" / "one_neuron" / "one_neuron.ipynb"
HIDDEN_MARK = "### BEGIN HIDDEN TESTS"
MIN_COVERAGE = 0.6
RESULTS = {}


def _cells():
    nb = nbformat.read(str(MASTER), as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nb.cells
        if "grade_id" in cell.metadata.get("nbgrader", {})
    }


CELLS = _cells()
VISIBLE = {grade_id: CELLS[grade_id].split(HIDDEN_MARK)[0] for grade_id in catalog.POINTS}


def _namespace(entry):
    """Fresh namespace: numpy, the entry's function, the reference for the rest, the notebook's Net."""
    ns = {"np": np}
    for name in catalog.FUNCTIONS:
        ns[name] = getattr(reference, name)
    exec(compile(entry.code, f"<catalog {entry.name}>", "exec"), ns)
    exec(compile(CELLS["net"], "<net cell>", "exec"), ns)
    return ns


def visible_verdicts(entry):
    """{own test cell: True if its visible part raises}, run in a fresh namespace each."""
    verdicts = {}
    state = np.random.get_state()
    try:
        for grade_id in catalog.OWN_CELLS[entry.function]:
            ns = _namespace(entry)
            sink = io.StringIO()
            with (
                warnings.catch_warnings(),
                contextlib.redirect_stdout(sink),
                contextlib.redirect_stderr(sink),
                np.errstate(divide="warn", over="warn", invalid="warn", under="ignore"),
            ):
                warnings.simplefilter("ignore")
                try:
                    exec(compile(VISIBLE[grade_id], f"<visible {grade_id}>", "exec"), ns)
                    verdicts[grade_id] = False
                except Exception:  # any failure of the visible cell flags the mistake
                    verdicts[grade_id] = True
    finally:
        np.random.set_state(state)
    return verdicts


def test_visible_parts_exist():
    for grade_id, code in VISIBLE.items():
        assert HIDDEN_MARK in CELLS[grade_id], grade_id
        assert "assert" in code, f"{grade_id}: no visible check"


@pytest.mark.parametrize(
    "entry", catalog.entries(correct=True), ids=[e.name for e in catalog.entries(correct=True)]
)
def test_visible_checks_accept_correct_code(entry):
    """A correct variant must never be rejected by the visible checks."""
    verdicts = visible_verdicts(entry)
    assert not any(verdicts.values()), verdicts


@pytest.mark.parametrize(
    "entry", catalog.entries(correct=False), ids=[e.name for e in catalog.entries(correct=False)]
)
def test_visible_checks_on_mistake(entry):
    """Records whether a visible check of the entry's own function flags the mistake."""
    RESULTS[entry.name] = any(visible_verdicts(entry).values())


def test_visible_coverage():
    mistakes = catalog.entries(correct=False)
    if len(RESULTS) < len(mistakes):
        pytest.skip("needs the full parametrized run")
    flagged = [e for e in mistakes if RESULTS[e.name]]
    missed = sorted(e.name for e in mistakes if not RESULTS[e.name])
    share = len(flagged) / len(mistakes)
    print(
        f"\nvisible checks flag {len(flagged)}/{len(mistakes)} mistakes ({share:.0%}); "
        f"missed: {', '.join(missed)}"
    )
    assert share >= MIN_COVERAGE
