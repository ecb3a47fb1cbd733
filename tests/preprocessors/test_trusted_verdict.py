"""TrustedVerdict: graded cells scored outside the kernel, through real `nbgrader autograde`
(in-process) on a copy of the course, and what of a notebook the worker executes."""

import inspect
from pathlib import Path

import nbformat
import pytest
from integration.graded_course import (
    POINTS,
    REFERENCE_ANSWERS,
    autograde,
    grade_id,
    graded_perfect,
    graded_unstable,
    release_notebook,
    shared_course,
    submission,
)
from nbgrader.api import Gradebook
from nbgrader_helpers import ASSIGNMENT

from autograder.assignment import contract, reference
from autograder.preprocessors.trusted_verdict import (
    PASS_TEXT,
    TrustedVerdict,
    load_assignment,
    top_level_definitions,
)
from fixtures import catalog

PACKAGE = "autograder.assignment"
ASSIGNMENT_SPEC = load_assignment(PACKAGE)
CHECKS = ASSIGNMENT_SPEC.checks


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return shared_course(tmp_path_factory)


def test_gradebook_and_checks_agree_on_graded_cells(course):
    """Does every graded cell of the gradebook have a check, with the design's points?"""
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        graded = {
            cell.name: cell.max_score
            for cell in gb.find_notebook(ASSIGNMENT, ASSIGNMENT).grade_cells
        }
    assert graded == POINTS
    assert set(CHECKS) == set(POINTS)


def test_perfect_submission_gets_full_marks(course):
    """Does the reference solution get every point, each cell saying that it passed?"""
    got, graded_nb = graded_perfect(course)
    assert got == POINTS
    for cell in graded_nb.cells:
        if grade_id(cell) in POINTS:
            assert [(o.output_type, o.get("text")) for o in cell.outputs] == [("stream", PASS_TEXT)]


def test_untouched_release_gets_zero_in_every_graded_cell(course):
    """Does the release as handed out (stubs raising NotImplementedError) score 0 everywhere?"""
    got, graded_nb = autograde(course, "untouched", release_notebook())
    assert got == {name: 0.0 for name in POINTS}
    messages = [cell.outputs[0].evalue for cell in graded_nb.cells if grade_id(cell) in POINTS]
    assert all("NotImplementedError" in message for message in messages), messages


def test_unstable_sigmoid_loses_only_the_stability_cell(course):
    """Does exp(x) / (1 + exp(x)) (nan for large x) lose exactly test_sigmoid_stability?"""
    got, graded_nb = graded_unstable(course)
    assert got == dict(POINTS, test_sigmoid_stability=0.0)
    (cell,) = [c for c in graded_nb.cells if grade_id(c) == "test_sigmoid_stability"]
    (output,) = cell.outputs
    assert output.output_type == "error" and output.ename == "AssertionError"
    assert output.traceback == [f"AssertionError: {output.evalue}"]


# Every 8th entry of the catalog, own cells only (the full catalog, final
# accuracy included, runs in tests/fixtures/test_catalog_autograde.py).
CATALOG_SAMPLE = catalog.ENTRIES[::8]


@pytest.mark.parametrize("entry", CATALOG_SAMPLE, ids=lambda entry: entry.name)
def test_catalog_entries_get_the_same_verdicts_through_the_worker(entry):
    """Do proxies of the sandboxed worker give each check the verdict the catalog expects?"""
    sources = dict(REFERENCE_ANSWERS)
    sources[contract.ANSWER_OF_FUNCTION[entry.function]] = entry.code
    expected = entry.expected_points()
    verdict = TrustedVerdict(assignment=PACKAGE, call_timeout=10, check_timeout=60)
    with ASSIGNMENT_SPEC.worker(call_timeout=10) as worker:
        worker.load(list(sources.items()))
        for cell in contract.OWN_CELLS[entry.function]:
            check, arg_names = CHECKS[cell]
            failure = verdict.run_check(worker, check, arg_names)
            assert (failure is None) == (expected[cell] > 0), (cell, failure)


def test_the_engine_needs_the_assignment_configured():
    """Does a TrustedVerdict without c.TrustedVerdict.assignment say what to set?"""
    with pytest.raises(ValueError, match="c.TrustedVerdict.assignment"):
        TrustedVerdict().spec  # noqa: B018


# -- what the worker executes: answer cells, given definitions, added definitions --------


def _code_cell(source, grade_id=None, solution=False, locked=False):
    metadata = {}
    if grade_id is not None:
        metadata["nbgrader"] = {
            "grade_id": grade_id,
            "solution": solution,
            "locked": locked,
            "grade": False,
        }
    return nbformat.from_dict(
        {
            "cell_type": "code",
            "source": source,
            "metadata": metadata,
            "outputs": [],
            "execution_count": None,
        }
    )


def test_worker_cells_keep_notebook_order_and_take_given_cells_from_the_reference():
    """Are answer cells whole, the given Net the reference's and added cells definitions only?"""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _code_cell("import numpy as np\nX_train = np.linspace(-5, 5, 100)\nHALF = 0.5\n"),
        _code_cell(
            "class Net:\n    pass  # the student's edit of the given cell\n", "net", locked=True
        ),
        _code_cell("def sigmoid(x):\n    return HALF * x\n", "sigmoid", solution=True),
        _code_cell("plot(X_train)\n", "plots", locked=True),
    ]
    cells = TrustedVerdict(assignment=PACKAGE).worker_cells(nb)
    assert [name for name, _, _ in cells] == ["added cell 1", "net", "sigmoid"]
    added, given, answer = cells
    assert added[1] == "import numpy as np\nHALF = 0.5\n"
    assert given == ("net", inspect.getsource(reference.Net), ("Net",))
    assert answer[1] == nb.cells[2].source


def test_ipython_syntax_of_answer_cells_is_handled():
    """Do %%time cells define their functions and do other magics do no harm?"""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _code_cell("%%time\ndef sigmoid(x):\n    return x + 1\n", "sigmoid", solution=True),
        _code_cell(
            "%matplotlib inline\n!ls\ndef backprop():\n    return 7\n", "backprop", solution=True
        ),
        _code_cell("%matplotlib inline\ndef helper():\n    return 3\n"),
    ]
    cells = TrustedVerdict(assignment=PACKAGE).worker_cells(nb)
    with ASSIGNMENT_SPEC.worker(call_timeout=5, unsafe=True) as student:
        report = student.load(cells)
        assert [item["error"] for item in report] == [None, None, None]
        assert student.call("sigmoid", (1,)) == 2
        assert student.call("backprop") == 7
        assert student.call("helper") == 3


@pytest.mark.parametrize(
    "source, kept",
    [
        ("import math\nfrom numpy import exp as e\n", "import math\nfrom numpy import exp as e\n"),
        ("def f(x):\n    return x\nf(3)\n", "def f(x):\n    return x\n"),
        ("class A:\n    k = 1\n", "class A:\n    k = 1\n"),
        ("EPS = 1e-12\nA, B = (1, -2)\nN: int = 3\n", "EPS = 1e-12\nA, B = (1, -2)\nN: int = 3\n"),
        ("X_train = np.zeros(3)\nnet = Net(0.1, 0.2)\nd = {}\nd['k'] = 1\n", "d = {}\n"),
        ("for i in range(3):\n    print(i)\nplt.plot([1])\n", ""),
        ("def broken(:\n", ""),
    ],
)
def test_added_cells_keep_only_their_definitions(source, kept):
    """Imports, defs, classes and literal constants stay; computed data and calls go."""
    assert top_level_definitions(source) == kept


HELPER_IN_ADDED_CELL = {
    "sigmoid": (
        "def sigmoid(x):\n"
        "    x = np.asarray(x, dtype=float)\n"
        "    return positive_part(x) + negative_part(x)\n"
    ),
}
ADDED_CELL = (
    "from math import isfinite  # an import in the student's own cell\n"
    "import numpy as np\n"
    "SPLIT = 0.0\n"
    "\n"
    "def positive_part(x):\n"
    "    out = np.zeros_like(x)\n"
    "    mask = x >= SPLIT\n"
    "    out[mask] = 1 / (1 + np.exp(-x[mask]))\n"
    "    return out[()] if isfinite(1.0) else None\n"
    "\n"
    "def negative_part(x):\n"
    "    out = np.zeros_like(x)\n"
    "    mask = x < SPLIT\n"
    "    e = np.exp(x[mask])\n"
    "    out[mask] = e / (1 + e)\n"
    "    return out[()]\n"
    "\n"
    "print(sigmoid(np.array([-1.0, 1.0])))  # a call: not part of any function\n"
)


def test_helpers_and_imports_in_an_added_cell_get_full_marks(course):
    """Does a correct student whose sigmoid uses a helper from a cell they added get 10/10?"""
    nb = submission(dict(REFERENCE_ANSWERS, **HELPER_IN_ADDED_CELL))
    (index,) = [i for i, cell in enumerate(nb.cells) if grade_id(cell) == "sigmoid"]
    nb.cells.insert(index, nbformat.v4.new_code_cell(ADDED_CELL))
    got, _ = autograde(course, "helper_added", nb)
    assert got == POINTS


def test_data_computed_by_given_cells_is_not_part_of_a_function(course):
    """Does a backprop that reads the notebook's X_train instead of its arguments still fail?"""
    reads_global = (
        "def backprop(net, x, y, lr=0.01):\n"
        "    r = net(X_train)\n"
        "    net.w -= lr * np.mean((r - y_train) * X_train)\n"
        "    net.b -= lr * np.mean(r - y_train)\n"
    )
    got, graded_nb = autograde(
        course, "reads_x_train", submission(dict(REFERENCE_ANSWERS, backprop=reads_global))
    )
    assert got == dict(POINTS, test_backprop=0.0, test_final_accuracy=0.0)
    (cell,) = [c for c in graded_nb.cells if grade_id(c) == "test_backprop"]
    assert "X_train" in cell.outputs[0].evalue
