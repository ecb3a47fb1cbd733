"""The same tampering submissions, graded by the class command in parallel workers.

`test_tamper_verdicts.py` (verdict-level attacks) and `test_tamper_environment.py`
(attacks on the grading environment) grade one submission at a time through
nbgrader's API. Here all of them sit in one class, with an honest student, and are
graded by `autograder.classgrade.command` with two workers: does any attacker gain a point,
harm the honest student, change a course file or `submitted/`, or stop the run?
"""

import copy
import hashlib
from pathlib import Path

import nbformat
import pytest
from integration.graded_course import POINTS, submission
from integration.verdict_attacks import SCENARIOS, STEAL
from nbgrader_helpers import ASSIGNMENT, ROOT, copy_course, generate_assignment

import autograder.classgrade as gc
from fixtures import samples

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
TAMPER_DIR = Path(__file__).parents[1] / "tamper"
ENVIRONMENT_ATTACKS = sorted(p.stem for p in TAMPER_DIR.glob("*.py"))
ZERO = {name: 0.0 for name in POINTS}
# Shorter hang guards for the test course (appended to its copy of nbgrader_config.py):
# short enough for the endless loop, long enough that the honest notebook never meets
# them on a busy machine (3 s per cell timed out its imports at load 14 on 2 cores; the
# slowest honest cell measures 3.3 s at load 57, bench_hang_guards.py: 20 s is 6x that,
# and a notebook meeting it once is run again from the top before anything counts).
# The endless loop, the fork bomb and the output flood each meet the cell guard at
# least twice.
FAST_LIMITS = """
c.SandboxedExecute.timeout = 20
c.SandboxedExecute.iopub_timeout = 10
c.TrustedVerdict.call_timeout = 10
"""
pytestmark = [
    pytest.mark.slow,  # a whole class through the class command
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning"),
]


def tree_digest(path):
    """Hash of every file (and symlink target) below path, links not followed."""
    h = hashlib.sha256()
    for file in sorted(Path(path).rglob("*")):
        h.update(str(file.relative_to(path)).encode() + b"\0")
        if file.is_symlink():
            h.update(b"L" + str(file.readlink()).encode())
        elif file.is_file():
            h.update(b"F" + file.read_bytes())
    return h.hexdigest()


def cell_scores(result):
    """{graded cell: points} of a class-command result (0 for a cell without a score)."""
    return {cell: (result.cells.get(cell) or [0.0])[0] or 0.0 for cell in POINTS}


def write(course, student, nb):
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / NOTEBOOK))
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("tamper_class"))
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(FAST_LIMITS)
    generate_assignment(course)
    release = samples.read_release(course / "release" / ASSIGNMENT / NOTEBOOK)

    expected = {"honest": POINTS}
    write(course, "honest", samples.perfect(release))
    for name, (answers, edit, points) in SCENARIOS.items():
        if answers == "steal":
            answers = {"sigmoid": STEAL.format(root=str(ROOT), course=str(course))}
        nb = submission(answers, base=copy.deepcopy(release))
        write(course, f"v_{name}", edit(nb) if edit is not None else nb)
        expected[f"v_{name}"] = points
    # Environment attacks in the random_sample cell (port 9: nothing listens there).
    prelude = f"COURSE = {str(course)!r}\nREPO = {str(ROOT)!r}\nPORT = 9\n"
    for attack in ENVIRONMENT_ATTACKS:
        code = prelude + (TAMPER_DIR / f"{attack}.py").read_text()
        folder = write(
            course, f"e_{attack}", samples.build_submission(release, {"random_sample": code})
        )
        expected[f"e_{attack}"] = ZERO
    (folder.parent.parent / "e_symlink_to_master" / ASSIGNMENT / "answers.txt").symlink_to(
        course / "source" / ASSIGNMENT / NOTEBOOK
    )
    expected["e_symlink_to_master"] = None  # refused before grading

    before = {
        "submitted": tree_digest(course / "submitted"),
        "source": tree_digest(course / "source"),
        "config": tree_digest(course / "release"),
    }
    code, results = gc.grade_class(
        ASSIGNMENT, course_dir=course, workers=2, timeout=120, report=False, log=lambda *a: None
    )
    after = {
        "submitted": tree_digest(course / "submitted"),
        "source": tree_digest(course / "source"),
        "config": tree_digest(course / "release"),
    }
    return {
        "course": course,
        "code": code,
        "results": {r.student_id: r for r in results},
        "expected": expected,
        "before": before,
        "after": after,
    }


def test_every_submission_has_a_result_and_the_run_finished(graded):
    assert set(graded["results"]) == set(graded["expected"])
    assert graded["code"] in (gc.EXIT_OK, gc.EXIT_ATTENTION)


def test_honest_student_keeps_full_marks(graded):
    honest = graded["results"]["honest"]
    assert honest.status == gc.GRADED and cell_scores(honest) == POINTS


@pytest.mark.parametrize(
    "student",
    sorted(
        set([f"v_{name}" for name in SCENARIOS] + [f"e_{attack}" for attack in ENVIRONMENT_ATTACKS])
    ),
)
def test_attacker_gains_nothing(graded, student):
    result, expected = graded["results"][student], graded["expected"][student]
    if expected is None:
        assert result.status == gc.INVALID and "symlink" in result.detail
        return
    assert cell_scores(result) == expected, (result.status, result.detail)


@pytest.mark.parametrize("what", ["submitted", "source", "config"])
def test_course_files_unchanged(graded, what):
    assert graded["after"][what] == graded["before"][what]


@pytest.mark.parametrize(
    "student, status",
    [
        ("e_endless_loop", gc.TIMED_OUT),
        ("e_kill_kernel", gc.KERNEL_DIED),
        ("v_kernel_killed_after_correct_answers", gc.KERNEL_DIED),
        ("e_symlink_to_master", gc.INVALID),
    ],
)
def test_broken_runs_get_their_status(graded, student, status):
    """The summary tells the instructor what happened (and still grades what it can)."""
    assert graded["results"][student].status == status
