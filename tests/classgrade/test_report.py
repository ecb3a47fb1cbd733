"""Tests of the HTML report of a class grading run (autograder.classgrade.report)."""

import json
import shutil

import matplotlib.image
import nbformat
import pytest
from nbformat.v4 import new_output
from nbgrader_helpers import ROOT

from autograder.classgrade.export import Person
from autograder.classgrade.report import (
    FIGURES,
    PLOTS,
    UNTOUCHED,
    build_report,
    plot_data,
)
from autograder.classgrade.results import StudentResult
from fixtures import samples

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


def test_count_axes_have_integer_ticks():
    """No "0.2 students": every axis that counts students or submissions is integral."""
    data = plot_data([graded("s1", 2.0, 1.0, 1.5), StudentResult("s2", "not submitted")])
    for key, axis in (("scores", "y"), ("statuses", "y"), ("time_per_submission", "x")):
        fig = FIGURES[key](data)
        ticks = getattr(fig.axes[0], f"get_{axis}ticks")()
        assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), (key, ticks)


def test_report_files_are_written(results, tmp_path):
    index = build_report(results, tmp_path / "reports", assignment="one_neuron")
    html = index.read_text()
    for name in PLOTS.values():
        path = tmp_path / "reports" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert f'src="{name}"' in html
    for sid in ("s1", "s5", "s6", "s7"):
        assert f"<td>{sid}</td>" in html
    assert "x.ipynb: empty file" in html
    saved = json.loads((tmp_path / "reports" / "report.json").read_text())
    for key, value in plot_data(results).items():
        assert saved[key] == json.loads(json.dumps(value))


def test_attention_first_with_the_reason_and_names(results, tmp_path):
    people = {"s1": Person("s1", "Анна", "Иванова"), "s6": Person("s6", "Егор", "Попов")}
    results.append(graded("s8", 2.0, 1.0, 1.0))
    results[-1].on_roster = False
    build_report(results, tmp_path, people=people)
    rows = json.loads((tmp_path / "report.json").read_text())["students"]
    order = [row["student_id"] for row in rows]
    attention = [row["student_id"] for row in rows if row["attention"]]
    assert order[: len(attention)] == attention and set(attention) == {"s5", "s6", "s8"}
    by_id = {row["student_id"]: row for row in rows}
    assert by_id["s6"]["attention"] == "invalid notebook: x.ipynb: empty file"
    assert by_id["s8"]["attention"] == "not on the roster (check the student id)"
    assert by_id["s1"]["name"] == "Анна Иванова" and not by_id["s1"]["attention"]
    html = (tmp_path / "index.html").read_text()
    assert "Анна Иванова<br><small>s1</small>" in html
    assert html.index('data-student="s6"') < html.index('data-student="s1"')


@pytest.mark.parametrize("detail", ["<script>alert(1)</script>", "a & b"])
def test_report_escapes_student_text(tmp_path, detail):
    """Can a file name, a name or an error message inject HTML into the report?"""
    people = {"s<1>": Person("s<1>", "<b>Eve</b>", "")}
    build_report([StudentResult("s<1>", "invalid notebook", detail)], tmp_path, people=people)
    html = (tmp_path / "index.html").read_text()
    assert detail not in html and "<b>Eve" not in html
    assert "s&lt;1&gt;" in html and "&lt;b&gt;Eve&lt;/b&gt;" in html


def test_report_of_a_class_with_nothing_graded(tmp_path):
    results = [StudentResult("a", "missing notebook", "no notebook")]
    build_report(results, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["scores"]["values"] == [] and data["cell_pass_rate"] == {}
    assert data["statuses"] == {"missing notebook": 1}


# --- with the course's files: failures, untouched notebooks, cell names, links ---

BACKPROP_MESSAGES = [
    "backprop(net, x, y) при net.w=-0.69: неверный шаг градиентного спуска\n  x = [0.9]",
    "backprop(net, x, y) при net.w=0.31: неверный шаг градиентного спуска\n  x = [0.1]",
    "backprop(net, x, y): функция ничего не меняет в net",
]


def _write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def _fail(nb, grade_id, message):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.outputs = [new_output("error", ename="AssertionError", evalue=message)]
    return nb


@pytest.fixture
def course(tmp_path):
    """A course folder as the class command leaves it (release, submitted,
    autograded, feedback, logs) for six students."""
    root = tmp_path / "course"
    root.mkdir()
    # the course's config names the assignment whose contract labels the cells
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    release = samples.read_release()
    _write(release, root / "release/one_neuron/one_neuron.ipynb")
    students = {
        "s1": samples.perfect(release),
        "s2": samples.untouched(release),
        "s3": samples.for_entry(release, "bp_sign"),
        "s4": samples.for_entry(release, "bp_sign"),
        "s5": samples.for_entry(release, "bp_not_in_place"),
        "s6": samples.build_submission(
            release, {"sigmoid": "def sigmoid(x):\n    while True: pass"}
        ),
    }
    for sid, nb in students.items():
        _write(nb, root / f"submitted/{sid}/one_neuron/one_neuron.ipynb")
        auto = nbformat.from_dict(json.loads(nbformat.writes(nb)))
        if sid in ("s3", "s4", "s5"):
            _fail(auto, "test_backprop", BACKPROP_MESSAGES[int(sid[1]) - 3])
        if sid == "s2":
            for gid in ("test_random_sample", "test_backprop"):
                _fail(auto, gid, "функция ещё не написана")
        _write(auto, root / f"autograded/{sid}/one_neuron/one_neuron.ipynb")
        (root / f"feedback/{sid}/one_neuron").mkdir(parents=True)
        (root / f"feedback/{sid}/one_neuron/one_neuron.html").write_text("<p>feedback</p>")
    (root / "reports/logs").mkdir(parents=True)
    (root / "reports/logs/s1.log").write_text("log")
    return root


def course_results():
    full = {"test_random_sample": [2.0, 2.0], "test_backprop": [3.0, 3.0]}
    failed = {"test_random_sample": [2.0, 2.0], "test_backprop": [0.0, 3.0]}
    zero = {"test_random_sample": [0.0, 2.0], "test_backprop": [0.0, 3.0]}
    return [
        StudentResult("s1", "graded", score=5.0, max_score=5.0, cells=full),
        StudentResult("s2", "graded", score=0.0, max_score=5.0, cells=zero),
        StudentResult("s3", "graded", score=2.0, max_score=5.0, cells=failed),
        StudentResult("s4", "late", score=2.0, max_score=5.0, cells=failed, seconds_late=3600),
        StudentResult("s5", "graded", score=2.0, max_score=5.0, cells=failed),
        StudentResult(
            "s6",
            "timed out",
            "one_neuron.ipynb: cell 15 hit the kernel's execution timeout (graded without it)",
            score=2.0,
            max_score=5.0,
            cells=failed,
        ),
        StudentResult("s7", "missing notebook", "not found"),
    ]


def test_most_common_failures_per_graded_cell(course):
    build_report(course_results(), course / "reports", course_dir=course)
    report = json.loads((course / "reports/report.json").read_text())
    backprop = next(f for f in report["failures"] if f["grade_id"] == "test_backprop")
    assert backprop["title"] == "test_backprop (backprop)"
    assert backprop["failed"] == 3  # s3, s4, s5; the untouched s2 is not counted
    assert backprop["messages"] == [
        {"count": 2, "message": BACKPROP_MESSAGES[0].splitlines()[0]},
        {"count": 1, "message": BACKPROP_MESSAGES[2]},
    ]
    sample = next(f for f in report["failures"] if f["grade_id"] == "test_random_sample")
    assert sample["failed"] == 0 and sample["messages"] == []
    html = (course / "reports/index.html").read_text()
    assert "test_backprop (backprop): 3 of 5 graded students failed" in html
    assert "1 untouched notebook(s) not counted here." in html


def test_untouched_notebook_is_flagged(course):
    build_report(course_results(), course / "reports", course_dir=course)
    rows = {
        r["student_id"]: r
        for r in json.loads((course / "reports/report.json").read_text())["students"]
    }
    assert rows["s2"]["untouched"] and rows["s2"]["attention"] == UNTOUCHED
    assert not rows["s6"]["untouched"]  # one answer written: not untouched, stubs named
    assert "stub left in: random_sample, BCELoss, backprop" in rows["s6"]["notes"]
    assert not rows["s1"]["untouched"] and not rows["s1"]["attention"]


def test_partly_stubbed_notebook_names_its_stubs(course):
    release = samples.read_release()
    nb = samples.build_submission(release, {"sigmoid": samples.reference_answers()["sigmoid"]})
    _write(nb, course / "submitted/s1/one_neuron/one_neuron.ipynb")
    build_report(course_results(), course / "reports", course_dir=course)
    rows = {
        r["student_id"]: r
        for r in json.loads((course / "reports/report.json").read_text())["students"]
    }
    assert "stub left in: random_sample, BCELoss, backprop" in rows["s1"]["notes"]
    assert not rows["s1"]["untouched"]


def test_cell_numbers_become_answer_names(course):
    """'cell 15' of a timeout is named by the answer it is (from the contract)."""
    build_report(course_results(), course / "reports", course_dir=course)
    rows = {
        r["student_id"]: r
        for r in json.loads((course / "reports/report.json").read_text())["students"]
    }
    assert "cell 15 (answer cell sigmoid (sigmoid)) hit the kernel's" in rows["s6"]["attention"]


def test_links_to_feedback_and_log(course):
    build_report(course_results(), course / "reports", course_dir=course)
    rows = {
        r["student_id"]: r
        for r in json.loads((course / "reports/report.json").read_text())["students"]
    }
    assert rows["s1"]["links"] == [
        ["feedback", "../feedback/s1/one_neuron/one_neuron.html"],
        ["log", "logs/s1.log"],
    ]
    assert rows["s3"]["links"] == [["feedback", "../feedback/s3/one_neuron/one_neuron.html"]]
    assert rows["s7"]["links"] == []
    html = (course / "reports/index.html").read_text()
    assert '<a href="../feedback/s1/one_neuron/one_neuron.html">feedback</a>' in html
    for sid in ("s1", "s3"):
        target = course / "reports" / rows[sid]["links"][0][1]
        assert target.resolve().is_file()


def test_report_reads_but_never_writes_the_course(course):
    before = {p: p.read_bytes() for p in course.rglob("*") if p.is_file()}
    build_report(course_results(), course / "reports", course_dir=course)
    after = {p: p.read_bytes() for p in course.rglob("*") if p.is_file() and p in before}
    assert after == before
    shutil.rmtree(course / "reports")
