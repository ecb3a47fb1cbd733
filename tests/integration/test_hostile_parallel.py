"""Parallel students cannot harm each other's verdicts (issue 13, item 5).

A class of honest students (the reference and slow or partly wrong but honest
variants from the catalog) is graded by the class command twice: alone (a quiet
run) and in parallel with a CPU hog, a memory hog and a fork bomb, with more
workers than cores. Every honest student's per-cell scores must equal the quiet
run's, and each hog gets its own status without taking points from anyone.

Before: the split's wall-clock rule cost an honest student 2 points next to a CPU
hog ("работает 5.3 с"); now no verdict hinges on wall-clock time."""

import pytest
from nbformat.v4 import new_code_cell
from nbgrader_helpers import ASSIGNMENT, copy_course, generate_assignment

import autograder.classgrade as gc
from fixtures import samples

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

# Honest students: the reference, slow-but-correct splits, and honest mistakes.
HONEST = {
    "h_perfect": None,
    "h_python_loop": "rs_python_loop",
    "h_quadratic": "rs_quadratic",
    "h_sig_naive": "sig_naive",
    "h_bce_no_clip": "bce_no_clip",
}
# Hogs: added cells the kernel runs (perfect answers otherwise).
CPU_HOG = """
import os
for _ in range(6):
    if os.fork() == 0:
        while True:
            pass
while True:
    pass
"""
# One process near the kernel's address-space limit, every page touched, then busy.
MEMORY_HOG = """
chunks = []
try:
    while True:
        chunks.append(bytearray(64 * 1024 * 1024))
except MemoryError:
    pass
while True:
    pass
"""
FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
HOGS = {"x_cpu_hog": CPU_HOG, "x_memory_hog": MEMORY_HOG, "x_fork_bomb": FORK_BOMB}


def _honest(release, entry):
    return samples.perfect(release) if entry is None else samples.for_entry(release, entry)


def _hog(release, code):
    nb = samples.perfect(release)
    nb.cells.append(new_code_cell(code))
    return nb


# The hogs loop forever in a cell: a shorter per-cell hang guard than the course's 120 s
# (each hog meets it twice: the kernel re-runs a hung notebook once) keeps the test short;
# the honest notebooks' slowest cell measures ~3 s even at load 57 (bench_hang_guards.py).
CELL_TIMEOUT = "\nc.SandboxedExecute.timeout = 30\n"


def _grade(tmp_path_factory, name, students, workers):
    course = copy_course(tmp_path_factory.mktemp(name))
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(CELL_TIMEOUT)
    generate_assignment(course)
    release = samples.read_release(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    for sid, nb in students(release).items():
        samples.write_submission(course, sid, nb)
    _, results = gc.grade_class(
        ASSIGNMENT,
        course_dir=course,
        workers=workers,
        timeout=600,
        report=False,
        feedback=False,
        log=lambda *a: None,
    )
    return {r.student_id: r for r in results}


@pytest.fixture(scope="module")
def quiet(tmp_path_factory):
    return _grade(
        tmp_path_factory,
        "quiet",
        lambda release: {sid: _honest(release, e) for sid, e in HONEST.items()},
        workers=1,
    )


@pytest.fixture(scope="module")
def loud(tmp_path_factory):
    def students(release):
        everyone = {sid: _honest(release, e) for sid, e in HONEST.items()}
        everyone.update({sid: _hog(release, code) for sid, code in HOGS.items()})
        return everyone

    return _grade(tmp_path_factory, "loud", students, workers=4)


def test_honest_verdicts_equal_the_quiet_run(quiet, loud):
    for sid in HONEST:
        assert quiet[sid].status == gc.GRADED, (sid, quiet[sid].detail)
        assert loud[sid].status == gc.GRADED, (sid, loud[sid].detail)
        assert loud[sid].cells == quiet[sid].cells, sid
    assert quiet["h_perfect"].score == quiet["h_perfect"].max_score


def test_each_hog_is_contained(loud):
    """Each hog gets a status of its own; none breaks the grader (grading error)."""
    for sid in HOGS:
        result = loud[sid]
        assert result.status in (gc.GRADED, gc.TIMED_OUT, gc.KERNEL_DIED), (sid, result.detail)
        # its answers are the reference: hogging neither gains nor loses the verdicts
        if result.status == gc.GRADED:
            assert result.score == result.max_score, (sid, result.cells)
