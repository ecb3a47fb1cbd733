"""A fresh clone grades with the README's commands alone (issue 9, item 1): the
gradebook is not committed, the release is, and plain `generate_assignment`
skips an existing release -- `make venv` and the class command add the
assignment to the gradebook from the committed course."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader_helpers import ASSIGNMENT, ROOT, copy_course

import autograder.classgrade as gc
from autograder.assignment import contract
from autograder.classgrade.app import make_app
from autograder.classgrade.gradebook import ensure_assignment

VENV = Path(sys.executable).parent.parent
TOTAL = sum(c.points for c in contract.GRADED_CELLS)
RELEASE = Path("release") / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def _env(clone):
    # the clone's own package first (not the editable install's working tree)
    return dict(
        os.environ,
        PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(clone),
    )


def _clone(tmp_path, name):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / name
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    return clone


def _submit_perfect(clone, student):
    from fixtures import samples

    nb = samples.perfect(samples.read_release(clone / RELEASE))
    samples.write_submission(clone, student, nb)


def _scores(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(ASSIGNMENT)}


@pytest.mark.slow
def test_fresh_clone_grades_with_plain_nbgrader_after_make_venv(tmp_path):
    """`make venv` (with the installed venv) then plain `nbgrader autograde`."""
    clone = _clone(tmp_path, "clone")
    assert not (clone / "gradebook.db").exists()
    subprocess.run(
        ["make", "-s", "venv", f"VENV={VENV}", "-o", f"{VENV}/.installed"],
        cwd=clone,
        env=_env(clone),
        check=True,
    )
    _submit_perfect(clone, "s1")
    done = subprocess.run(
        ["nbgrader", "autograde", ASSIGNMENT],
        cwd=clone,
        env=_env(clone),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert _scores(clone) == {"s1": TOTAL}
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""  # the committed release (and all else) untouched


@pytest.mark.slow
def test_fresh_clone_grades_with_the_class_command_alone(tmp_path):
    clone = _clone(tmp_path, "clone")
    _submit_perfect(clone, "s1")
    done = subprocess.run(
        [sys.executable, "-m", "autograder.classgrade", "--workers", "1", "--no-feedback"],
        cwd=clone,
        env=_env(clone),
        capture_output=True,
        text=True,
    )
    assert done.returncode == gc.EXIT_OK, done.stdout[-2000:] + done.stderr[-2000:]
    assert "assignment 'one_neuron' added" in done.stdout
    assert _scores(clone) == {"s1": TOTAL}


def test_a_stale_release_is_refused_and_left_as_committed(tmp_path):
    """Is a release that is not what nbgrader makes of source/ refused, naming it?"""
    course = copy_course(tmp_path / "course")
    release = course / RELEASE
    release.write_text(release.read_text().replace("sigmoid", "sigmoida", 1))
    before = release.read_bytes()
    with pytest.raises(gc.GradeClassError, match="committed release is not what nbgrader") as e:
        ensure_assignment(make_app(course), ASSIGNMENT, log=lambda *a: None)
    assert f"{ASSIGNMENT}.ipynb: differs" in str(e.value) and str(course / "release") in str(
        e.value
    )
    assert release.read_bytes() == before
    assert not (course / "gradebook.db").exists()


def test_a_matching_release_fills_the_gradebook_once(tmp_path):
    course = copy_course(tmp_path / "course")
    app = make_app(course)
    assert ensure_assignment(app, ASSIGNMENT, log=lambda *a: None) is True
    assert ensure_assignment(app, ASSIGNMENT, log=lambda *a: None) is False
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        cells = gb.find_assignment(ASSIGNMENT).notebooks[0].grade_cells
        assert {c.name: c.max_score for c in cells} == {
            c.grade_id: c.points for c in contract.GRADED_CELLS
        }
    assert (course / RELEASE).read_bytes() == (ROOT / RELEASE).read_bytes()
