"""A small class graded by the real class command in a course copy: what the
browser tests open (report, feedback) and what the export tests read.

Students (roster with names and emails, due date set):
- s001 perfect, on time; s002 untouched notebook; s003 backprop sign error, late;
- s004 BCE without clipping, no timestamp (lateness cannot be judged);
- s005 perfect answers plus a markdown cell and a code cell whose output carry
  ``<script>`` and an ``onerror`` handler (active content must not run);
- s006 notebook renamed (missing notebook); s007 on the roster, nothing submitted;
- s099 submitted but not on the roster.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from autograder.assignment.contract import ASSIGNMENT, NOTEBOOK
from autograder.classgrade.run import grade_class
from fixtures import samples
from fixtures.synthetic_class import copy_course, init_gradebook

DUE = "2026-01-15 12:00:00 UTC"
ON_TIME = "2026-01-14 10:00:00.000000 UTC"
LATE_TIME = "2026-01-16 18:00:00.000000 UTC"
ROSTER = [
    ("s001", "Анна", "Иванова", "s001@students.example.org", "1001"),
    ("s002", "Борис", "Петров", "s002@students.example.org", "1002"),
    ("s003", "Вера", "Сидорова", "s003@students.example.org", "1003"),
    ("s004", "Глеб", "Кузнецов", "s004@students.example.org", "1004"),
    ("s005", "Дина", "Смирнова", "s005@students.example.org", "1005"),
    ("s006", "Егор", "Попов", "s006@students.example.org", "1006"),
    ("s007", "Жанна", "Васильева", "", "1007"),
]
# Marker the page title takes if a student's script runs.
PWNED = "PWNED-by-student"
ACTIVE_MARKDOWN = (
    f"<script>document.title = '{PWNED}';</script>\n\n"
    f'<img src="nope.png" onerror="document.title = \'{PWNED}\'">'
)
ACTIVE_OUTPUT = (
    "from IPython.display import HTML, display\n"
    f"display(HTML(\"<script>document.title = '{PWNED}';</script>"
    f"<img src='nope.png' onerror=\\\"document.title = '{PWNED}'\\\">\"))"
)


def _submit(course: Path, sid: str, nb, timestamp: str | None, name: str = NOTEBOOK) -> None:
    folder = course / "submitted" / sid / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{name}.ipynb"))
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)


def build(course: Path, workers: int = 2) -> tuple[int, list]:
    """Make the course, submit the class, run the class command; (exit code, results)."""
    copy_course(course)
    init_gradebook(course, DUE)
    release = samples.read_release()
    _submit(course, "s001", samples.perfect(release), ON_TIME)
    _submit(course, "s002", samples.untouched(release), ON_TIME)
    _submit(course, "s003", samples.for_entry(release, "bp_sign"), LATE_TIME)
    _submit(course, "s004", samples.for_entry(release, "bce_no_clip"), None)
    active = samples.perfect(release)
    active.cells.append(new_markdown_cell(ACTIVE_MARKDOWN))
    active.cells.append(new_code_cell(ACTIVE_OUTPUT))
    _submit(course, "s005", active, ON_TIME)
    _submit(course, "s006", samples.perfect(release), ON_TIME, name=f"{NOTEBOOK}-Copy1")
    _submit(course, "s099", samples.perfect(release), ON_TIME)
    roster = course / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "first_name", "last_name", "email", "lms_user_id"])
        out.writerows(ROSTER)
    return grade_class(
        ASSIGNMENT,
        course_dir=course,
        roster=roster,
        workers=workers,
        timeout=600,
        log=lambda line: None,
    )


_BUILT: dict = {}


def graded_class(tmp_path_factory) -> tuple[Path, int, list]:
    """The small class graded once per test session: (course, exit code, results)."""
    if "course" not in _BUILT:
        course = tmp_path_factory.mktemp("small_class") / "course"
        code, results = build(course)
        _BUILT.update(course=course, code=code, results=results)
    return _BUILT["course"], _BUILT["code"], _BUILT["results"]
