"""The class-grading command: collect, pre-check, grade in parallel, merge, report.

Modules, one job each:

- ``results``   statuses, exit codes, ``StudentResult`` and the "needs the instructor" rule
- ``app``       the course's nbgrader app, in-process nbgrader sub-commands, the sandbox check
- ``collect``   roster import, LMS zip collection, a submission folder as plain data
- ``precheck``  what makes a submission ungradable, checked before grading
- ``task``      ``grade_student``: one student in a private scratch course, plain data in and out
- ``pool``      the local engine: worker processes running tasks, time budgets (psutil kills)
- ``gradebook`` assignment-only gradebooks for tasks; the coordinator's merge and file store
- ``run``       ``grade_class``: one run of the command, end to end
- ``report``    the HTML report and the text summary
- ``cli``       argparse and ``main`` (``python -m autograder.classgrade``)

The names below are the package's public API (``import autograder.classgrade as classgrade``).
"""

from autograder.classgrade.app import run_nbgrader_app
from autograder.classgrade.cli import main
from autograder.classgrade.precheck import check_submission
from autograder.classgrade.results import (
    ERROR,
    EXIT_ATTENTION,
    EXIT_OK,
    EXIT_USAGE,
    GRADED,
    INVALID,
    KERNEL_DIED,
    LATE,
    MISSING,
    NEEDS_INSTRUCTOR,
    NOT_SUBMITTED,
    STATUSES,
    TIMED_OUT,
    GradeClassError,
    StudentResult,
)
from autograder.classgrade.run import grade_class

__all__ = [
    "ERROR",
    "EXIT_ATTENTION",
    "EXIT_OK",
    "EXIT_USAGE",
    "GRADED",
    "INVALID",
    "KERNEL_DIED",
    "LATE",
    "MISSING",
    "NEEDS_INSTRUCTOR",
    "NOT_SUBMITTED",
    "STATUSES",
    "TIMED_OUT",
    "GradeClassError",
    "StudentResult",
    "check_submission",
    "grade_class",
    "main",
    "run_nbgrader_app",
]
