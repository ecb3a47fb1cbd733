"""SandboxedExecute runs a notebook once more from the top, in a fresh kernel, before a
lost kernel or a cell over its timeout is final (issue 8 item 4): a kernel lost on the
first run only costs nothing; one lost every time is reported after exactly two runs."""

import nbformat
import pytest
from integration.graded_course import POINTS, REFERENCE_ANSWERS, submission
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader_helpers import ASSIGNMENT, copy_course, generate_assignment, nbgrader_api
from preprocessors.kernel_hooks import CONFIG_LINES, KERNELS, MARKER, MarkerForTheFirstKernel

from autograder.classgrade.results import GRADED, KERNEL_DIED, TIMED_OUT
from autograder.classgrade.task import execution_problem
from autograder.preprocessors.sandboxed_execute import RERUN_NOTE

# whole runs of real kernels or a class: not part of the fast set
pytestmark = pytest.mark.slow

LOSE_KERNEL_IF_MARKED = f"import os\nif os.path.exists({MARKER!r}):\n    os.kill(os.getpid(), 9)"
LOSE_KERNEL = "import os\nos.kill(os.getpid(), 9)"


@pytest.fixture(scope="module")
def hooked_course(tmp_path_factory):
    """The course (its own nbgrader_config.py) with the hook in SandboxedExecute's place."""
    course = copy_course(tmp_path_factory.mktemp("rerun") / "course")
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(CONFIG_LINES)
    generate_assignment(course)
    return course


def _autograde(course, student, added_cell, marker=False):
    """The reference answers with ``added_cell`` after the first cell, autograded by
    `nbgrader autograde`; returns (scores, autograded notebook path, kernels started)."""
    from nbgrader.api import Gradebook

    nb = submission(REFERENCE_ANSWERS)
    nb.cells.insert(1, new_code_cell(added_cell))
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    if marker:
        (folder / MARKER).write_text("")
    before = len(KERNELS)
    result = nbgrader_api(course).autograde(ASSIGNMENT, student, force=True, create=True)
    assert result["success"], result.get("error", "") + result.get("log", "")
    assert len(KERNELS) == before + 1  # one notebook executed
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        graded = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        scores = {grade.name: grade.auto_score for grade in graded.grades}
    return scores, course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", KERNELS[-1]


def _errors(path):
    nb = nbformat.read(path, as_version=4)
    return [
        (out.ename, out.evalue)
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]


def test_a_kernel_lost_on_the_first_run_only_costs_nothing(hooked_course):
    scores, path, kernels = _autograde(hooked_course, "once", LOSE_KERNEL_IF_MARKED, marker=True)
    assert kernels == 2
    assert scores == POINTS
    assert execution_problem(path) == (GRADED, "")
    assert not [e for e in _errors(path) if e[0] in ("KernelLost", "CellTimeoutError")]
    assert (hooked_course / "submitted/once" / ASSIGNMENT / MARKER).exists()  # untouched


def test_a_kernel_lost_every_time_is_final_after_two_runs(hooked_course):
    scores, path, kernels = _autograde(hooked_course, "always", LOSE_KERNEL)
    assert kernels == 2
    status, detail = execution_problem(path)
    assert status == KERNEL_DIED and "kernel lost in cell 1" in detail
    lost = [evalue for ename, evalue in _errors(path) if ename == "KernelLost"]
    assert lost[0].endswith(RERUN_NOTE)  # the student reads that it ran twice
    # the trusted verdicts judge the answers themselves, kernel or not
    assert scores == POINTS


def _run_directly(tmp_path, sources, timeout):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / MARKER).write_text("")
    MarkerForTheFirstKernel(timeout=timeout).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    return nb, KERNELS[-1]


SLEEP_IF_MARKED = f"import os, time\nif os.path.exists({MARKER!r}):\n    time.sleep(3600)"


def test_a_cell_over_its_timeout_on_the_first_run_only_costs_nothing(tmp_path):
    # 20 s per cell: the other cell prints one line (milliseconds even at load 50)
    nb, kernels = _run_directly(tmp_path, [SLEEP_IF_MARKED, "print('ok')"], timeout=20)
    assert kernels == 2
    assert [out.get("ename") for cell in nb.cells for out in cell.outputs] == [None]
    assert nb.cells[1].outputs[0].text == "ok\n"


def test_a_cell_over_its_timeout_every_time_is_final_after_two_runs(tmp_path):
    nb, kernels = _run_directly(
        tmp_path, ["import time\ntime.sleep(3600)", "print('ok')"], timeout=20
    )
    assert kernels == 2
    errors = [out for out in nb.cells[0].outputs if out.output_type == "error"]
    assert errors[-1].ename == "CellTimeoutError"
    assert errors[-1].evalue.startswith("Ячейка выполнялась дольше 20 с и была прервана")
    assert errors[-1].evalue.endswith(RERUN_NOTE)
    assert nb.cells[1].outputs[0].text == "ok\n"  # interrupted, the kernel went on
    nbpath = tmp_path / "nb.ipynb"
    nbformat.write(nb, nbpath)
    assert execution_problem(nbpath)[0] == TIMED_OUT
