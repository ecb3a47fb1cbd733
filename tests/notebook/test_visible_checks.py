"""The master's visible checks against the catalog of student implementations.

The visible-check cell of the master defines ``verify_*`` functions; each graded test
cell's visible part calls one. Run here as in a student's notebook (the cell, then the
entry's answer cell, the reference for the other answers and the given Net cell, in one
namespace), they must accept every correct entry, never reject a cell that the hidden
check accepts (a rejected cell is one the catalog says the entry loses), flag most
mistakes, and apply the hidden stability rule exactly. ``pytest -s`` prints the share.
"""

import contextlib
import functools
import io
import warnings

import nbformat
import numpy as np
import pytest
from nbgrader_helpers import SOURCE_NOTEBOOK

from autograder.assignment import checks, contract, reference
from fixtures import catalog

HIDDEN_MARK = "### BEGIN HIDDEN TESTS"
MIN_COVERAGE = 0.85  # share of the catalog's mistakes some visible check flags


def _cells():
    nb = nbformat.read(SOURCE_NOTEBOOK, as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in nb.cells}


CELLS = _cells()
VISIBLE = {grade_id: CELLS[grade_id].split(HIDDEN_MARK)[0] for grade_id in contract.POINTS}


def judged_cells(function):
    """The graded cells whose visible part runs the function (its own and the joint ones)."""
    return [c.grade_id for c in contract.GRADED_CELLS if function in c.functions]


def hidden_failures(entry):
    """The graded cells the entry loses under the hidden checks, as the catalog states."""
    points = entry.expected_points()
    return {grade_id for grade_id in judged_cells(entry.function) if points[grade_id] == 0}


def notebook_namespace(answer_code, function):
    """A namespace as in a student's notebook: visible checks, answers, the Net cell."""
    ns = {"np": np}
    exec(compile(CELLS["visible_checks"], "<visible checks cell>", "exec"), ns)
    for name in contract.FUNCTIONS:
        ns[name] = getattr(reference, name)
    exec(compile(answer_code, f"<answer {function}>", "exec"), ns)
    exec(compile(CELLS["net"], "<net cell>", "exec"), ns)
    return ns


def run_visible(grade_id, ns):
    """None if the cell's visible part passes, else the message it fails with."""
    state = np.random.get_state()
    sink = io.StringIO()
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            warnings.simplefilter("ignore")
            exec(compile(VISIBLE[grade_id], f"<visible {grade_id}>", "exec"), ns)
        return None
    except Exception as error:  # any failure of the visible part flags the code
        return f"{type(error).__name__}: {error}"
    finally:
        np.random.set_state(state)


@functools.cache
def visible_flags(name):
    """{graded cell: failure message} of the visible checks on one catalog entry."""
    entry = catalog.BY_NAME[name]
    flags = {}
    for grade_id in judged_cells(entry.function):
        message = run_visible(grade_id, notebook_namespace(entry.code, entry.function))
        if message is not None:
            flags[grade_id] = message
    return flags


def test_reference_passes_every_visible_check():
    """Does the reference (the master's own solutions) pass every visible part?"""
    ns = notebook_namespace("", "reference")
    assert {g: run_visible(g, ns) for g in VISIBLE} == dict.fromkeys(VISIBLE)


@pytest.mark.parametrize("name", [e.name for e in catalog.entries(correct=True)])
def test_correct_entry_passes(name):
    """A correct variant is never rejected by a visible check."""
    assert visible_flags(name) == {}


@pytest.mark.parametrize("name", [e.name for e in catalog.entries(correct=False)])
def test_mistake_flagged_only_where_the_hidden_check_fails(name):
    """A visible check rejects a mistake only in a cell the entry loses under the hidden checks."""
    flags = visible_flags(name)
    assert set(flags) <= hidden_failures(catalog.BY_NAME[name]), flags


def test_most_mistakes_are_flagged():
    """Do the visible checks flag at least MIN_COVERAGE of the catalog's mistakes?"""
    mistakes = catalog.entries(correct=False)
    missed = sorted(e.name for e in mistakes if not visible_flags(e.name))
    share = 1 - len(missed) / len(mistakes)
    print(
        f"\nvisible checks flag {len(mistakes) - len(missed)}/{len(mistakes)} mistakes "
        f"({share:.0%}); missed: {', '.join(missed)}"
    )
    assert share >= MIN_COVERAGE


@pytest.mark.parametrize("name", [e.name for e in catalog.entries(function="sigmoid")])
def test_stability_rule_is_the_hidden_one(name):
    """Do the visible and the hidden stability checks give the same verdict on every sigmoid?"""
    entry = catalog.BY_NAME[name]
    ns = notebook_namespace(entry.code, entry.function)
    try:
        checks.check_sigmoid_stability(ns["sigmoid"])
        hidden_fails = False
    except AssertionError:
        hidden_fails = True
    visible_fails = run_visible("test_sigmoid_stability", ns) is not None
    assert visible_fails == hidden_fails


WARNING_ONLY = """
import numpy as np

def sigmoid(x):
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))[()]
"""
NAN_ABOVE_709 = """
import numpy as np

def sigmoid(x):
    e = np.exp(np.asarray(x, dtype=float))
    return (e / (1 + e))[()]
"""


def test_stability_judges_values_only_as_the_hidden_check():
    """Values right with warnings pass both checks; nan for x > 709 fails both."""
    ns = notebook_namespace(WARNING_ONLY, "sigmoid")
    assert run_visible("test_sigmoid_stability", ns) is None
    checks.check_sigmoid_stability(ns["sigmoid"])
    ns = notebook_namespace(NAN_ABOVE_709, "sigmoid")
    assert "nan" in run_visible("test_sigmoid_stability", ns)
    with pytest.raises(AssertionError):
        checks.check_sigmoid_stability(ns["sigmoid"])


READS_GIVEN_DATA = """
import numpy as np

def backprop(net, x, y, lr=0.01):
    r = net(x)
    net.w -= lr * np.mean((r - y_train) * x)
    net.b -= lr * np.mean(r - y)
"""
HELPER_IN_OWN_CELL = """
import math

def positive_part(x):
    return np.exp(np.minimum(x, 0.0))

def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = positive_part(x) if math.isfinite(1.0) else None
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    out[~pos] = e[~pos] / (1 + e[~pos])
    return out[()]
"""
HELPER_READS_GIVEN = """
def scale(x):
    return x / LEARNING_RATE * 0.1

def sigmoid(x):
    return 1 / (1 + np.exp(-scale(np.asarray(x, dtype=float))))
"""
USES_PLT = """
def sigmoid(x):
    plt.close("all")
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))
"""


@pytest.mark.parametrize(
    ("code", "function", "grade_id", "names"),
    [
        (READS_GIVEN_DATA, "backprop", "test_backprop", ["y_train"]),
        (HELPER_READS_GIVEN, "sigmoid", "test_sigmoid_values", ["LEARNING_RATE"]),
        (USES_PLT, "sigmoid", "test_sigmoid_values", ["plt"]),
    ],
)
def test_reading_a_given_name_is_flagged_in_russian(code, function, grade_id, names):
    """Is a function (or its helper) that reads a name of a given cell flagged, naming it?"""
    ns = notebook_namespace(code, function)
    ns.update(y_train=np.zeros(3), LEARNING_RATE=0.1, plt=None)  # as the given cells left them
    message = run_visible(grade_id, ns)
    assert message is not None and "готовые ячейки" in message
    assert all(name in message for name in names)


def test_helpers_and_imports_of_own_cells_pass():
    """Are a helper function and an import written in the student's own cells accepted?"""
    ns = notebook_namespace(HELPER_IN_OWN_CELL, "sigmoid")
    assert run_visible("test_sigmoid_values", ns) is None
    assert run_visible("test_sigmoid_stability", ns) is None
