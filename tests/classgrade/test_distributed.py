"""The class command on Dask (autograder.classgrade.distributed): real ``dask
scheduler`` / ``dask worker`` processes on 127.0.0.1, compared cell by cell with
the local pool; exactly-once grades under duplicated and reordered delivery; a
worker killed with kill -9 mid-class; a worker without bubblewrap; an
unreachable scheduler."""

import os
import random
import shutil
import signal
import threading
import time

import pytest
from classgrade.fixture_course import VARIANTS, gradebook_scores, notebook_bytes, run, submit
from services import VENV_BIN, dask_cluster, free_port

import autograder.classgrade as gc
from autograder.classgrade import cli, distributed, task
from autograder.classgrade.gradebook import assignment_gradebook, merge_submission


def _fixture_class(course, n):
    """n students round-robin over the fixture course's variants; expected scores."""
    expected = {}
    names = sorted(VARIANTS)
    for i in range(n):
        codes, score = VARIANTS[names[i % len(names)]]
        sid = f"st{i:02d}"
        submit(course, sid, codes, timestamp="2026-01-10 10:00:00 UTC")
        expected[sid] = score
    return expected


def _grade_rows(root):
    """Number of grade rows and submissions in the course's SQLite gradebook."""
    import sqlite3

    with sqlite3.connect(root / "gradebook.db") as db:
        grades = db.execute("SELECT COUNT(*) FROM grade").fetchone()[0]
        subs = db.execute("SELECT COUNT(*) FROM submitted_assignment").fetchone()[0]
    return grades, subs


def test_merge_is_exactly_once_whatever_the_delivery(course):
    """Does every student end up recorded exactly once, with the grades of the task
    sent in this run, when results come back twice, out of order and mixed with a
    stale result of another submission?"""
    from nbgrader.api import Gradebook

    snapshot = task.course_snapshot(
        course, "one_neuron", assignment_gradebook(course / "gradebook.db", "fixture")
    )
    variants = {"ann": "good", "bob": "bad_double", "cid": "untouched"}
    once = distributed.ExactlyOnce()
    deliveries = []
    for sid, variant in variants.items():
        job = task.GradingTask(
            sid, "one_neuron", {"one_neuron.ipynb": notebook_bytes(course, VARIANTS[variant][0])}
        )
        digest = distributed.task_digest(snapshot, job)
        once.expected[sid] = digest
        for attempt in range(2):  # the task ran twice (a retried worker)
            outcome = task.grade_student(snapshot, job)
            deliveries.append(distributed.Delivery(digest, f"{sid}-{attempt}", "w", outcome))
    # a result for ann's earlier submission (another digest) arrives as well
    stale = task.GradingTask(
        "ann", "one_neuron", {"one_neuron.ipynb": notebook_bytes(course, VARIANTS["untouched"][0])}
    )
    stale_outcome = task.grade_student(snapshot, stale)
    deliveries.append(
        distributed.Delivery(distributed.task_digest(snapshot, stale), "old", "w", stale_outcome)
    )
    random.Random(11).shuffle(deliveries)

    merged = []
    with Gradebook(f"sqlite:///{course}/gradebook.db", "fixture") as gb:
        for delivery in deliveries:
            if once.offer(delivery):
                merge_submission(
                    gb, "one_neuron", delivery.outcome.student, delivery.outcome.submission
                )
                merged.append(delivery.outcome.student)
        # merging the same result again (e.g. a re-run) changes nothing either
        for delivery in deliveries:
            if delivery.attempt in once.accepted.values():
                merge_submission(
                    gb, "one_neuron", delivery.outcome.student, delivery.outcome.submission
                )
    assert sorted(merged) == sorted(variants)
    assert once.duplicates == len(deliveries) - len(variants) == 4
    assert once.missing == []
    scores, n = gradebook_scores(course)
    assert n == 3
    assert {sid: sum(v.values()) for sid, v in scores.items()} == {
        sid: VARIANTS[v][1] for sid, v in variants.items()
    }
    grades, subs = _grade_rows(course)
    assert (grades, subs) == (3 * 2, 3)  # two graded cells per student, no duplicate row


def test_spool_keeps_only_results_of_the_same_task(tmp_path):
    """Is a kept result given back only for the very task (same digest) it graded?"""
    spool = distributed.Spool(tmp_path / "spool")
    outcome = task.GradingOutcome("ann", gc.GRADED)
    spool.put(distributed.Delivery("d1", "a1", "w", outcome))
    assert spool.students() == ["ann"]
    assert spool.get("ann", "d2") is None
    assert spool.get("ann", "d1").attempt == "a1"
    spool.remove("ann")
    assert spool.students() == [] and spool.get("ann", "d1") is None


@pytest.mark.services
def test_unreachable_scheduler_exits_2(course, capsys):
    """Does the command stop with exit status 2 and name the scheduler when nobody listens?"""
    submit(course, "ann", VARIANTS["good"][0])
    address = f"tcp://127.0.0.1:{free_port()}"
    code = cli.main(["one_neuron", "--course-dir", str(course), "--scheduler", address])
    err = capsys.readouterr().err
    assert code == gc.EXIT_USAGE
    assert address in err and "cannot reach the Dask scheduler" in err
    assert not (course / "autograded").exists()


@pytest.mark.services
@pytest.mark.slow
def test_real_course_on_dask_grades_like_the_local_pool(tmp_path):
    """Does the course's own pipeline (sandbox, trusted verdicts) give every cell the
    same score, status, feedback and CSV on two Dask workers as on the local pool?"""
    from fixtures import synthetic_class

    local = tmp_path / "local"
    synthetic_class.build_class(local, size=3, broken=False)
    remote = tmp_path / "remote"
    shutil.copytree(local, remote)
    code_local, res_local = gc.grade_class(course_dir=local, workers=2, log=lambda *a: None)
    with dask_cluster(2) as cluster:
        code_remote, res_remote = gc.grade_class(
            course_dir=remote, scheduler=cluster.address, log=lambda *a: None
        )
    assert code_local == code_remote == gc.EXIT_OK
    assert len(res_local) == 4  # three graded, one who did not submit
    for a, b in zip(res_local, res_remote, strict=True):
        assert (a.student_id, a.status, a.score, a.cells) == (
            b.student_id,
            b.status,
            b.score,
            b.cells,
        )
        assert a.status in (gc.GRADED, gc.NOT_SUBMITTED)
    # (a detail names the course folder: s004's missing submission)
    csv_local = (local / "grades.csv").read_text().replace(str(local), "COURSE")
    assert csv_local == (remote / "grades.csv").read_text().replace(str(remote), "COURSE")
    for sid in ("s001", "s002", "s003"):
        for kind in ("autograded", "feedback"):
            assert sorted(p.name for p in (local / kind / sid / "one_neuron").iterdir()) == sorted(
                p.name for p in (remote / kind / sid / "one_neuron").iterdir()
            )
    assert not (remote / "reports" / "spool").exists() or not any(
        (remote / "reports" / "spool").iterdir()
    )


@pytest.mark.services
@pytest.mark.slow
def test_worker_killed_mid_class_every_student_graded_once(course):
    """kill -9 of a worker while it grades: are its students re-run elsewhere and
    every student recorded exactly once with the right score?"""
    expected = _fixture_class(course, 6)
    with dask_cluster(2) as cluster:
        pids = cluster.worker_pids()
        victim = sorted(pids)[0]
        killed = threading.Event()

        def kill_when_busy():
            with cluster.client() as client:
                while not killed.is_set():
                    if client.processing().get(victim):
                        time.sleep(0.5)  # inside the task, not at its start
                        os.kill(pids[victim], signal.SIGKILL)
                        killed.set()
                        return
                    time.sleep(0.1)

        watcher = threading.Thread(target=kill_when_busy, daemon=True)
        watcher.start()
        code, results = gc.grade_class(
            course_dir=course, scheduler=cluster.address, timeout=120, log=lambda *a: None
        )
        killed.set()
        watcher.join(10)
        assert cluster.workers[0].poll() is not None or cluster.workers[1].poll() is not None
    assert code == gc.EXIT_OK, [(r.student_id, r.status, r.detail) for r in results]
    assert {r.student_id: r.score for r in results} == expected
    scores, n = gradebook_scores(course)
    assert n == 6
    assert {sid: sum(v.values()) for sid, v in scores.items()} == expected
    assert _grade_rows(course) == (6 * 2, 6)


@pytest.mark.services
@pytest.mark.slow
def test_worker_without_bubblewrap_is_refused(tmp_path):
    """Does a worker that cannot sandbox student code stop the run before any
    student is graded (exit 2, as locally), naming the worker and the reason?"""
    from fixtures import synthetic_class

    root = tmp_path / "course"
    synthetic_class.build_class(root, size=1, broken=False)
    env = {k: v for k, v in os.environ.items() if k != "ONE_NEURON_UNSAFE"}
    env["PATH"] = str(VENV_BIN)  # no /usr/bin: no bwrap, setpriv or prlimit
    with dask_cluster(1, worker_env=env) as cluster:
        with pytest.raises(gc.GradeClassError) as err:
            gc.grade_class(course_dir=root, scheduler=cluster.address, log=lambda *a: None)
    message = str(err.value)
    assert "cannot grade safely" in message and "bwrap" in message
    assert "127.0.0.1" in message
    assert not (root / "autograded").exists()


def test_cli_takes_a_scheduler():
    """Is --scheduler passed through (and absent by default: the local pool)?"""
    parser = cli.build_parser()
    assert parser.parse_args([]).scheduler is None
    assert parser.parse_args(["--scheduler", "tls://h:8786"]).scheduler == "tls://h:8786"


# --- retry once, as the local pool does ---------------------------------------------


def test_retry_rule_holds_back_only_a_first_time_out_or_lost_kernel():
    """Is a first "timed out"/"kernel died" held back (grade again), the second
    attempt final whatever it gives, noted with the pool's text, and every other
    status reported at once, unchanged?"""
    retry = distributed.RetryOnce()
    for status in sorted(set(gc.STATUSES) - {gc.TIMED_OUT, gc.KERNEL_DIED}):
        outcome = task.GradingOutcome("x", status, "why")
        assert retry.final(outcome) is outcome
    first = task.GradingOutcome("ann", gc.TIMED_OUT, "over the time budget of 5 s", seconds=5.0)
    assert retry.final(first) is None
    assert retry.final(task.GradingOutcome("bob", gc.KERNEL_DIED, "lost")) is None
    final = retry.final(task.GradingOutcome("ann", gc.GRADED, "", seconds=2.0))
    assert (final.student, final.outcome, final.seconds) == ("ann", gc.GRADED, 7.0)
    assert final.detail == (
        "after one retry (first attempt: timed out: over the time budget of 5 s)"
    )
    again = retry.final(task.GradingOutcome("bob", gc.KERNEL_DIED, "lost"))
    assert (again.outcome, again.detail) == (
        gc.KERNEL_DIED,
        "lost; after one retry (first attempt: kernel died: lost)",
    )
    assert retry.first == {}  # nothing left held back


@pytest.fixture
def no_idle_children():
    """Grading processes kept warm by grade_remote in this process are killed after."""
    yield
    with distributed._IDLE_LOCK:
        children, distributed._IDLE[:] = list(distributed._IDLE), []
    for child in children:
        child.kill()


def test_a_kernel_lost_once_gets_the_local_pools_status_on_the_dask_path(
    course, tmp_path, no_idle_children
):
    """The Dask task (run outside a cluster) and the coordinator's retry rule: is a
    student whose kernel dies on the first attempt only graded by the second
    attempt, in a fresh grading process, with the status, score and detail the
    local pool gives the same submission?"""
    from classgrade.fixture_course import GOOD, attempt_log, attempts

    codes = {**GOOD, "double": attempt_log(tmp_path / "dask", kill="kernel", only_first=True)}
    snapshot = task.course_snapshot(
        course, "one_neuron", assignment_gradebook(course / "gradebook.db", "fixture")
    )
    job = task.GradingTask(
        "once", "one_neuron", {"one_neuron.ipynb": notebook_bytes(course, codes)}
    )
    digest = distributed.task_digest(snapshot, job)
    retry = distributed.RetryOnce()
    first = distributed.grade_remote(snapshot, job, digest, 300, False)
    assert first.outcome.outcome == gc.KERNEL_DIED
    assert retry.final(first.outcome) is None
    assert distributed._IDLE == []  # its grading process was not kept for the retry
    second = distributed.grade_remote(snapshot, job, digest, 300, False)
    final = retry.final(second.outcome)
    assert len(set(attempts(tmp_path / "dask"))) == 2  # two attempts, two processes

    codes["double"] = attempt_log(tmp_path / "local", kill="kernel", only_first=True)
    submit(course, "once", codes)
    code, (local,) = run(course, workers=1)
    assert len(set(attempts(tmp_path / "local"))) == 2
    assert (final.outcome, local.status) == (gc.GRADED, gc.GRADED)
    scores = {
        g: v["auto_score"] for g, v in final.submission["notebooks"]["one_neuron"]["grades"].items()
    }
    assert sum(scores.values()) == local.score == 3.0
    # the same detail but for the kernel's address and pid in nbgrader's message
    assert final.detail.split("DeadKernelError")[0] == local.detail.split("DeadKernelError")[0]
    assert final.detail.startswith("after one retry (first attempt: kernel died: DeadKernelError")


@pytest.mark.services
@pytest.mark.slow
def test_dask_retries_a_lost_kernel_once_like_the_local_pool(course, tmp_path):
    """On two real Dask workers, a kernel lost on the first attempt only is graded in
    full by the retry, one lost every time ends "kernel died" after exactly two
    attempts: the same statuses, scores, details, logs and rows as the local pool."""
    from classgrade.fixture_course import GOOD, attempt_log, attempts

    local = tmp_path / "local"
    shutil.copytree(course, local)
    for root in (course, local):
        for sid, only_first in (("once", True), ("always", False)):
            double = attempt_log(
                tmp_path / f"{root.name}-{sid}", kill="kernel", only_first=only_first
            )
            submit(root, sid, {**GOOD, "double": double})
        submit(root, "good", GOOD)
    code_local, res_local = run(local, workers=2)
    with dask_cluster(2) as cluster:
        code, res = gc.grade_class(
            course_dir=course, scheduler=cluster.address, log=lambda *a: None
        )
    assert code == code_local == gc.EXIT_ATTENTION
    assert [(r.student_id, r.status, r.score, r.detail) for r in res] == [
        (r.student_id, r.status, r.score, r.detail) for r in res_local
    ]
    by = {r.student_id: r for r in res}
    assert (by["once"].status, by["once"].score) == (gc.GRADED, 3.0)
    assert by["once"].detail.startswith("after one retry (first attempt: kernel died:")
    assert by["always"].status == gc.KERNEL_DIED and "after one retry" in by["always"].detail
    assert len(set(attempts(tmp_path / "course-once"))) == 2  # two grading processes
    assert len(attempts(tmp_path / "course-always")) == 2  # exactly two attempts
    for root in (course, local):
        assert {p.name for p in (root / "reports/logs").glob("once*.log")} == {
            "once.log",
            "once.1.log",
        }
    # "always" has no grades in either (its verdict is final: kernel died)
    assert _grade_rows(course) == _grade_rows(local) == (2 * 2, 2)
