"""Tampering submissions under real `nbgrader autograde`: none gains a point, none harms others.

Each scenario is a submission built from the release; its expected scores are
those of the same answers without the tampering (0 everywhere for the stubs of
the release, full marks for the reference). After each one, the honest
student's grades, the assignment's maximum and the course files must be
unchanged.
"""

import hashlib
from pathlib import Path

import pytest
from integration.graded_course import (
    MAX_SCORE,
    POINTS,
    assignment_max_score,
    autograde,
    grade_id,
    graded_perfect,
    scores,
    shared_course,
    submission,
)
from integration.verdict_attacks import SCENARIOS, steal_answers


def _fingerprint(course):
    """Hash of the course files a submission must not change (and of the honest one's work)."""
    digest = hashlib.sha256()
    course = Path(course)
    paths = (
        [course / "nbgrader_config.py"]
        + sorted((course / "source").rglob("*"))
        + sorted((course / "release").rglob("*"))
        + sorted((course / "submitted" / "perfect").rglob("*"))
    )
    for path in paths:
        if path.is_file():
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


pytestmark = pytest.mark.slow  # every verdict attack through nbgrader autograde


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = shared_course(tmp_path_factory)
    graded_perfect(course)
    return course


@pytest.mark.parametrize("name", SCENARIOS)
def test_tampering_gains_nothing_and_harms_nobody(course, name):
    answers, edit, expected = SCENARIOS[name]
    if answers == "steal":
        answers = {"sigmoid": steal_answers(course)}
    before = _fingerprint(course)
    nb = submission(answers)
    if edit is not None:
        nb = edit(nb)
    got, graded_nb = autograde(course, f"tamper_{name}", nb)
    assert got == expected
    assert sum(value or 0.0 for value in got.values()) <= MAX_SCORE
    # nobody else is harmed: the honest student's grades, the maximum, the course files
    assert scores(course, "perfect") == POINTS
    assert assignment_max_score(course) == MAX_SCORE
    assert _fingerprint(course) == before
    # the graded cells carry the gradebook's points and exactly one verdict output
    graded = [c for c in graded_nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert sorted(grade_id(c) for c in graded) == sorted(POINTS)
    for cell in graded:
        assert cell.metadata.nbgrader["points"] == POINTS[grade_id(cell)]
        assert len(cell.outputs) == 1
