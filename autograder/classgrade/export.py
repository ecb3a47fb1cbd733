"""Grades for people and for an LMS: the grades CSV with a status column, and
Moodle's and Canvas's grade-import CSVs, matched through the roster.

Nothing ungraded ever reads as zero: a student whose submission was not graded
(missing or invalid notebook, not submitted, over the time budget, a grading
error) has an empty score and a status saying why; the LMS files leave that
student's grade empty too, never 0 (Moodle's CSV import reads an empty cell
as "no grade").

Files written by :func:`write_exports` beside ``grades.csv``:

- ``grades.csv``: one row per student: id, names and email from the roster,
  ``status`` (``graded``, ``late``, ``needs review`` -- graded, but the run had
  a problem, e.g. a cell over the kernel timeout --, ``not graded``), ``reason``,
  score, max score, hours late, nbgrader's timestamp and the points per graded
  cell, in the order of the cells in the assignment's notebooks
  (:func:`graded_cell_order`);
- ``grades-moodle.csv``: the layout of Moodle's own grade export ("First name",
  "Last name", "ID number", "Email address", then one column per grade item),
  which its "Import grades > CSV file" takes back; map "Email address" to
  ``useremail`` in the import's preview (Moodle aborts the whole import on a row
  whose user it cannot find, so rows without an email are left out and named);
- ``grades-canvas.csv``: the layout of Canvas's gradebook export ("Student",
  "ID", "SIS User ID", "SIS Login ID", "Section", one column per assignment, a
  "Points Possible" row) that its "Import" takes back; "ID" is the roster's
  ``lms_user_id`` or else the student id (a Canvas zip's student id is the
  Canvas user id).

Only students on the roster (or, with no roster, in the gradebook) with a
status of graded or late get a score in the LMS files.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from autograder.classgrade.results import GRADED, LATE, StudentResult

GRADED_STATUS, LATE_STATUS, REVIEW_STATUS, NOT_GRADED_STATUS = (
    "graded",
    "late",
    "needs review",
    "not graded",
)
GRADES_COLUMNS = (
    "student_id",
    "first_name",
    "last_name",
    "email",
    "status",
    "reason",
    "score",
    "max_score",
    "hours_late",
    "timestamp",
)
MOODLE_COLUMNS = ("First name", "Last name", "ID number", "Email address")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


@dataclasses.dataclass(frozen=True)
class Person:
    """A student as the gradebook knows them (from ``nbgrader db student import``)."""

    student_id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""

    @property
    def name(self) -> str:
        return " ".join(filter(None, [self.first_name, self.last_name]))


def read_people(gb) -> dict[str, Person]:
    """Every student of an open nbgrader ``Gradebook``, by id."""
    return {
        s.id: Person(
            s.id, s.first_name or "", s.last_name or "", s.email or "", s.lms_user_id or ""
        )
        for s in gb.students
    }


def notebook_cell_order(path: Path) -> list[str]:
    """grade_ids of the nbgrader cells of a notebook file, in the notebook's order."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            out.append(meta["grade_id"])
    return out


def graded_cell_order(record, folders: Sequence[Path]) -> list[str]:
    """The graded cells of an nbgrader ``Assignment`` record, notebook by notebook
    (by name) in the order they appear in the notebook: nbgrader's gradebook keeps
    no cell order (its lists follow the database's row order, which nothing fixes).

    Each notebook's order is read from the first of ``folders`` (the assignment's
    ``source/``, then ``release/`` folder) holding a readable ``<name>.ipynb``; a
    cell found in none comes after the others, by name. (An unreadable notebook is
    passed over: a column order is not worth losing the grades CSV of a run.)"""
    out = []
    for notebook in sorted(record.notebooks, key=lambda nb: nb.name):
        position: dict[str, int] = {}
        for folder in folders:
            try:
                order = notebook_cell_order(Path(folder) / f"{notebook.name}.ipynb")
            except (OSError, ValueError, AttributeError):
                continue
            position = {gid: i for i, gid in enumerate(order)}
            break
        names = [cell.name for cell in notebook.grade_cells]
        out += sorted(names, key=lambda n: (n not in position, position.get(n, 0), n))
    return out


def grade_status(result: StudentResult) -> tuple[str, str]:
    """(status for the grades CSV, reason) of one student."""
    if result.score is None:
        reason = result.status + (f": {result.detail}" if result.detail else "")
        return NOT_GRADED_STATUS, reason
    if result.status == GRADED:
        return GRADED_STATUS, result.detail
    if result.status == LATE:
        return LATE_STATUS, f"late by {result.seconds_late / 3600:.1f} h" + (
            f"; {result.detail}" if result.detail else ""
        )
    return REVIEW_STATUS, result.status + (f": {result.detail}" if result.detail else "")


def lms_score(result: StudentResult) -> float | None:
    """The score an LMS may record: graded or late students only."""
    status, _ = grade_status(result)
    return result.score if status in (GRADED_STATUS, LATE_STATUS) else None


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def write_grades_csv(
    results: Iterable[StudentResult],
    path: Path,
    people: dict[str, Person],
    cells: Iterable[str],
    max_score: float,
) -> None:
    cells = list(cells)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow([*GRADES_COLUMNS, *cells])
        for r in results:
            person = people.get(r.student_id, Person(r.student_id))
            status, reason = grade_status(r)
            if not r.on_roster:
                reason = "; ".join(filter(None, [reason, "not on the roster"]))
            graded = r.score is not None
            out.writerow(
                [
                    r.student_id,
                    person.first_name,
                    person.last_name,
                    person.email,
                    status,
                    reason,
                    _num(r.score),
                    _num(r.max_score if graded else max_score),
                    f"{r.seconds_late / 3600:.2f}" if graded and r.seconds_late > 0 else "",
                    r.timestamp or "",
                    *(_num(r.cells[c][0]) if graded and c in r.cells else "" for c in cells),
                ]
            )


def write_moodle_csv(
    results: Iterable[StudentResult], path: Path, people: dict[str, Person], assignment: str
) -> list[str]:
    """Moodle's grade-import layout; returns the ids left out (no email)."""
    left_out = []
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow([*MOODLE_COLUMNS, assignment])
        for r in results:
            person = people.get(r.student_id)
            if not r.on_roster or person is None or not person.email:
                left_out.append(r.student_id)
                continue
            out.writerow(
                [
                    person.first_name,
                    person.last_name,
                    person.lms_user_id,
                    person.email,
                    _num(lms_score(r)),
                ]
            )
    return left_out


def write_canvas_csv(
    results: Iterable[StudentResult],
    path: Path,
    people: dict[str, Person],
    assignment: str,
    max_score: float,
) -> list[str]:
    """Canvas's gradebook-import layout; returns the ids left out (not on the roster)."""
    left_out = []
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow([*CANVAS_COLUMNS, assignment])
        out.writerow(["Points Possible", "", "", "", "", _num(max_score)])
        for r in results:
            if not r.on_roster:
                left_out.append(r.student_id)
                continue
            person = people.get(r.student_id, Person(r.student_id))
            name = ", ".join(filter(None, [person.last_name, person.first_name]))
            out.writerow(
                [
                    name or r.student_id,
                    person.lms_user_id or r.student_id,
                    "",
                    "",
                    "",
                    _num(lms_score(r)),
                ]
            )
    return left_out


def lateness_warning(results: Iterable[StudentResult], duedate) -> str | None:
    """A warning when a due date is set but some graded submission has no
    submission time (e.g. a Moodle zip carries none): lateness is not judged."""
    if duedate is None:
        return None
    blind = sorted(r.student_id for r in results if r.score is not None and not r.timestamp)
    if not blind:
        return None
    shown = ", ".join(blind[:10]) + (", ..." if len(blind) > 10 else "")
    return (
        f"WARNING: a due date is set ({duedate}) but {len(blind)} graded submission(s) "
        f"have no submission time, so lateness cannot be judged for: {shown}. "
        "An LMS zip without times (Moodle's) or a submission without timestamp.txt "
        "gives no time: judge lateness in the LMS."
    )


def write_exports(
    results: list[StudentResult],
    grades_csv: Path,
    people: dict[str, Person],
    *,
    assignment: str,
    cells: Iterable[str],
    max_score: float,
) -> dict:
    """Write grades.csv and the two LMS files beside it.

    Returns their paths and, under ``"<lms>_left_out"``, the ids missing from each LMS file."""
    grades_csv = Path(grades_csv)
    grades_csv.parent.mkdir(parents=True, exist_ok=True)
    results = sorted(results, key=lambda r: r.student_id)
    moodle = grades_csv.with_name(grades_csv.stem + "-moodle.csv")
    canvas = grades_csv.with_name(grades_csv.stem + "-canvas.csv")
    write_grades_csv(results, grades_csv, people, cells, max_score)
    return {
        "grades": grades_csv,
        "moodle": moodle,
        "canvas": canvas,
        "moodle_left_out": write_moodle_csv(results, moodle, people, assignment),
        "canvas_left_out": write_canvas_csv(results, canvas, people, assignment, max_score),
    }


def export_warnings(results: list[StudentResult], duedate, exports: dict) -> list[str]:
    """What the instructor must know before uploading: lateness not judged,
    students missing from an LMS file."""
    warnings = [w for w in [lateness_warning(results, duedate)] if w]
    for lms, why in (("moodle", "not on the roster or no email"), ("canvas", "not on the roster")):
        missing = exports.get(f"{lms}_left_out") or []
        if missing:
            warnings.append(
                f"{Path(exports[lms]).name}: {len(missing)} student(s) left out ({why}): "
                + ", ".join(missing)
            )
    return warnings
