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


# --- What the grading engine takes from this contract ------------------------------
# (autograder.preprocessors.trusted_verdict reads these through
# `c.TrustedVerdict.assignment`; the engine itself names nothing of this assignment.)


@dataclass(frozen=True)
class GivenClass:
    """A class of a given read-only cell whose instances the checks pass to student code.

    The worker builds it from the reference source (never the student's copy of the
    cell). ``state`` lists the attributes the grader and the worker keep in sync;
    ``env_attribute`` is the attribute of the grader's object that says which
    functions its methods call: ``"reference"`` (the trusted ones of
    ``REFERENCE_FUNCTIONS``) or a proxy of the student's function (the student's).
    """

    grade_id: str
    name: str
    state: tuple[str, ...]
    env_attribute: str


GIVEN_CLASSES: tuple[GivenClass, ...] = (GivenClass("net", "Net", ("w", "b"), "activation"),)
# Trusted functions the given classes' methods may call instead of the student's:
# a net with the reference sigmoid (env "reference") or with the checks' probe (env
# "probe", see checks.PROBE_SCALE). Their source reaches the worker only when the first
# object of that env is sent (after the checks of the student's own sigmoid).
REFERENCE_FUNCTIONS: tuple[str, ...] = ("sigmoid",)

assert {c.grade_id: c.name for c in GIVEN_CLASSES} == GIVEN_DEFINITIONS


def given_sources() -> dict[str, str]:
    """grade_id -> source of each given definition, taken from the reference."""
    import inspect

    from autograder.assignment import reference

    return {
        grade_id: inspect.getsource(getattr(reference, name))
        for grade_id, name in GIVEN_DEFINITIONS.items()
    }


def reference_sources() -> dict[str, str]:
    """name -> source of the trusted functions of the worker's reference namespace."""
    import inspect

    from autograder.assignment import reference

    return {name: inspect.getsource(getattr(reference, name)) for name in REFERENCE_FUNCTIONS}


def worker_envs() -> dict[str, dict[str, str]]:
    """env name -> {function name: trusted source} of each namespace the worker can build
    the given classes in, besides the student's own (env "student")."""
    from autograder.assignment import checks

    trusted = reference_sources()
    sigmoid = trusted["sigmoid"].replace("def sigmoid(", "def _reference_sigmoid(", 1)
    probe = (
        f"{sigmoid}\n\ndef sigmoid(x):\n    return _reference_sigmoid({checks.PROBE_SCALE!r} * x)\n"
    )
    return {"reference": trusted, "probe": {"sigmoid": probe}}


def given_classes() -> dict[str, type]:
    """name -> the grader's class of each given class (the reference's)."""
    from autograder.assignment import reference

    return {cls.name: getattr(reference, cls.name) for cls in GIVEN_CLASSES}
