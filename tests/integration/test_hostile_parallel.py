"""Parallel students cannot harm each other's verdicts (issue 13, item 5).

A class of honest students (the reference and slow or partly wrong but honest
variants from the catalog) is graded by the class command in parallel with a CPU
hog, a memory hog and a fork bomb, with more workers than cores. Every honest
student's per-cell scores must equal what it earns graded alone -- its catalog
entry's expected points, which a quiet grading gives (the whole catalog through
the sandboxed worker and a sample through nbgrader: tests/fixtures/
test_catalog_autograde.py) -- and each hog gets its own status without taking
points from anyone.

Before: the split's wall-clock rule cost an honest student 2 points next to a CPU
hog ("работает 5.3 с"); now no verdict hinges on wall-clock time."""

import pytest
from nbformat.v4 import new_code_cell
from nbgrader_helpers import ASSIGNMENT, copy_course, generate_assignment

import autograder.classgrade as gc
from autograder.assignment import contract
from fixtures import catalog, samples

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

# The class command hands the students to its workers in sorted order: the hogs
# ("hog_...") come before the honest students ("honest_..."), so three workers hold a hog
# each while the fourth grades the honest students one after another (each hog keeps its
# worker for two cell guards, >= 60 s; the honest students take ~40 s in all). With the
# hogs last, four of the five honest students were graded before any hog started.
# Honest students: the reference, slow-but-correct splits, and honest mistakes.
HONEST = {
    "honest_perfect": None,
    "honest_python_loop": "rs_python_loop",
    "honest_quadratic": "rs_quadratic",
    "honest_sig_naive": "sig_naive",
    "honest_bce_no_clip": "bce_no_clip",
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
HOGS = {"hog_cpu": CPU_HOG, "hog_memory": MEMORY_HOG, "hog_fork_bomb": FORK_BOMB}
assert max(HOGS) < min(HONEST)


def _honest(release, entry):
    return samples.perfect(release) if entry is None else samples.for_entry(release, entry)


def _deserved(entry):
    """{graded cell: [points, max]} an honest student earns graded alone."""
    points = contract.POINTS if entry is None else catalog.BY_NAME[entry].expected_points()
    return {cell: [points[cell], full] for cell, full in contract.POINTS.items()}


def _hog(release, code):
    nb = samples.perfect(release)
    nb.cells.append(new_code_cell(code))
    return nb


# The hogs loop forever in a cell: a shorter per-cell hang guard than the course's 120 s
# (each hog meets it twice: the kernel re-runs a hung notebook once) keeps the test short;
# the honest notebooks' slowest cell measures ~3 s even at load 57 (bench_hang_guards.py).
# The fork bomb ignores the interrupt: the kernel is then given up after iopub_timeout
# (the course's 60 s, twice; honest cells' outputs arrive within milliseconds), as in the
# tamper courses (tests/integration/test_tamper_*.py).
HANG_GUARDS = "\nc.SandboxedExecute.timeout = 30\nc.SandboxedExecute.iopub_timeout = 10\n"


def _grade(tmp_path_factory, name, students, workers):
    course = copy_course(tmp_path_factory.mktemp(name))
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(HANG_GUARDS)
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
def loud(tmp_path_factory):
    def students(release):
        everyone = {sid: _honest(release, e) for sid, e in HONEST.items()}
        everyone.update({sid: _hog(release, code) for sid, code in HOGS.items()})
        return everyone

    return _grade(tmp_path_factory, "loud", students, workers=4)


def test_honest_verdicts_equal_the_quiet_run(loud):
    """Each honest student's per-cell [points, max] next to the hogs are those it earns
    graded alone (a quiet grading gives the catalog's points: test_catalog_autograde.py)."""
    for sid, entry in HONEST.items():
        assert loud[sid].status == gc.GRADED, (sid, loud[sid].detail)
        assert loud[sid].cells == _deserved(entry), sid
    assert loud["honest_perfect"].score == loud["honest_perfect"].max_score


def test_each_hog_is_contained(loud):
    """Each hog gets a status of its own; none breaks the grader (grading error)."""
    for sid in HOGS:
        result = loud[sid]
        assert result.status in (gc.GRADED, gc.TIMED_OUT, gc.KERNEL_DIED), (sid, result.detail)
        # its answers are the reference: hogging neither gains nor loses the verdicts
        if result.status == gc.GRADED:
            assert result.score == result.max_score, (sid, result.cells)
