"""The command line: ``python -m autograder.classgrade`` (and ``make grade``).

Exit status: 0 when nothing needs the instructor, 1 when something does (the
summary lists it: any status but graded/late/not submitted, a failed feedback,
a student not on the ``--roster``), 2 on a usage or set-up error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.classgrade.app import make_app
from autograder.classgrade.collect import LMS_REGEXPS
from autograder.classgrade.gradebook import ensure_assignment
from autograder.classgrade.results import EXIT_OK, EXIT_USAGE, GradeClassError
from autograder.classgrade.run import grade_class, only_assignment


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m autograder.classgrade",
        description="Collect, autograde in parallel, make feedback, grades CSV and an HTML "
        "report for a whole class (run in the course directory).",
    )
    p.add_argument(
        "assignment",
        nargs="?",
        default=None,
        help="assignment id (default: the course's one assignment in source/)",
    )
    p.add_argument("--course-dir", default=".", help="course directory (default: .)")
    p.add_argument(
        "--zip",
        dest="zip_path",
        type=Path,
        help="LMS export to collect into submitted/ with nbgrader zip_collect",
    )
    p.add_argument(
        "--lms",
        choices=sorted(LMS_REGEXPS),
        default="moodle",
        help="file naming of the --zip export (default: moodle)",
    )
    p.add_argument(
        "--regexp",
        help="custom FileNameCollectorPlugin.named_regexp "
        "(groups student_id and file_id, optional timestamp)",
    )
    p.add_argument("--roster", type=Path, help="CSV for 'nbgrader db student import'")
    p.add_argument("--duedate", help="due date, as for 'nbgrader db assignment add --duedate'")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on the Dask cluster of this scheduler (tcp://host:8786 or tls://...) "
        "instead of local worker processes",
    )
    p.add_argument(
        "--timeout",
        type=float,
        # A hang guard (issue 8 item 4): one honest student takes 31-46 s at load 17-57
        # with 2 workers (benchmarks/bench_hang_guards.py); 600 s is 13x that and leaves
        # room for SandboxedExecute's re-run of a notebook whose cells hit their guard.
        default=600.0,
        help="time budget per notebook in seconds, autograde and feedback together; a "
        "student over it is graded once more in a fresh worker before 'timed out' is "
        "final (default: 600)",
    )
    p.add_argument(
        "--student",
        action="append",
        dest="students",
        metavar="ID",
        help="grade only this student (repeatable)",
    )
    p.add_argument(
        "--unsafe",
        action="store_true",
        help="allow grading without the sandbox (sets ONE_NEURON_UNSAFE=1)",
    )
    p.add_argument(
        "--report-dir",
        default="reports",
        help="HTML report, plots, results.json and per-student logs "
        "(relative to the course directory; default: reports)",
    )
    p.add_argument(
        "--grades-csv",
        default="grades.csv",
        help="nbgrader's CSV export of the grades (default: grades.csv)",
    )
    p.add_argument(
        "--no-feedback",
        dest="feedback",
        action="store_false",
        help="skip generate_feedback (autograde only)",
    )
    p.add_argument(
        "--prepare",
        action="store_true",
        help="only add the assignment to the gradebook from the committed course when it "
        "is missing (what 'make venv' runs; grading does it too), then exit",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse argv, run :func:`grade_class`; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.assignment is None:
            args.assignment = only_assignment(args.course_dir)
        if args.prepare:
            app = make_app(Path(args.course_dir))
            if not ensure_assignment(app, args.assignment):
                print(f"gradebook: assignment {args.assignment!r} present")
            return EXIT_OK
        code, _ = grade_class(
            args.assignment,
            course_dir=args.course_dir,
            zip_path=args.zip_path,
            lms=args.lms,
            regexp=args.regexp,
            roster=args.roster,
            duedate=args.duedate,
            workers=args.workers,
            scheduler=args.scheduler,
            timeout=args.timeout,
            students=args.students,
            unsafe=args.unsafe,
            report_dir=args.report_dir,
            grades_csv=args.grades_csv,
            feedback=args.feedback,
        )
    except GradeClassError as exc:
        print(f"classgrade: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code
