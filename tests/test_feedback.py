"""Feedback shows each failing check's message but never the hidden tests."""

from pathlib import Path

import pytest
from nbgrader_helpers import ASSIGNMENT, nbgrader_api
from test_trusted_verdict import graded_naive, shared_course

from autograder.assignment.checks import CHECKS
from autograder.preprocessors.strip_hidden_tests import PLACEHOLDER, strip_hidden_tests


@pytest.fixture(scope="module")
def feedback_html(tmp_path_factory):
    course = shared_course(tmp_path_factory)
    graded_naive(course)
    result = nbgrader_api(course).generate_feedback(ASSIGNMENT, "naive", force=True)
    assert result["success"], result.get("error", "") + result.get("log", "")
    return (Path(course) / "feedback" / "naive" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()


def test_feedback_shows_the_failing_checks_message(feedback_html):
    """Does the student see why test_sigmoid_stability failed?"""
    assert "overflow encountered in exp" in feedback_html
    assert "exp(-x) переполняется при больших отрицательных x" in feedback_html
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
        ("x\n### END HIDDEN TESTS\ny", "x\ny"),
        ("no markers\n", "no markers\n"),
    ],
)
def test_strip_hidden_tests(source, expected):
    """Are hidden regions (also unclosed ones and stray end markers) removed?"""
    assert strip_hidden_tests(source) == expected
