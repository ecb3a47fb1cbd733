"""Tests of the grades CSV with a status column and the Moodle / Canvas grade
imports (autograder.classgrade.export)."""

import csv

import pytest
from nbgrader.api import Gradebook

from autograder.classgrade.export import (
    CANVAS_COLUMNS,
    GRADES_COLUMNS,
    MOODLE_COLUMNS,
    Person,
    export_warnings,
    lateness_warning,
    read_people,
    write_exports,
)
from autograder.classgrade.results import StudentResult

CELLS = ["test_a", "test_b"]
PEOPLE = {
    "s1": Person("s1", "Анна", "Иванова", "s1@example.org", "101"),
    "s2": Person("s2", "Борис", "Петров", "s2@example.org", ""),
    "s3": Person("s3", "Вера", "Сидорова", "", "103"),
    "s4": Person("s4", "Глеб", "Кузнецов", "s4@example.org", "104"),
    "s5": Person("s5", "Дина", "Смирнова", "s5@example.org", "105"),
}


def graded(sid, a, b, status="graded", **kw):
    return StudentResult(
        sid,
        status,
        score=a + b,
        max_score=3.0,
        cells={"test_a": [a, 2.0], "test_b": [b, 1.0]},
        **kw,
    )


@pytest.fixture
def results():
    return [
        graded("s1", 2.0, 1.0, timestamp="2026-01-14T10:00:00"),
        StudentResult(
            "s2",
            "missing notebook",
            "x/one_neuron.ipynb: notebook one_neuron.ipynb not found "
            "(renamed? found: one_neuron-Copy1.ipynb)",
        ),
        graded("s3", 0.0, 1.0, status="late", seconds_late=7200.0, timestamp="2026-01-16"),
        graded("s4", 2.0, 0.0, status="timed out", detail="cell 14 hit the kernel's timeout"),
        StudentResult("s5", "not submitted", "no folder"),
        graded("s9", 2.0, 1.0, on_roster=False, timestamp="2026-01-14T10:00:00"),
    ]


def read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def by_id(rows, column="student_id"):
    header = rows[0]
    return {row[header.index(column)]: dict(zip(header, row)) for row in rows[1:]}


def test_grades_csv_never_reads_ungraded_as_zero(results, tmp_path):
    """A renamed notebook or no submission is 'not graded' with its reason, score empty."""
    files = write_exports(
        results, tmp_path / "grades.csv", PEOPLE, assignment="one_neuron", cells=CELLS, max_score=3
    )
    rows = read(files["grades"])
    assert rows[0] == [*GRADES_COLUMNS, *CELLS]
    table = by_id(rows)
    assert table["s2"]["status"] == "not graded"
    assert "missing notebook" in table["s2"]["reason"] and "renamed?" in table["s2"]["reason"]
    assert table["s2"]["score"] == "" and table["s2"]["test_a"] == ""
    assert table["s2"]["max_score"] == "3"
    assert table["s5"]["status"] == "not graded" and table["s5"]["score"] == ""
    assert table["s1"]["status"] == "graded" and table["s1"]["score"] == "3"
    assert table["s1"]["first_name"] == "Анна" and table["s1"]["email"] == "s1@example.org"
    assert table["s3"]["status"] == "late" and table["s3"]["hours_late"] == "2.00"
    assert table["s3"]["test_a"] == "0"  # a real zero stays a zero
    assert table["s4"]["status"] == "needs review" and "timed out" in table["s4"]["reason"]
    assert "not on the roster" in table["s9"]["reason"]


def test_moodle_layout_matched_by_email(results, tmp_path):
    files = write_exports(
        results, tmp_path / "grades.csv", PEOPLE, assignment="one_neuron", cells=CELLS, max_score=3
    )
    rows = read(files["moodle"])
    assert rows[0] == [*MOODLE_COLUMNS, "one_neuron"]
    table = by_id(rows, "Email address")
    # s3 has no email and s9 is not on the roster: Moodle would abort on them
    assert set(table) == {"s1@example.org", "s2@example.org", "s4@example.org", "s5@example.org"}
    assert files["moodle_left_out"] == ["s3", "s9"]
    assert table["s1@example.org"]["one_neuron"] == "3"
    assert table["s1@example.org"]["ID number"] == "101"
    assert table["s1@example.org"]["First name"] == "Анна"
    for ungraded in ("s2@example.org", "s4@example.org", "s5@example.org"):
        assert table[ungraded]["one_neuron"] == ""  # no grade, never 0


def test_canvas_layout_with_points_possible(results, tmp_path):
    files = write_exports(
        results, tmp_path / "grades.csv", PEOPLE, assignment="one_neuron", cells=CELLS, max_score=3
    )
    rows = read(files["canvas"])
    assert rows[0] == [*CANVAS_COLUMNS, "one_neuron"]
    assert rows[1] == ["Points Possible", "", "", "", "", "3"]
    table = {row[1]: row for row in rows[2:]}
    assert set(table) == {"101", "s2", "103", "104", "105"}  # lms_user_id, else the id
    assert table["101"][0] == "Иванова, Анна" and table["101"][-1] == "3"
    assert table["103"][-1] == "1"  # late: graded
    assert table["s2"][-1] == "" and table["104"][-1] == "" and table["105"][-1] == ""
    assert files["canvas_left_out"] == ["s9"]


def test_lateness_warning_when_times_are_missing(results):
    no_times = [graded("a", 1, 1), graded("b", 1, 1, timestamp="2026-01-01T00:00:00")]
    warning = lateness_warning(no_times, "2026-01-15 12:00:00")
    assert warning is not None and "lateness cannot be judged" in warning and ": a." in warning
    assert lateness_warning(no_times, None) is None
    assert lateness_warning([graded("b", 1, 1, timestamp="2026-01-01")], "2026-01-15") is None
    # not graded students have no time anyway and are not counted
    assert lateness_warning([StudentResult("c", "missing notebook")], "2026-01-15") is None


def test_export_warnings_name_who_is_left_out(results, tmp_path):
    files = write_exports(
        results, tmp_path / "grades.csv", PEOPLE, assignment="one_neuron", cells=CELLS, max_score=3
    )
    warnings = export_warnings(results, "2026-01-15 12:00:00", files)
    assert any("lateness cannot be judged" in w and "s4" in w for w in warnings)
    assert any(w.startswith("grades-moodle.csv: 2 student(s)") and "s3, s9" in w for w in warnings)
    assert any(w.startswith("grades-canvas.csv: 1 student(s)") and "s9" in w for w in warnings)


def test_read_people_from_a_real_gradebook(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_student("s1", first_name="Анна", last_name="Иванова", email="a@x", lms_user_id="7")
        gb.add_student("s2")
        people = read_people(gb)
    assert people["s1"] == Person("s1", "Анна", "Иванова", "a@x", "7")
    assert people["s1"].name == "Анна Иванова"
    assert people["s2"] == Person("s2") and people["s2"].name == ""


@pytest.mark.slow
def test_a_real_class_run_writes_status_and_lms_files(tmp_path_factory):
    """The class command on the small class (tests/browser/small_class.py): the
    renamed notebook is 'not graded' with its reason, the LMS files hold no 0 for it."""
    from browser.small_class import graded_class

    course, _, results = graded_class(tmp_path_factory)
    table = by_id(read(course / "grades.csv"))
    assert table["s006"]["status"] == "not graded" and table["s006"]["score"] == ""
    assert "missing notebook" in table["s006"]["reason"]
    assert table["s007"]["status"] == "not graded" and "not submitted" in table["s007"]["reason"]
    assert table["s002"]["status"] == "graded" and table["s002"]["score"] == "0"  # a real zero
    assert table["s003"]["status"] == "late" and float(table["s003"]["hours_late"]) > 0
    assert table["s001"]["first_name"] == "Анна" and table["s001"]["score"] == "10"
    scores = {r.student_id: r.score for r in results}
    for sid, row in table.items():
        if row["score"]:
            assert float(row["score"]) == scores[sid]
    moodle = by_id(read(course / "grades-moodle.csv"), "Email address")
    assert moodle["s006@students.example.org"]["one_neuron"] == ""
    assert moodle["s001@students.example.org"]["one_neuron"] == "10"
    assert "s099" not in str(moodle) and len(moodle) == 6  # s007 has no email, s099 no roster row
    canvas = read(course / "grades-canvas.csv")
    assert canvas[1] == ["Points Possible", "", "", "", "", "10"]
    assert {row[1]: row[-1] for row in canvas[2:]}["1006"] == ""
    warnings = (course / "reports" / "report.json").read_text()
    assert "lateness cannot be judged for: s004" in warnings


# --- the order of the per-cell columns ----------------------------------------------


def _swap_graded_cells(notebook_path):
    """Put the fixture notebook's last graded cell (test_sigmoid) before the first."""
    import nbformat

    nb = nbformat.read(notebook_path, as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    i, j = ids.index("test_double"), ids.index("test_sigmoid")
    nb.cells[i], nb.cells[j] = nb.cells[j], nb.cells[i]
    nbformat.write(nb, notebook_path)


def test_graded_cell_order_is_the_notebook_order_not_the_databases(course):
    """Is the order the source notebook's, whichever order the gradebook lists the
    cells in (one of the two notebook orders differs from the row order)?"""
    from autograder.classgrade.export import graded_cell_order

    folders = [course / "source" / "one_neuron", course / "release" / "one_neuron"]
    with Gradebook(f"sqlite:///{course}/gradebook.db", "fixture") as gb:
        record = gb.find_assignment("one_neuron")
        rows = [c.name for nb in record.notebooks for c in nb.grade_cells]
        assert sorted(rows) == ["test_double", "test_sigmoid"]
        assert graded_cell_order(record, folders) == ["test_double", "test_sigmoid"]
        _swap_graded_cells(folders[0] / "one_neuron.ipynb")
        assert graded_cell_order(record, folders) == ["test_sigmoid", "test_double"]
        # without source/, the release notebook gives the order; without both, names do
        (folders[0] / "one_neuron.ipynb").unlink()
        assert graded_cell_order(record, folders) == ["test_double", "test_sigmoid"]
        _swap_graded_cells(folders[1] / "one_neuron.ipynb")
        assert graded_cell_order(record, folders) == ["test_sigmoid", "test_double"]
        (folders[1] / "one_neuron.ipynb").write_text("{not json")
        assert graded_cell_order(record, folders) == ["test_double", "test_sigmoid"]


def test_grades_csv_columns_follow_the_notebook(course):
    """Does the class command's grades.csv list the cells as the source notebook does?"""
    from classgrade.fixture_course import GOOD, run, submit

    import autograder.classgrade as gc

    _swap_graded_cells(course / "source" / "one_neuron" / "one_neuron.ipynb")
    submit(course, "a", GOOD)
    assert run(course, workers=1)[0] == gc.EXIT_OK
    rows = read(course / "grades.csv")
    assert rows[0][len(GRADES_COLUMNS) :] == ["test_sigmoid", "test_double"]
    assert by_id(rows)["a"]["test_sigmoid"] == "1" and by_id(rows)["a"]["test_double"] == "2"


def test_this_courses_columns_follow_its_contract():
    """For this course, the columns come in the contract's GRADED_CELLS order, whatever
    order the gradebook's rows come in (here: reversed)."""
    from pathlib import Path
    from types import SimpleNamespace

    from autograder.assignment import contract
    from autograder.classgrade.export import graded_cell_order

    root = Path(__file__).resolve().parents[2]
    ids = [c.grade_id for c in contract.GRADED_CELLS]
    cells = [SimpleNamespace(name=gid) for gid in reversed(ids)]
    record = SimpleNamespace(notebooks=[SimpleNamespace(name=contract.NOTEBOOK, grade_cells=cells)])
    folders = [root / kind / contract.ASSIGNMENT for kind in ("source", "release")]
    assert graded_cell_order(record, folders) == ids
