"""Build a synthetic class of submissions for the demo and the benchmark.

    python -m autograder.synthetic_class COURSE_DIR [--size 36] [--zip export.zip]

makes ``COURSE_DIR`` a copy of this course (nbgrader_config.py, source/,
release/), creates its gradebook (``nbgrader generate_assignment``), sets the
due date (``nbgrader db assignment add --duedate``), writes submissions built
from ``autograder.catalog`` with ``autograder.samples`` and a roster CSV
(imported with ``nbgrader db student import``), plus
``synthetic_class.json``: what each student is and the status and points the
grader should give.

The class: a perfect and an untouched notebook, catalog entries round-robin
over the four functions (mistakes and correct variants), and the broken
submissions every run meets -- invalid JSON, an empty file, an infinite loop
in an answer cell, a kernel that dies, a student folder without the notebook,
a renamed notebook, a late submission -- and one roster student who submitted
nothing. With ``--zip`` the notebooks go into a Moodle-style export instead of
``submitted/`` (folders ``<Name>_<id>_assignsubmission_file_/``; a zip carries
no timestamps, so nobody is late then).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import nbformat

from autograder import ASSIGNMENT, NOTEBOOK
from autograder.grade_class import run_nbgrader_app

ROOT = Path(__file__).resolve().parents[1]
DUEDATE = "2026-11-20 23:59:00 UTC"
ON_TIME = "2026-11-20 18:30:00 UTC"
LATE = "2026-11-22 09:15:00 UTC"
FIRST = ["Anna", "Boris", "Vera", "Gleb", "Daria", "Egor", "Zoya", "Ilya", "Kira", "Lev",
         "Maria", "Nikita", "Olga", "Pavel", "Rita", "Semyon", "Tanya", "Ulyana", "Fyodor",
         "Yulia"]
LAST = ["Ivanova", "Petrov", "Smirnova", "Kuznetsov", "Popova", "Sokolov", "Lebedeva",
        "Kozlov", "Novikova", "Morozov", "Volkova", "Zaitsev", "Pavlova", "Semenov"]
# A top-level infinite loop: the kernel hangs in the answer cell.
LOOP = "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n\nwhile True:\n    pass\n"
# The kernel process exits in the middle of the notebook.
DIE = "import os\nos._exit(3)\n"


def copy_course(course: Path) -> None:
    """A fresh course directory with this course's config, master and release."""
    if course.exists():
        shutil.rmtree(course)
    course.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "source", course / "source")
    if (ROOT / "release" / ASSIGNMENT).is_dir():
        shutil.copytree(ROOT / "release", course / "release")


def init_gradebook(course: Path, duedate: str | None) -> None:
    """nbgrader generate_assignment (creates the gradebook entries) and the due date."""
    from nbgrader.apps.dbapp import DbAssignmentAddApp
    from nbgrader.apps.generateassignmentapp import GenerateAssignmentApp

    run_nbgrader_app(GenerateAssignmentApp, course, [ASSIGNMENT, "--force"])
    if duedate:
        run_nbgrader_app(DbAssignmentAddApp, course, [ASSIGNMENT, f"--duedate={duedate}"])


def roster_row(i: int) -> tuple[str, str, str, str]:
    """(id, first_name, last_name, email) of the i-th student (0-based)."""
    sid = f"s{i + 1:03d}"
    return sid, FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)], f"{sid}@students.example.org"


def gradable_students(release_nb, size: int) -> list[dict]:
    """``size`` gradable submissions: perfect, untouched, then catalog entries
    round-robin over the functions (mistakes first), each with its expected points."""
    from autograder import catalog, samples

    people = [{"kind": "perfect", "nb": samples.perfect(release_nb),
               "points": dict(catalog.POINTS)},
              {"kind": "untouched", "nb": samples.untouched(release_nb),
               "points": {cell: 0.0 for cell in catalog.POINTS}}]
    queues = [catalog.entries(function=f, correct=False) + catalog.entries(function=f, correct=True)
              for f in catalog.FUNCTIONS]
    order = []
    while any(queues):
        for q in queues:
            if q:
                order.append(q.pop(0))
    for entry in order:
        people.append({"kind": f"catalog:{entry.name}", "nb": samples.for_entry(release_nb, entry),
                       "points": entry.expected_points()})
    while len(people) < size:  # more students than catalog entries: repeat
        base = people[len(people) % len(order) + 2]
        people.append(dict(base))
    return people[:size]


def broken_students(release_nb) -> list[dict]:
    from autograder import samples

    good = samples.perfect(release_nb)
    return [
        {"kind": "invalid JSON", "raw": nbformat.writes(good)[:-200].encode(),
         "status": "invalid notebook"},
        {"kind": "empty file", "raw": b"", "status": "invalid notebook"},
        {"kind": "infinite loop", "nb": samples.build_submission(release_nb, {"sigmoid": LOOP}),
         "status": "timed out"},
        {"kind": "kernel dies", "nb": samples.build_submission(release_nb, {"sigmoid": DIE}),
         "status": "kernel died"},
        {"kind": "no notebook", "files": {}, "status": "missing notebook"},
        {"kind": "renamed notebook", "nb": good, "name": f"{NOTEBOOK}-Copy1.ipynb",
         "status": "missing notebook"},
        {"kind": "late", "nb": good, "timestamp": LATE, "status": "late"},
    ]


def build_class(course: Path | str, size: int = 36, broken: bool = True,
                zip_path: Path | str | None = None, duedate: str | None = DUEDATE) -> dict:
    """Create the course and the class; returns the manifest (also written to
    ``<course>/synthetic_class.json``)."""
    from autograder import catalog, samples

    course = Path(course).resolve()
    copy_course(course)
    init_gradebook(course, duedate)
    release_nb = samples.read_release(course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")

    people = gradable_students(release_nb, size)
    for person in people:
        person["status"] = "graded"
    if broken:
        people += broken_students(release_nb)
    people.append({"kind": "did not submit", "status": "not submitted", "absent": True})

    manifest = {"assignment": ASSIGNMENT, "duedate": duedate, "students": {}}
    roster = ["id,first_name,last_name,email"]
    archive = zipfile.ZipFile(zip_path, "w") if zip_path else None
    try:
        for i, person in enumerate(people):
            sid, first, last, _ = roster_row(i)
            roster.append(",".join(roster_row(i)))
            manifest["students"][sid] = {
                "kind": person["kind"], "status": person["status"],
                "points": person.get("points"),
                "score": sum(person["points"].values()) if person.get("points") else None}
            if person.get("absent"):
                continue
            name = person.get("name", f"{NOTEBOOK}.ipynb")
            data = person["raw"] if "raw" in person else (
                nbformat.writes(person["nb"]).encode() if "nb" in person else None)
            if archive is not None:
                folder = f"{first} {last}_{sid}_assignsubmission_file_/"
                if data is None:
                    archive.writestr(folder + "readme.txt", "forgot the notebook\n")
                else:
                    archive.writestr(folder + name, data)
                continue
            folder = course / "submitted" / sid / ASSIGNMENT
            folder.mkdir(parents=True)
            if data is not None:
                (folder / name).write_bytes(data)
            (folder / "timestamp.txt").write_text(person.get("timestamp", ON_TIME))
    finally:
        if archive is not None:
            archive.close()
    if zip_path:
        for entry in manifest["students"].values():
            if entry["status"] == "late":  # no timestamps in a zip: nobody is late
                entry["status"] = "graded"
            elif entry["kind"] == "no notebook":  # zip_collect skips non-notebook files
                entry["status"] = "not submitted"
    (course / "roster.csv").write_text("\n".join(roster) + "\n")
    from nbgrader.apps.dbapp import DbStudentImportApp
    run_nbgrader_app(DbStudentImportApp, course, [str(course / "roster.csv")])
    manifest["total_points"] = catalog.TOTAL_POINTS
    (course / "synthetic_class.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.synthetic_class",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("course_dir", type=Path, help="course directory to create (replaced)")
    parser.add_argument("--size", type=int, default=36,
                        help="gradable submissions (default 36; 7 broken ones are added)")
    parser.add_argument("--no-broken", dest="broken", action="store_false")
    parser.add_argument("--zip", dest="zip_path", type=Path,
                        help="write a Moodle-style export here instead of submitted/")
    parser.add_argument("--duedate", default=DUEDATE)
    args = parser.parse_args(argv)
    if args.size < 2:
        parser.error("--size must be at least 2")
    if args.course_dir.resolve() == ROOT:
        parser.error("refusing to replace the course repository itself")
    manifest = build_class(args.course_dir, args.size, args.broken, args.zip_path, args.duedate)
    counts = {}
    for entry in manifest["students"].values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    where = args.zip_path if args.zip_path else args.course_dir / "submitted"
    print(f"{len(manifest['students'])} students in {where} "
          f"(expected: {', '.join(f'{n} {s}' for s, n in counts.items())}); "
          f"roster {args.course_dir / 'roster.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
