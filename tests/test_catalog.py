"""Catalog of student implementations against the hidden checks (no kernel).

For every entry: exec its answer-cell code, use the reference for the other
three functions, run every check of CHECKS and compare the earned points with
the entry's expectations.  The module-level summary prints the figures
(`pytest -s` shows them).
"""

import collections
import warnings

import numpy as np
import pytest

from autograder.assignment import checks, reference
from fixtures import catalog, samples

SUMMARY = {}


def implementations(entry):
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(entry.code, f"<catalog {entry.name}>", "exec"), namespace)
    impls = {name: getattr(reference, name) for name in catalog.FUNCTIONS}
    impls[entry.function] = namespace[entry.function]
    return impls


_REFERENCE_ONLY = {}  # grade_id -> (points, message) when every argument is the reference


def _run_check(grade_id, impls):
    check, names = checks.CHECKS[grade_id]
    try:
        check(*[impls[name] for name in names])
        return catalog.POINTS[grade_id], None
    except AssertionError as error:
        return 0.0, str(error)


def earned_points(entry):
    """Points and messages per graded cell.  A check that receives only reference
    functions gives the same verdict for every entry: it is run once and reused."""
    impls = implementations(entry)
    points, messages = {}, {}
    for grade_id, (_, names) in checks.CHECKS.items():
        if entry.function in names:
            points[grade_id], message = _run_check(grade_id, impls)
        else:
            if grade_id not in _REFERENCE_ONLY:
                _REFERENCE_ONLY[grade_id] = _run_check(
                    grade_id, {name: getattr(reference, name) for name in names}
                )
            points[grade_id], message = _REFERENCE_ONLY[grade_id]
        if message is not None:
            messages[grade_id] = message
    return points, messages


@pytest.mark.parametrize("entry", catalog.ENTRIES, ids=[e.name for e in catalog.ENTRIES])
def test_entry_earns_expected_points(entry):
    """Does each catalog entry earn exactly the points the catalog expects?"""
    points, messages = earned_points(entry)
    SUMMARY[entry.name] = points
    expected = entry.expected_points()
    diff = {
        cell: (points[cell], expected[cell]) for cell in points if points[cell] != expected[cell]
    }
    assert not diff, f"{entry.name}: (got, expected) {diff}; messages {messages}"
    for cell in entry.loses:  # a lost cell explains itself in Russian
        assert any("а" <= ch <= "я" for ch in messages[cell].lower()), messages[cell]


def test_catalog_shape():
    """At least 4 correct and 8 mistaken implementations per function; points as designed."""
    for function in catalog.FUNCTIONS:
        assert len(catalog.entries(function, correct=True)) >= 4, function
        assert len(catalog.entries(function, correct=False)) >= 8, function
    assert set(catalog.POINTS) == set(checks.CHECKS)
    assert catalog.TOTAL_POINTS == 10


def test_expected_points_are_derived():
    """Correct -> full marks; mistake -> 0 only in own cells (+ final accuracy if stated)."""
    for entry in catalog.ENTRIES:
        expected = entry.expected_points()
        if entry.correct:
            assert expected == catalog.POINTS
            continue
        lost = {cell for cell, pts in expected.items() if pts < catalog.POINTS[cell]}
        own = set(catalog.OWN_CELLS[entry.function])
        assert lost - {"test_final_accuracy"} <= own and lost & own, entry.name


def test_summary_figures():
    """Figures over the whole catalog (runs after the parametrized tests)."""
    if len(SUMMARY) < len(catalog.ENTRIES):
        pytest.skip("needs the full parametrized run")
    correct = [e for e in catalog.ENTRIES if e.correct]
    mistakes = [e for e in catalog.ENTRIES if not e.correct]
    full = sum(SUMMARY[e.name] == catalog.POINTS for e in correct)
    caught = sum(
        any(SUMMARY[e.name][c] == 0 for c in catalog.OWN_CELLS[e.function]) for e in mistakes
    )
    foreign = sum(
        any(
            SUMMARY[e.name][c] < catalog.POINTS[c]
            for c in catalog.POINTS
            if c not in catalog.OWN_CELLS[e.function] and c != "test_final_accuracy"
        )
        for e in catalog.ENTRIES
    )
    by_function = collections.Counter(e.function for e in mistakes)
    print(
        f"\ncatalog: {len(correct)} correct at full marks: {full}/{len(correct)}; "
        f"{len(mistakes)} mistakes caught in their own cell: {caught}/{len(mistakes)} "
        f"({dict(by_function)}); entries affecting another function's cell: {foreign}"
    )
    assert full == len(correct)
    assert caught == len(mistakes)
    assert foreign == 0


# ------------------------------------------------------------------ samples
@pytest.fixture(scope="module")
def release_nb():
    return samples.read_release()


def _answers(nb):
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def test_answer_cells_of_release_are_the_catalogs(release_nb):
    assert samples.answer_cell_ids(release_nb) == list(catalog.ANSWER_CELLS.values())


def test_build_submission_replaces_only_named_answer_cells(release_nb):
    """Only the named answer cell changes; every cell keeps its metadata and id."""
    entry = catalog.BY_NAME["bp_sign"]
    nb = samples.for_entry(release_nb, entry)
    assert [c.metadata for c in nb.cells] == [c.metadata for c in release_nb.cells]
    assert [c.get("id") for c in nb.cells] == [c.get("id") for c in release_nb.cells]
    changed = {g for g, src in _answers(nb).items() if src != _answers(release_nb)[g]}
    assert changed == set(catalog.ANSWER_CELLS.values())  # reference elsewhere, entry here
    assert _answers(nb)["backprop"] == entry.code
    others = [c.source for c in nb.cells if not c.metadata.get("nbgrader", {}).get("solution")]
    assert others == [
        c.source for c in release_nb.cells if not c.metadata.get("nbgrader", {}).get("solution")
    ]
    assert samples.untouched(release_nb) == release_nb
    assert samples.untouched(release_nb) is not release_nb


def test_build_submission_rejects_unknown_cells(release_nb):
    with pytest.raises(ValueError, match="test_backprop"):
        samples.build_submission(release_nb, {"test_backprop": "pass"})


def test_perfect_answers_pass_every_check(release_nb):
    """The perfect submission's answer cells, run together, pass all checks (no kernel)."""
    namespace = {"np": np}
    for source in _answers(samples.perfect(release_nb)).values():
        exec(compile(source, "<answer>", "exec"), namespace)
    for check, names in checks.CHECKS.values():
        check(*[namespace[name] for name in names])


# ------------------------------------------------------------------ properties
CORRECT_SPLITS = [e for e in catalog.entries("random_sample", correct=True)]


@pytest.mark.parametrize("entry", CORRECT_SPLITS, ids=[e.name for e in CORRECT_SPLITS])
def test_correct_splits_hold_on_arbitrary_data(entry):
    """Every correct split of the catalog satisfies the check's invariants on random data."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    split = implementations(entry)["random_sample"]

    @settings(max_examples=15, deadline=None, derandomize=True)
    @given(
        sizes=st.lists(st.integers(1, 25), min_size=1, max_size=4),
        fraction=st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.8, 0.95]),
        seed=st.integers(0, 2**31 - 1),
    )
    def holds(sizes, fraction, seed):
        X, y = checks._split_case(
            np.random.default_rng(seed), sizes, list(range(len(sizes))), None, True, int
        )
        np.random.seed(seed)
        checks._check_one_split(split, X, y, fraction, "hypothesis")

    holds()
