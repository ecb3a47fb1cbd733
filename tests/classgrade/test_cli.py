"""Tests of the command line (autograder.classgrade.cli): usage errors exit 2
with a message naming the problem."""

import pytest
from classgrade.fixture_course import GOOD, submit

import autograder.classgrade as gc


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--roster", "missing.csv"], "roster file not found"),
        (["--zip", "missing.zip"], "zip file not found"),
        (["--duedate", "not a date"], "cannot parse"),
        (["--student", "nobody"], "nobody"),
        (["other_assignment"], "is not in the gradebook"),
    ],
)
def test_usage_errors_exit_2(course, capsys, argv, message):
    submit(course, "a", GOOD)
    assert gc.main(["--course-dir", str(course), *argv]) == gc.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_a_broken_course_config_exits_2_naming_the_file(course, capsys):
    """nbgrader alone would log the error and grade with its defaults (no sandbox)."""
    submit(course, "a", GOOD)
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.Foo = undefined_name\n")
    assert gc.main(["--course-dir", str(course)]) == gc.EXIT_USAGE
    err = capsys.readouterr().err
    assert str(course / "nbgrader_config.py") in err and "undefined_name" in err
