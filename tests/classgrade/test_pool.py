"""Tests of the local engine (autograder.classgrade.pool)."""

import csv
import subprocess
import sys

import psutil
import pytest
from classgrade.fixture_course import (
    GOOD,
    attempt_log,
    attempts,
    by_id,
    gradebook_scores,
    run,
    submit,
)

import autograder.classgrade as gc
from autograder.classgrade import pool

# whole runs of real kernels or a class: not part of the fast set
pytestmark = pytest.mark.slow


def test_kill_tree_kills_descendants_in_their_own_sessions():
    """Are a worker's children and grandchildren (kernels start new sessions) all killed?"""
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],"
        " start_new_session=True)\n"
        "print('ok', flush=True)\n"
        "time.sleep(600)\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
    )
    assert worker.stdout.readline() == b"ok\n"
    family = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
    assert len(family) == 2
    pool.kill_tree(worker.pid)
    worker.wait()
    gone, alive = psutil.wait_procs(family, timeout=10)
    assert alive == []


def test_a_dead_worker_is_replaced_and_the_others_graded(course, tmp_path):
    """A submission that kills its grading process costs only itself (after one
    retry in a fresh worker, the verdict stands)."""
    submit(course, "a", GOOD)
    submit(course, "b", {"double": attempt_log(tmp_path / "b", kill="grader")})
    submit(course, "c", GOOD)
    code, results = run(course, workers=1)
    res = by_id(results)
    assert res["b"].status == gc.KERNEL_DIED
    assert res["b"].detail == (
        "the grading process died; after one retry "
        "(first attempt: kernel died: the grading process died)"
    )
    assert len(set(attempts(tmp_path / "b"))) == 2  # two attempts, two processes
    assert (res["a"].status, res["a"].score, res["a"].detail) == (gc.GRADED, 3.0, "")
    assert (res["c"].status, res["c"].score, res["c"].detail) == (gc.GRADED, 3.0, "")
    assert code == gc.EXIT_ATTENTION


def test_a_kernel_lost_once_is_graded_by_the_retry(course, tmp_path):
    """A kernel lost on the first attempt only: the student is graded in full by
    the second attempt, in a fresh worker process, and the retry is noted; a
    kernel lost every time ends "kernel died" after exactly two attempts."""
    submit(
        course,
        "once",
        {**GOOD, "double": attempt_log(tmp_path / "once", kill="kernel", only_first=True)},
    )
    submit(course, "always", {**GOOD, "double": attempt_log(tmp_path / "always", kill="kernel")})
    code, results = run(course, workers=2)
    res = by_id(results)
    once, always = res["once"], res["always"]
    assert (once.status, once.score, once.max_score) == (gc.GRADED, 3.0, 3.0)
    assert once.detail.startswith("after one retry (first attempt: kernel died: DeadKernelError")
    first, second = attempts(tmp_path / "once")
    assert first != second  # the retry ran in another worker process
    assert always.status == gc.KERNEL_DIED and always.score is None
    assert always.detail.count("DeadKernelError") == 2 and "after one retry" in always.detail
    assert len(attempts(tmp_path / "always")) == 2
    assert {p.name for p in (course / "reports/logs").glob("once*.log")} == {
        "once.log",
        "once.1.log",
    }
    rows = list(csv.DictReader(open(course / "grades.csv", encoding="utf-8")))
    assert sorted(row["student_id"] for row in rows) == ["always", "once"]  # one row each
    assert code == gc.EXIT_ATTENTION


def test_a_cell_timed_out_once_is_graded_and_merged_once(course, tmp_path):
    """A cell over the kernel timeout on the first attempt (nbgrader graded it without
    that cell): the retry's grades are the only ones merged."""
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        # the other cells print nothing and return at once, far under 20 s
        config.write("c.Execute.timeout = 20\n")
    log = tmp_path / "slow"
    sleep_once = (
        "import os, time\n"
        f"with open({str(log)!r}, 'a') as log:\n"
        "    log.write(f'{os.getppid()}\\n')\n"
        f"if len(open({str(log)!r}).readlines()) == 1:\n"
        "    time.sleep(3600)\n"
    )
    submit(course, "slow", {**GOOD, "double": sleep_once + GOOD["double"]})
    code, results = run(course, workers=1)
    (slow,) = results
    assert (slow.status, slow.score) == (gc.GRADED, 3.0)
    assert slow.detail.startswith("after one retry (first attempt: timed out: one_neuron.ipynb:")
    assert len(set(attempts(log))) == 2
    scores, submissions = gradebook_scores(course)
    assert submissions == 1 and scores["slow"] == {"test_double": 2.0, "test_sigmoid": 1.0}
    assert code == gc.EXIT_OK
