"""Tests of one run of the class command (autograder.classgrade.run.grade_class)
on the fixture course: every status, idempotent re-runs, one-student re-grade,
concurrent workers against plain nbgrader, exit codes."""

import csv
import json
import os
import shutil
import subprocess

import pytest
from classgrade.fixture_course import (
    BAD_DOUBLE,
    DUE,
    GOOD,
    VARIANTS,
    VENV_BIN,
    by_id,
    gradebook_scores,
    run,
    submit,
    tree_digest,
)

import autograder.classgrade as gc

# whole runs of real kernels or a class: not part of the fast set
pytestmark = pytest.mark.slow


@pytest.fixture
def mixed_class(course):
    """A class with one student of every status, a roster and a due date."""
    submit(course, "good", GOOD, timestamp="2026-01-15 11:00:00 UTC")
    submit(course, "partial", BAD_DOUBLE)
    submit(course, "late", GOOD, timestamp="2026-01-16 12:00:00 UTC")
    # (graded students go to the workers in sorted order: the one that takes two time
    # budgets (it is retried once) is second, so it starts at once on the second worker,
    # beside the others, not after them)
    submit(course, "endless", {"double": "while True:\n    pass"})
    submit(course, "dies", {"double": "import os\nos._exit(1)"})
    submit(course, "badjson", raw=b'{"cells": [')
    submit(course, "empty", raw=b"")
    submit(course, "renamed", GOOD, name="one_neuron (1).ipynb")
    (course / "submitted" / "nofile" / "one_neuron").mkdir(parents=True)
    roster = course / "roster.csv"
    ids = [
        "good",
        "partial",
        "late",
        "endless",
        "dies",
        "badjson",
        "empty",
        "renamed",
        "nofile",
        "absent",
    ]
    roster.write_text(
        "id,first_name,last_name,email\n"
        + "".join(f"{i},First{i},Last{i},{i}@example.org\n" for i in ids)
    )
    return course


EXPECTED_STATUS = {
    "good": gc.GRADED,
    "partial": gc.GRADED,
    "late": gc.LATE,
    "endless": gc.TIMED_OUT,
    "dies": gc.KERNEL_DIED,
    "badjson": gc.INVALID,
    "empty": gc.INVALID,
    "renamed": gc.MISSING,
    "nofile": gc.MISSING,
    "absent": gc.NOT_SUBMITTED,
}


@pytest.mark.slow
def test_every_status_then_idempotent_rerun(mixed_class):
    """One run gives every status; a second run changes nothing."""
    course = mixed_class
    before = tree_digest(course / "submitted")
    code, results = run(course, roster=course / "roster.csv", duedate=DUE, timeout=20)
    res = by_id(results)
    assert {s: r.status for s, r in res.items()} == EXPECTED_STATUS
    assert code == gc.EXIT_ATTENTION
    assert (res["good"].score, res["partial"].score, res["late"].score) == (3.0, 1.0, 3.0)
    assert res["late"].seconds_late == pytest.approx(24 * 3600)
    assert "renamed? found: one_neuron (1).ipynb" in res["renamed"].detail
    assert str(course / "submitted/badjson/one_neuron/one_neuron.ipynb") in res["badjson"].detail
    assert tree_digest(course / "submitted") == before

    # roster imported by nbgrader: names in the gradebook and in the CSV export
    with open(course / "grades.csv", newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(EXPECTED_STATUS)
    assert rows["good"]["first_name"] == "Firstgood"
    assert float(rows["partial"]["score"]) == 1.0
    # no stale grade for a failed run, and no 0 that reads as a real grade
    assert rows["endless"]["score"] == "" and rows["endless"]["status"] == "not graded"
    for sid in ("good", "partial", "late"):
        assert (course / "feedback" / sid / "one_neuron" / "one_neuron.html").is_file()
    assert not (course / "feedback" / "endless").exists()
    scores, n_submissions = gradebook_scores(course)
    assert set(scores) == {"good", "partial", "late"}

    csv_before = (course / "grades.csv").read_text()
    code2, results2 = run(course, roster=course / "roster.csv", duedate=DUE, timeout=20)
    assert code2 == code
    assert {r.student_id: (r.status, r.score) for r in results2} == {
        r.student_id: (r.status, r.score) for r in results
    }
    assert (course / "grades.csv").read_text() == csv_before
    assert gradebook_scores(course) == (scores, n_submissions)
    assert tree_digest(course / "submitted") == before


@pytest.mark.slow
def test_concurrent_workers_lose_no_grade_and_match_plain_nbgrader(course, tmp_path):
    """12 submissions on 3 workers: every grade present and equal to a plain
    sequential `nbgrader autograde` of the same submission. (Students s00..s03 hold
    the four variants and s04..s11 byte-identical copies of them: plain nbgrader
    grades s00..s03 once, its grades of the copies would be the same.)"""
    names = list(VARIANTS)
    expected = {}
    for i in range(12):
        variant = names[i % len(names)]
        submit(course, f"s{i:02d}", VARIANTS[variant][0])
        expected[f"s{i:02d}"] = VARIANTS[variant][1]
    plain = tmp_path / "plain"
    shutil.copytree(course, plain)
    for i in range(len(names), 12):
        shutil.rmtree(plain / "submitted" / f"s{i:02d}")
    notebook = "one_neuron/one_neuron.ipynb"
    for i in range(12):  # the copies are the same notebooks
        original = plain / "submitted" / f"s{i % len(names):02d}" / notebook
        assert (course / "submitted" / f"s{i:02d}" / notebook).read_bytes() == original.read_bytes()

    code, results = run(course, workers=3)
    assert code == gc.EXIT_OK
    assert {r.student_id: r.score for r in results} == expected
    ours, n_ours = gradebook_scores(course)

    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(
        [str(VENV_BIN / "nbgrader"), "autograde", "one_neuron", "--log-level=ERROR"],
        cwd=plain,
        env=env,
        check=True,
        capture_output=True,
    )
    theirs, n_theirs = gradebook_scores(plain)
    assert n_ours == 12 and n_theirs == len(names)
    assert ours == {f"s{i:02d}": theirs[f"s{i % len(names):02d}"] for i in range(12)}


def test_regrade_one_student_keeps_the_others(course):
    submit(course, "a", GOOD)
    submit(course, "b", BAD_DOUBLE)
    code, _ = run(course)
    assert code == gc.EXIT_OK
    report = json.loads((course / "reports/results.json").read_text())
    seconds_a = {s["student_id"]: s["seconds"] for s in report["students"]}["a"]

    submit(course, "b", GOOD)  # the student resubmits
    code, results = run(course, students=["b"])
    assert [r.student_id for r in results] == ["a", "b"]  # the report keeps a
    assert by_id(results)["b"].score == 3.0
    assert by_id(results)["a"].seconds == seconds_a  # a was not re-graded
    scores, n = gradebook_scores(course)
    assert n == 2 and scores["a"] == {"test_double": 2.0, "test_sigmoid": 1.0}
    assert scores["b"] == {"test_double": 2.0, "test_sigmoid": 1.0}


def test_clean_class_exits_0_and_late_is_not_an_error(course):
    submit(course, "a", GOOD, timestamp="2026-01-20 00:00:00 UTC")
    submit(course, "b", {})
    code, results = run(course, duedate=DUE, workers=1)
    assert code == gc.EXIT_OK
    assert {r.student_id: r.status for r in results} == {"a": gc.LATE, "b": gc.GRADED}


def test_student_not_on_roster_needs_the_instructor(course):
    submit(course, "typo", GOOD)
    roster = course / "roster.csv"
    roster.write_text("id\nreal\n")
    code, results = run(course, roster=roster, workers=1)
    assert code == gc.EXIT_ATTENTION
    assert {r.student_id: (r.status, r.on_roster) for r in results} == {
        "typo": (gc.GRADED, False),
        "real": (gc.NOT_SUBMITTED, True),
    }
