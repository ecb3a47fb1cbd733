"""Files of the student's folder (issue 13, item 8): nothing of it is imported as
code by the kernel, and nothing the student controls is opened in a way that can
block the grader.

- ``ipykernel_launcher.py`` / ``zmq.py`` beside the notebook: before, the kernel was
  ``python -m ipykernel_launcher`` in that folder, so the student's launcher ran in
  place of the kernel; now (``python -P``) the real kernel runs, the student's own
  helper module is still importable from the notebook, and the student keeps 10/10.
- FIFOs (as timestamp.txt, as a data file, as the notebook): before, the class
  command's pre-check opened timestamp.txt and waited forever; now each such
  submission is refused as "invalid notebook" naming the file, without opening it.
The honest student graded in the same class keeps 10/10."""

import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from nbgrader_helpers import ASSIGNMENT, copy_course, generate_assignment

import autograder.classgrade as gc
from autograder.assignment import contract
from autograder.classgrade.special_files import find_special_files, read_regular
from fixtures import samples

NB = f"{ASSIGNMENT}.ipynb"
FULL = sum(contract.POINTS.values())
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

SHADOWS = {
    "ipykernel_launcher.py": "raise SystemExit('the student launcher ran')\n",
    "zmq.py": "raise ImportError('the student zmq ran')\n",
    "helper.py": "ANSWER = 41\n",
}
PROBE = (
    "import sys, zmq, helper\n"
    "print('MAIN', sys.argv[0])\n"
    "print('ZMQ', zmq.__file__)\n"
    "print('HELPER', helper.ANSWER + 1)\n"
)


def test_special_files_are_found_without_opening_them(tmp_path):
    (tmp_path / "sub").mkdir()
    os.mkfifo(tmp_path / "sub" / "pipe")
    (tmp_path / "plain.txt").write_text("x")
    assert find_special_files(tmp_path) == [tmp_path / "sub" / "pipe"]
    assert read_regular(tmp_path / "plain.txt") == b"x"
    with pytest.raises(OSError, match="not a regular file"):
        read_regular(tmp_path / "sub" / "pipe")  # returns at once, no writer needed


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("hostile_files"))
    generate_assignment(course)
    release = samples.read_release(course / "release" / ASSIGNMENT / NB)
    perfect = samples.perfect(release)
    probe = samples.perfect(release)
    probe.cells.append(new_code_cell(PROBE))
    folders = {}
    for sid, nb in [
        ("honest", perfect),
        ("shadow", probe),
        ("fifo_stamp", perfect),
        ("fifo_data", perfect),
        ("fifo_notebook", None),
    ]:
        folder = course / "submitted" / sid / ASSIGNMENT
        folder.mkdir(parents=True)
        if nb is not None:
            nbformat.write(nb, folder / NB)
        folders[sid] = folder
    for name, text in SHADOWS.items():
        (folders["shadow"] / name).write_text(text)
    os.mkfifo(folders["fifo_stamp"] / "timestamp.txt")
    os.mkfifo(folders["fifo_data"] / "data.csv")
    os.mkfifo(folders["fifo_notebook"] / NB)
    _, results = gc.grade_class(
        ASSIGNMENT, course_dir=course, workers=2, timeout=300, report=False, log=lambda *a: None
    )
    return course, {r.student_id: r for r in results}


@pytest.mark.slow
def test_fifos_are_refused_and_the_class_graded(graded):
    _, by_id = graded
    assert by_id["honest"].status == gc.GRADED and by_id["honest"].score == FULL
    for sid, name in [
        ("fifo_stamp", "timestamp.txt"),
        ("fifo_data", "data.csv"),
        ("fifo_notebook", NB),
    ]:
        assert by_id[sid].status == gc.INVALID, (sid, by_id[sid].detail)
        assert "FIFOs" in by_id[sid].detail and name in by_id[sid].detail, by_id[sid].detail


@pytest.mark.slow
def test_the_students_files_do_not_stand_in_for_the_kernel(graded):
    course, by_id = graded
    assert by_id["shadow"].status == gc.GRADED, by_id["shadow"].detail
    assert by_id["shadow"].score == FULL
    nb = nbformat.read(course / "autograded" / "shadow" / ASSIGNMENT / NB, as_version=4)
    probe = next(c for c in nb.cells if c.cell_type == "code" and c.source == PROBE)
    text = "".join(o.get("text", "") for o in probe.outputs)
    lines = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    assert "site-packages/ipykernel_launcher.py" in lines["MAIN"], text
    assert "site-packages/zmq/" in lines["ZMQ"], text
    assert lines["HELPER"] == "42"  # the student's own module is still importable
