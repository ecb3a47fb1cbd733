"""Tests of the local engine (autograder.classgrade.pool)."""

import subprocess
import sys

import psutil
from classgrade.fixture_course import GOOD, by_id, run, submit

import autograder.classgrade as gc
from autograder.classgrade import pool


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


def test_a_dead_worker_is_replaced_and_the_others_graded(course):
    """A submission that kills its grading process costs only itself."""
    submit(course, "a", GOOD)
    # the kernel's parent is the grading process
    submit(course, "b", {"double": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"})
    submit(course, "c", GOOD)
    code, results = run(course, workers=1)
    res = by_id(results)
    assert (res["b"].status, res["b"].detail) == (gc.KERNEL_DIED, "the grading process died")
    assert (res["a"].status, res["a"].score) == (gc.GRADED, 3.0)
    assert (res["c"].status, res["c"].score) == (gc.GRADED, 3.0)
    assert code == gc.EXIT_ATTENTION
