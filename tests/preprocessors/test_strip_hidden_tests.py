"""StripHiddenTests (nbgrader's ClearHiddenTests): feedback shows each failing check's message
but never the hidden tests; malformed markers never abort a submission."""

import html
from pathlib import Path

import nbformat
import pytest
from integration.graded_course import grade_id, graded_unstable, shared_course
from nbgrader_helpers import ASSIGNMENT, nbgrader_api

from autograder.assignment.checks import CHECKS
from autograder.preprocessors.strip_hidden_tests import PLACEHOLDER, strip_hidden_tests


@pytest.fixture(scope="module")
def feedback_html(tmp_path_factory):
    course = shared_course(tmp_path_factory)
    graded_unstable(course)
    result = nbgrader_api(course).generate_feedback(ASSIGNMENT, "unstable", force=True)
    assert result["success"], result.get("error", "") + result.get("log", "")
    return (Path(course) / "feedback" / "unstable" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()


def test_feedback_shows_the_failing_checks_message(feedback_html, tmp_path_factory):
    """Does the student see the message of the failed test_sigmoid_stability, and the passes?"""
    _, graded_nb = graded_unstable(shared_course(tmp_path_factory))
    (cell,) = [c for c in graded_nb.cells if grade_id(c) == "test_sigmoid_stability"]
    message = cell.outputs[0].evalue
    assert message and html.escape(message.splitlines()[0]) in feedback_html
    assert "Скрытые проверки пройдены." in feedback_html


@pytest.mark.parametrize(
    "secret",
    [
        "BEGIN HIDDEN TESTS",
        "END HIDDEN TESTS",
        "autograder",
        "Traceback (most recent call last)",
    ]
    + [check.__name__ for check, _ in CHECKS.values()],
)
def test_feedback_hides_the_hidden_tests(feedback_html, secret):
    """Is nothing of the hidden tests (markers, check calls, grader modules) in the feedback?"""
    assert secret not in feedback_html


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "a = 1\n### BEGIN HIDDEN TESTS\nsecret()\n### END HIDDEN TESTS\nb = 2",
            f"a = 1\n{PLACEHOLDER}\nb = 2",
        ),
        (
            "    ### BEGIN HIDDEN TESTS\n    secret()\n    ### END HIDDEN TESTS",
            f"    {PLACEHOLDER}",
        ),
        ("x\n### BEGIN HIDDEN TESTS\nsecret()", f"x\n{PLACEHOLDER}"),
        (
            "x\n### BEGIN HIDDEN TESTS\n### BEGIN HIDDEN TESTS\ns()\n### END HIDDEN TESTS\ny",
            f"x\n{PLACEHOLDER}",
        ),
        ("x\n### END HIDDEN TESTS\ny", "x\ny"),
        ("no markers\n", "no markers\n"),
    ],
)
def test_strip_hidden_tests(source, expected):
    """Are hidden regions (also unclosed and nested ones, and stray end markers) removed?"""
    assert strip_hidden_tests(source) == expected


def test_markdown_cells_lose_hidden_regions_without_a_placeholder():
    """Is a hidden region of a markdown cell dropped with no code comment in its place?"""
    source = "text\n### BEGIN HIDDEN TESTS\nsecret\n### END HIDDEN TESTS"
    assert strip_hidden_tests(source, "markdown") == "text"


def test_it_is_nbgraders_clear_hidden_tests_with_its_delimiters():
    """Is StripHiddenTests a ClearHiddenTests honouring nbgrader's configured delimiters?"""
    from nbgrader.preprocessors import ClearHiddenTests
    from traitlets.config import Config

    from autograder.preprocessors.strip_hidden_tests import StripHiddenTests

    config = Config()
    config.ClearHiddenTests.begin_test_delimeter = "BEGIN SECRET"
    config.ClearHiddenTests.end_test_delimeter = "END SECRET"
    strip = StripHiddenTests(config=config)
    assert isinstance(strip, ClearHiddenTests)
    cell = nbformat.v4.new_code_cell("a\n# BEGIN SECRET\nb\n# END SECRET\nc")
    strip.preprocess_cell(cell, {}, 0)
    assert cell.source == f"a\n{PLACEHOLDER}\nc"
