"""Tests of grading one student (autograder.classgrade.task)."""

import nbformat
import pytest
from classgrade.fixture_course import master_notebook

import autograder.classgrade as gc
from autograder.classgrade import task


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
    nb = master_notebook()
    nb.cells[1].outputs = [nbformat.from_dict(o) for o in outputs]
    path = tmp_path / "one_neuron.ipynb"
    nbformat.write(nb, path)
    got, detail = task.execution_problem(path)
    assert got == status
    assert (detail == "") == (status == gc.GRADED)


@pytest.mark.parametrize("rerun", [False, True])
def test_a_notebook_the_kernel_already_ran_twice_is_not_graded_again(tmp_path, rerun):
    """Does the class command see that SandboxedExecute already re-ran a lost or hung
    notebook (so its engines do not run it a third and fourth time)?"""
    from autograder.classgrade.pool import needs_retry
    from autograder.preprocessors.sandboxed_execute import KERNEL_LOST_MESSAGE, RERUN_NOTE

    message = KERNEL_LOST_MESSAGE + (RERUN_NOTE if rerun else "")
    nb = master_notebook()
    nb.cells[1].outputs = [
        nbformat.v4.new_output("error", ename="KernelLost", evalue=message, traceback=[])
    ]
    path = tmp_path / "one_neuron.ipynb"
    nbformat.write(nb, path)
    assert task.execution_problem(path)[0] == gc.KERNEL_DIED
    assert task.kernel_reran(path) is rerun
    outcome = task.GradingOutcome("ann", gc.KERNEL_DIED, "lost", kernel_reran=rerun)
    assert needs_retry(outcome) is not rerun


def _snapshot(course):
    from autograder.classgrade.gradebook import assignment_gradebook

    gradebook = assignment_gradebook(course / "gradebook.db", "fixture")
    return task.course_snapshot(course, "one_neuron", gradebook)


def test_grade_student_plain_data_in_and_out(course, tmp_path):
    """Does one task grade a student from bytes alone (pickled, as a remote engine
    sends it) and return grades, autograded and feedback files and the log,
    the same on a second run?"""
    import pickle

    from classgrade.fixture_course import BAD_DOUBLE, notebook_bytes

    snapshot = _snapshot(course)
    assert set(snapshot.files) == {"nbgrader_config.py", "source/one_neuron/one_neuron.ipynb"}
    job = task.GradingTask(
        "ann",
        "one_neuron",
        {
            "one_neuron.ipynb": notebook_bytes(course, BAD_DOUBLE),
            "timestamp.txt": b"2026-01-15 11:00:00 UTC",
        },
    )
    snapshot, job = pickle.loads(pickle.dumps((snapshot, job)))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outcomes = [task.grade_student(snapshot, job, scratch_dir=str(scratch)) for _ in range(2)]
    for outcome in pickle.loads(pickle.dumps(outcomes)):
        assert outcome.outcome == gc.GRADED and outcome.detail == ""
        grades = outcome.submission["notebooks"]["one_neuron"]["grades"]
        assert {k: v["auto_score"] for k, v in grades.items()} == {
            "test_double": 0.0,
            "test_sigmoid": 1.0,
        }
        assert outcome.submission["timestamp"].startswith("2026-01-15T11:00:00")
        assert {"one_neuron.ipynb", "timestamp.txt"} <= set(outcome.autograded)
        assert b"AssertionError" in outcome.autograded["one_neuron.ipynb"]
        assert set(outcome.feedback) == {"one_neuron.html", "timestamp.txt"}
        assert "ann" in outcome.log
    assert outcomes[0].submission == outcomes[1].submission
    # one scratch course reused, and nothing of the course's own folders touched
    assert len(list(scratch.iterdir())) == 1
    assert not (course / "autograded").exists() and not (course / "submitted").exists()


def test_broken_course_is_a_setup_error_not_a_student_failure(course, tmp_path):
    snapshot = _snapshot(course)
    broken = task.CourseSnapshot(
        {**snapshot.files, "nbgrader_config.py": b"raise RuntimeError('bad config')\n"},
        snapshot.gradebook,
    )
    with pytest.raises(task.GradingSetupError, match="bad config"):
        task.prepare(broken, str(tmp_path))


def test_shared_caches_are_warmed_before_the_workers_fork():
    """What is the same for every student is computed once in the coordinator: the
    kernels' font list and the drawings of every formula of the assignment's markdown."""
    from nbgrader_helpers import ROOT

    from autograder.assignment.contract import ASSIGNMENT
    from autograder.preprocessors.feedback_readable import render_math, tex_to_svg
    from autograder.sandbox.kernel import matplotlib_font_cache

    source = ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    course = task.CourseSnapshot(
        files={f"source/{ASSIGNMENT}/{ASSIGNMENT}.ipynb": source.read_bytes()}, gradebook=b""
    )
    tex_to_svg.cache_clear()
    task.warm_shared_caches(course)
    assert matplotlib_font_cache() is not None
    drawn = tex_to_svg.cache_info().currsize
    assert drawn >= 50
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:  # a worker's feedback then draws nothing new
        if cell.cell_type == "markdown":
            render_math(cell.source)
    assert tex_to_svg.cache_info().currsize == drawn
    assert tex_to_svg.cache_info().misses == drawn
