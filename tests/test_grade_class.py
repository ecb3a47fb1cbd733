"""Tests of the class grading command (autograder.classgrade.command).

They grade a small fixture course (two answer cells, two graded cells, plain
nbgrader configuration), so that they test the orchestration -- collection,
statuses, parallel workers, gradebook merging, re-runs -- independently of the
course's notebook and sandbox.
"""

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.classgrade import command as gc

VENV_BIN = Path(sys.executable).parent
GOOD = {
    "double": "def double(x):\n    return 2 * x",
    "sigmoid": "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))",
}
BAD_DOUBLE = {"double": "def double(x):\n    return 3 * x", "sigmoid": GOOD["sigmoid"]}
BAD_SIGMOID = {"double": GOOD["double"], "sigmoid": "def sigmoid(x):\n    return x"}
VARIANTS = {
    "good": (GOOD, 3.0),
    "bad_double": (BAD_DOUBLE, 1.0),
    "bad_sigmoid": (BAD_SIGMOID, 2.0),
    "untouched": ({}, 0.0),
}
DUE = "2026-01-15 12:00:00 UTC"


def _meta(grade_id, **kw):
    meta = {
        "grade": False,
        "solution": False,
        "locked": False,
        "grade_id": grade_id,
        "schema_version": 3,
    }
    meta.update(kw)
    return {"nbgrader": meta}


def _master():
    nb = new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_code_cell("import numpy as np", metadata=_meta("imports", locked=True)),
        new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            metadata=_meta("double", solution=True),
        ),
        new_code_cell(
            "assert double(2) == 4",
            metadata=_meta("test_double", grade=True, locked=True, points=2),
        ),
        new_code_cell(
            "def sigmoid(x):\n    ### BEGIN SOLUTION\n    return 1 / (1 + np.exp(-x))\n"
            "    ### END SOLUTION",
            metadata=_meta("sigmoid", solution=True),
        ),
        new_code_cell(
            "assert abs(sigmoid(0.0) - 0.5) < 1e-9",
            metadata=_meta("test_sigmoid", grade=True, locked=True, points=1),
        ),
    ]
    return nb


@pytest.fixture(scope="session")
def template_course(tmp_path_factory):
    from nbgrader.apps.generateassignmentapp import GenerateAssignmentApp

    root = tmp_path_factory.mktemp("template") / "course"
    (root / "source" / "one_neuron").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "fixture"\nc.Execute.timeout = 120\n'
    )
    nbformat.write(_master(), root / "source/one_neuron/one_neuron.ipynb")
    gc.run_nbgrader_app(GenerateAssignmentApp, root, ["one_neuron"])
    return root


@pytest.fixture
def course(template_course, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(template_course, root)
    return root


def notebook_bytes(root, codes):
    """The release notebook with the answer cells replaced by ``codes``."""
    nb = nbformat.read(Path(root) / "release/one_neuron/one_neuron.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in codes:
            cell.source = codes[gid]
    return nbformat.writes(nb).encode()


def submit(root, sid, codes=None, raw=None, timestamp=None, name="one_neuron.ipynb"):
    folder = Path(root) / "submitted" / sid / "one_neuron"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(raw if raw is not None else notebook_bytes(root, codes or {}))
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)
    return folder


def tree_digest(path):
    """Hash of names, contents and mtimes of every file under path."""
    h = hashlib.sha256()
    for p in sorted(Path(path).rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
            h.update(str(p.stat().st_mtime_ns).encode())
    return h.hexdigest()


def gradebook_scores(root):
    """{student: {grade cell: auto_score}} and the number of submissions."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        out = {}
        n = 0
        for sub in gb.assignment_submissions("one_neuron"):
            n += 1
            out[sub.student.id] = {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades}
        return out, n


def run(root, **kw):
    kw.setdefault("workers", 2)
    kw.setdefault("timeout", 60)
    return gc.grade_class("one_neuron", course_dir=root, log=lambda *a: None, **kw)


def by_id(results):
    return {r.student_id: r for r in results}


# ---------------------------------------------------------------- unit checks


@pytest.mark.parametrize(
    "raw, problem",
    [
        (b"", "empty file"),
        (b"   \n", "empty file"),
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "not a notebook"),
        (
            json.dumps({"nbformat": 3, "nbformat_minor": 0, "cells": []}).encode(),
            "old notebook format",
        ),
        (json.dumps({"nbformat": 4, "cells": [1]}).encode(), "cell 0 is not an object"),
    ],
)
def test_notebook_problem_names_the_problem(tmp_path, raw, problem):
    """Is every kind of unreadable notebook recognised, with a useful message?"""
    path = tmp_path / "one_neuron.ipynb"
    path.write_bytes(raw)
    assert problem in gc.notebook_problem(path)


@pytest.mark.parametrize(
    "cells, note",
    [
        ([{"id": "a"}, {"id": "a"}], "duplicate cell id 'a'"),
        (
            [
                {"id": "a", "metadata": {"nbgrader": {"grade_id": "sigmoid"}}},
                {"id": "b", "metadata": {"nbgrader": {"grade_id": "sigmoid"}}},
            ],
            "duplicate grade_id 'sigmoid'",
        ),
    ],
)
def test_duplicate_ids_are_noted_not_fatal(tmp_path, cells, note):
    """Duplicates are graded (nbgrader and RestoreCellMetadata cope) but reported."""
    path = tmp_path / "one_neuron.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "cells": cells}))
    assert gc.notebook_problem(path) == ""
    assert any(note in text for text in gc.notebook_notes(path))


def test_release_notebook_has_no_problem(template_course):
    assert gc.notebook_problem(template_course / "release/one_neuron/one_neuron.ipynb") == ""


@pytest.mark.parametrize(
    "lms, path, student, file_id",
    [
        (
            "moodle",
            "/x/extracted/a/Ivan Ivanov_s01_assignsubmission_file_/one_neuron.ipynb",
            "s01",
            "one_neuron.ipynb",
        ),
        (
            "moodle",
            "/x/extracted/a/Anna Maria Petrova_1002_assignsubmission_file_one_neuron.ipynb",
            "1002",
            "one_neuron.ipynb",
        ),
        ("canvas", "/x/extracted/a/ivanovivan_s01_67890_one_neuron.ipynb", "s01", "one_neuron"),
        (
            "canvas",
            "/x/extracted/a/ivanovivan_late_1003_67890_one_neuron-2.ipynb",
            "1003",
            "one_neuron",
        ),
    ],
)
def test_lms_regexps_extract_student_and_file(lms, path, student, file_id):
    from nbgrader.plugins import FileNameCollectorPlugin

    info = FileNameCollectorPlugin(named_regexp=gc.LMS_REGEXPS[lms]).collect(path)
    assert (info["student_id"], info["file_id"]) == (student, file_id)


@pytest.mark.parametrize(
    "content, message",
    [
        ("name,email\nann,a@x\n", "no 'id' column"),
        ("id,first_name\ns1,Ann\ns1,Bob\n", "duplicate student id 's1'"),
        ("id,first_name\n,Ann\n", "empty student id"),
    ],
)
def test_bad_roster_is_refused_with_file_and_problem(tmp_path, content, message):
    path = tmp_path / "roster.csv"
    path.write_text(content)
    with pytest.raises(gc.GradeClassError, match=message) as info:
        gc.read_roster(path)
    assert str(path) in str(info.value)


# --------------------------------------------------------- grading a class


@pytest.fixture
def mixed_class(course):
    """A class with one student of every status, a roster and a due date."""
    submit(course, "good", GOOD, timestamp="2026-01-15 11:00:00 UTC")
    submit(course, "partial", BAD_DOUBLE)
    submit(course, "late", GOOD, timestamp="2026-01-16 12:00:00 UTC")
    submit(course, "loop", {"double": "while True:\n    pass"})
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
        "loop",
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
    "loop": gc.TIMED_OUT,
    "dies": gc.KERNEL_DIED,
    "badjson": gc.INVALID,
    "empty": gc.INVALID,
    "renamed": gc.MISSING,
    "nofile": gc.MISSING,
    "absent": gc.NOT_SUBMITTED,
}


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
    assert float(rows["loop"]["score"]) == 0.0  # no stale grade for a failed run
    for sid in ("good", "partial", "late"):
        assert (course / "feedback" / sid / "one_neuron" / "one_neuron.html").is_file()
    assert not (course / "feedback" / "loop").exists()
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


def test_concurrent_workers_lose_no_grade_and_match_plain_nbgrader(course, tmp_path):
    """12 submissions on 3 workers: every grade present and equal to a plain
    sequential `nbgrader autograde` of the same class."""
    names = list(VARIANTS)
    expected = {}
    for i in range(12):
        variant = names[i % len(names)]
        submit(course, f"s{i:02d}", VARIANTS[variant][0])
        expected[f"s{i:02d}"] = VARIANTS[variant][1]
    plain = tmp_path / "plain"
    shutil.copytree(course, plain)

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
    assert n_ours == n_theirs == 12
    assert ours == theirs


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


def _moodle_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def test_zip_collection_with_moodle_names(course, tmp_path):
    release = (course / "release/one_neuron/one_neuron.ipynb").read_bytes()
    export = tmp_path / "moodle.zip"
    _moodle_zip(
        export,
        {
            "Ann Lee_u01_assignsubmission_file_/one_neuron.ipynb": notebook_bytes(course, GOOD),
            "Bob Ray_u02_assignsubmission_file_one_neuron.ipynb": release,
            "Cid Fox_u03_assignsubmission_file_/my_copy.ipynb": release,
        },
    )
    code, results = run(course, zip_path=export, lms="moodle")
    res = by_id(results)
    assert {s: r.status for s, r in res.items()} == {
        "u01": gc.GRADED,
        "u02": gc.GRADED,
        "u03": gc.MISSING,
    }
    assert (res["u01"].score, res["u02"].score) == (3.0, 0.0)
    assert "my_copy.ipynb" in res["u03"].detail
    assert code == gc.EXIT_ATTENTION


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--roster", "missing.csv"], "roster file not found"),
        (["--zip", "missing.zip"], "zip file not found"),
        (["--duedate", "not a date"], "cannot parse"),
        (["--student", "nobody"], "nobody"),
        (["other_assignment"], "has no notebooks in the gradebook"),
    ],
)
def test_usage_errors_exit_2(course, capsys, argv, message):
    submit(course, "a", GOOD)
    assert gc.main(["--course-dir", str(course), *argv]) == gc.EXIT_USAGE
    assert message in capsys.readouterr().err


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


@pytest.mark.parametrize(
    "outputs, status",
    [
        ([], gc.GRADED),
        (
            [{"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []}],
            gc.GRADED,
        ),
        (
            [{"output_type": "error", "ename": "CellTimeoutError", "evalue": "", "traceback": []}],
            gc.TIMED_OUT,
        ),
        (
            [{"output_type": "error", "ename": "KernelLost", "evalue": "", "traceback": []}],
            gc.KERNEL_DIED,
        ),
    ],
)
def test_execution_problem_read_from_the_autograded_notebook(tmp_path, outputs, status):
    """Is a notebook that nbgrader graded after a cell timeout or a lost kernel flagged?"""
    nb = _master()
    nb.cells[1].outputs = [nbformat.from_dict(o) for o in outputs]
    path = tmp_path / "one_neuron.ipynb"
    nbformat.write(nb, path)
    got, detail = gc.execution_problem(path)
    assert got == status
    assert (detail == "") == (status == gc.GRADED)


def test_synthetic_class_has_every_kind_of_submission(tmp_path):
    """Does the demo class hold >= 30 gradable submissions and every broken kind?"""
    from fixtures import synthetic_class

    manifest = synthetic_class.build_class(tmp_path / "course", size=30)
    students = manifest["students"]
    statuses = {e["status"] for e in students.values()}
    assert statuses == {
        gc.GRADED,
        gc.LATE,
        gc.TIMED_OUT,
        gc.KERNEL_DIED,
        gc.INVALID,
        gc.MISSING,
        gc.NOT_SUBMITTED,
    }
    assert sum(e["status"] == gc.GRADED for e in students.values()) == 30
    kinds = {e["kind"] for e in students.values()}
    assert {"perfect", "untouched"} <= kinds
    catalog_functions = {k.split(":")[1].split("_")[0] for k in kinds if k.startswith("catalog:")}
    assert catalog_functions == {"rs", "sig", "bce", "bp"}
    submitted = tmp_path / "course" / "submitted"
    for sid, entry in students.items():
        folder = submitted / sid / "one_neuron"
        if entry["status"] == gc.NOT_SUBMITTED:
            assert not folder.exists()
        elif entry["status"] == gc.MISSING:
            assert not (folder / "one_neuron.ipynb").exists()
        else:
            assert (folder / "one_neuron.ipynb").is_file()
    roster = (tmp_path / "course" / "roster.csv").read_text().splitlines()
    assert roster[0] == "id,first_name,last_name,email" and len(roster) == len(students) + 1
