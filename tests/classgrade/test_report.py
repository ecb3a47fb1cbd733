"""Tests of the HTML report of a class grading run (autograder.classgrade.report)."""

import json

import matplotlib.image
import pytest

from autograder.classgrade.report import PLOTS, build_report, plot_data
from autograder.classgrade.results import StudentResult

CELLS = {"test_a": 2.0, "test_b": 1.0}


def graded(sid, a, b, seconds, status="graded"):
    return StudentResult(
        sid,
        status,
        score=a + b,
        max_score=3.0,
        cells={"test_a": [a, 2.0], "test_b": [b, 1.0]},
        seconds=seconds,
    )


@pytest.fixture
def results():
    return [
        graded("s1", 2.0, 1.0, 1.5),
        graded("s2", 2.0, 0.0, 2.5),
        graded("s3", 0.0, 0.0, 1.0, status="late"),
        graded("s4", 1.0, 1.0, 3.0),  # partial credit is not a pass
        StudentResult("s5", "timed out", "over the time budget of 10 s", seconds=10.0),
        StudentResult("s6", "invalid notebook", "x.ipynb: empty file"),
        StudentResult("s7", "not submitted"),
    ]


def test_plot_data_counts(results):
    """Do the plots count what they claim?"""
    data = plot_data(results)
    assert data["n_students"] == 7
    assert data["statuses"] == {
        "graded": 3,
        "late": 1,
        "timed out": 1,
        "invalid notebook": 1,
        "not submitted": 1,
    }
    assert data["cell_pass_rate"] == {
        "test_a": {"passed": 2, "total": 4, "rate": 0.5},
        "test_b": {"passed": 2, "total": 4, "rate": 0.5},
    }
    assert sorted(data["scores"]["values"]) == [0.0, 2.0, 2.0, 3.0]
    assert data["scores"]["bin_edges"] == [0.0, 1.0, 2.0, 3.0]
    assert data["scores"]["counts"] == [1, 0, 3]  # the top bin includes max_score
    assert sum(data["scores"]["counts"]) == 4
    # only graded submissions: a timed-out job's time says nothing about grading speed
    assert data["time_per_submission"] == {"s1": 1.5, "s2": 2.5, "s3": 1.0, "s4": 3.0}


def test_report_files_are_written(results, tmp_path):
    index = build_report(results, tmp_path / "reports", assignment="one_neuron")
    html = index.read_text()
    for name in PLOTS.values():
        path = tmp_path / "reports" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert f"src='{name}'" in html
    for sid in ("s1", "s5", "s6", "s7"):
        assert f"<td>{sid}</td>" in html
    assert "x.ipynb: empty file" in html
    saved = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert saved == json.loads(json.dumps(plot_data(results)))


@pytest.mark.parametrize("detail", ["<script>alert(1)</script>", "a & b"])
def test_report_escapes_student_text(tmp_path, detail):
    """Can a file name or error message inject HTML into the report?"""
    build_report([StudentResult("s<1>", "invalid notebook", detail)], tmp_path)
    html = (tmp_path / "index.html").read_text()
    assert detail not in html
    assert "s&lt;1&gt;" in html


def test_report_of_a_class_with_nothing_graded(tmp_path):
    results = [StudentResult("a", "missing notebook", "no notebook")]
    build_report(results, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["scores"]["values"] == [] and data["cell_pass_rate"] == {}
    assert data["statuses"] == {"missing notebook": 1}
