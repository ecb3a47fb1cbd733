"""The course's gradebook on a real PostgreSQL server (autograder.classgrade.database),
graded on real Dask workers: the same grades as SQLite and the local pool, row
counts that a re-run does not change, and the server stopped mid-run (merging
stops, results are kept on disk, the next run merges them)."""

import threading
import time

import psycopg
import pytest
from classgrade.fixture_course import VARIANTS, run, submit
from services import dask_cluster, postgres

import autograder.classgrade as gc
from autograder.classgrade import database

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def pg():
    with postgres() as server:
        yield server


@pytest.fixture(scope="module")
def cluster():
    with dask_cluster(2) as c:
        yield c


def _class(course, n):
    names = sorted(VARIANTS)
    expected = {}
    for i in range(n):
        codes, score = VARIANTS[names[i % len(names)]]
        submit(course, f"st{i:02d}", codes, timestamp="2026-01-10 10:00:00 UTC")
        expected[f"st{i:02d}"] = score
    return expected


def _to_postgres(course, pg, name):
    """Move the course's gradebook into a new database; the SQLite file is removed."""
    url = pg.create_database(name)
    database.copy_gradebook(f"sqlite:///{course}/gradebook.db", url)
    (course / "gradebook.db").unlink()
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f'c.CourseDirectory.db_url = "{url}"\n')
    return url


def _rows(pg, name):
    """{student: total auto score}, grade rows, submissions in the PostgreSQL gradebook."""
    with psycopg.connect(host="127.0.0.1", port=pg.port, user="grader", dbname=name) as db:
        scores = dict(
            db.execute(
                "SELECT s.student_id, SUM(g.auto_score) FROM grade g "
                "JOIN submitted_notebook n ON g.notebook_id = n.id "
                "JOIN submitted_assignment s ON n.assignment_id = s.id GROUP BY s.student_id"
            ).fetchall()
        )
        grades = db.execute("SELECT COUNT(*) FROM grade").fetchone()[0]
        subs = db.execute("SELECT COUNT(*) FROM submitted_assignment").fetchone()[0]
    return {k: None if v is None else float(v) for k, v in scores.items()}, grades, subs


def test_password_in_the_config_is_not_sent_to_workers():
    """Is a run refused when a file shipped to the workers holds the db password?"""
    url = "postgresql+psycopg://grader:s3cret@db/course"
    with pytest.raises(gc.GradeClassError, match="nbgrader_config.py holds the gradebook"):
        database.check_no_secret(url, {"nbgrader_config.py": f'db_url = "{url}"'.encode()})
    database.check_no_secret("postgresql+psycopg://grader@db/course", {"x": b"s3cret"})
    assert "s3cret" not in database.label(url)


def test_postgres_on_dask_grades_like_sqlite_locally(course, tmp_path, pg, cluster):
    """Same scores per cell and CSV as SQLite with the local pool; the schema and the
    assignment come from the coordinator; a re-run leaves the row counts alone."""
    import shutil

    reference = tmp_path / "reference"
    shutil.copytree(course, reference)
    expected = _class(course, 4)
    _class(reference, 4)
    code_ref, res_ref = run(reference)
    _to_postgres(course, pg, "same")
    for _ in range(2):  # the re-run is idempotent
        code, res = gc.grade_class(
            course_dir=course, scheduler=cluster.address, log=lambda *a: None
        )
        assert code == code_ref == gc.EXIT_OK
        assert [(r.student_id, r.status, r.score, r.cells) for r in res] == [
            (r.student_id, r.status, r.score, r.cells) for r in res_ref
        ]
        assert (course / "grades.csv").read_text() == (reference / "grades.csv").read_text()
        assert _rows(pg, "same") == (expected, 4 * 2, 4)
    assert not (course / "gradebook.db").exists()


def test_postgres_stopped_mid_run_keeps_results_and_resumes(course, pg, cluster):
    """PostgreSQL stopped after the first merge: does the run stop with a clear
    error, keep the results that came back on disk, lose and duplicate nothing,
    and does the next run (server back) merge them and grade the rest once?"""
    expected = _class(course, 6)
    _to_postgres(course, pg, "down")
    stopped = threading.Event()

    def stop_after_first_merge():
        while not stopped.is_set():
            try:
                if _rows(pg, "down")[2] >= 1:
                    pg.stop()
                    stopped.set()
                    return
            except psycopg.OperationalError:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=stop_after_first_merge, daemon=True)
    watcher.start()
    try:
        with pytest.raises(gc.GradeClassError) as err:
            gc.grade_class(course_dir=course, scheduler=cluster.address, log=lambda *a: None)
    finally:
        stopped.set()
        watcher.join(30)
        pg.start()
    message = str(err.value)
    assert "the gradebook failed mid-run" in message and "run the same command again" in message
    spool = course / "reports" / "spool"
    kept = sorted(p.stem for p in spool.glob("*.pickle"))
    scores, grades, subs = _rows(pg, "down")
    assert subs == len(scores) >= 1 and grades == 2 * subs
    merged = {s: v for s, v in scores.items() if v is not None}
    # nbgrader commits the submission row before its scores: a student cut in
    # between has no scores yet, and their result is among the kept ones
    half_merged = set(scores) - set(merged)
    assert half_merged <= set(kept)
    # (a result may be kept although its merge committed: the cut came after the
    # commit, while the coordinator read the student back; merging it again is a no-op)
    assert merged == {s: expected[s] for s in merged}  # what was merged is right

    lines = []
    code, results = gc.grade_class(course_dir=course, scheduler=cluster.address, log=lines.append)
    assert code == gc.EXIT_OK
    assert {r.student_id: r.score for r in results} == expected
    assert _rows(pg, "down") == (expected, 6 * 2, 6)
    assert list(spool.glob("*.pickle")) == []
    if kept:
        assert any(f"{len(kept)} results kept by an earlier run merged" in line for line in lines)
