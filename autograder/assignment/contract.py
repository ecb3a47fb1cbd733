"""The contract of the assignment "one neuron from scratch", in one place.

Everything that names this assignment's notebook, answer cells, functions, graded
cells, points or checks derives from this module: the checks, the trusted verdict
(through the grading engine's generic interface), the fixtures, the demo, the report
and the tests. The master notebook holds the same facts as nbgrader metadata;
``tests/assignment/test_contract.py`` holds the two to each other.

Renaming or re-pointing a graded cell means editing this module, the check it names
and the master notebook, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

ASSIGNMENT = "one_neuron"
NOTEBOOK = "one_neuron"
COURSE_ID = "one-neuron"


@dataclass(frozen=True)
class AnswerCell:
    """A cell the student fills: its nbgrader grade_id and the function it defines."""

    grade_id: str
    function: str


@dataclass(frozen=True)
class GradedCell:
    """A graded test cell: points, the check that judges it and what that check takes.

    ``check`` names a function of ``autograder.assignment.checks``; it is called with
    the student's implementations of ``functions`` as keyword arguments, in that order.
    """

    grade_id: str
    points: float
    check: str
    functions: tuple[str, ...]


ANSWER_CELLS: tuple[AnswerCell, ...] = (
    AnswerCell("random_sample", "random_sample"),
    AnswerCell("sigmoid", "sigmoid"),
    AnswerCell("bce_loss", "BCELoss"),
    AnswerCell("backprop", "backprop"),
)

GRADED_CELLS: tuple[GradedCell, ...] = (
    GradedCell("test_random_sample", 2.0, "check_random_sample", ("random_sample",)),
    GradedCell("test_sigmoid_values", 1.5, "check_sigmoid_values", ("sigmoid",)),
    GradedCell("test_sigmoid_stability", 0.5, "check_sigmoid_stability", ("sigmoid",)),
    GradedCell("test_bce_loss", 2.0, "check_bce_loss", ("BCELoss",)),
    GradedCell("test_backprop", 3.0, "check_backprop", ("backprop",)),
    GradedCell("test_final_accuracy", 1.0, "check_final_accuracy", ("sigmoid", "backprop")),
)

# The order the trusted verdict runs the checks in. The backprop check comes after
# every check of the student's sigmoid: it is the first to need the reference
# activation in the worker, which student code must not be able to copy earlier.
CHECK_ORDER: tuple[str, ...] = (
    "test_random_sample",
    "test_sigmoid_values",
    "test_sigmoid_stability",
    "test_bce_loss",
    "test_final_accuracy",
    "test_backprop",
)

# Given (read-only) cells whose definitions the checks and the worker provide from
# the reference instead of the student's notebook: grade_id -> name defined.
GIVEN_DEFINITIONS: dict[str, str] = {"net": "Net"}

# Derived views, so that no consumer restates them.
FUNCTIONS: tuple[str, ...] = tuple(cell.function for cell in ANSWER_CELLS)
ANSWER_IDS: tuple[str, ...] = tuple(cell.grade_id for cell in ANSWER_CELLS)
FUNCTION_OF_ANSWER: dict[str, str] = {cell.grade_id: cell.function for cell in ANSWER_CELLS}
ANSWER_OF_FUNCTION: dict[str, str] = {cell.function: cell.grade_id for cell in ANSWER_CELLS}
POINTS: dict[str, float] = {cell.grade_id: cell.points for cell in GRADED_CELLS}
TOTAL_POINTS: float = sum(POINTS.values())
GRADED: dict[str, GradedCell] = {cell.grade_id: cell for cell in GRADED_CELLS}
# Graded cells that judge one function alone (the final accuracy judges two).
OWN_CELLS: dict[str, tuple[str, ...]] = {
    function: tuple(c.grade_id for c in GRADED_CELLS if c.functions == (function,))
    for function in FUNCTIONS
}
# Graded cells that judge more than one function together.
JOINT_CELLS: tuple[str, ...] = tuple(c.grade_id for c in GRADED_CELLS if len(c.functions) > 1)

assert set(CHECK_ORDER) == set(POINTS), "CHECK_ORDER must list every graded cell once"
assert all(set(c.functions) <= set(FUNCTIONS) for c in GRADED_CELLS)
