"""TrustedVerdict runs a check once more, in a fresh sandboxed worker, before a time-out
of the worker is final (issue 8 item 4): a check timed out on its first run only passes;
one timed out every time is "timed out" (ename CellTimeoutError), never a plain failure.

The check below keeps its state in the grader (the worker cannot keep anything from one
process to the next); the student function hangs only when the check asks it to, so no
assertion hinges on how fast the machine is: a hang never ends, the other call is
trivial, and its guard (20 s) is far above what it takes."""

import pytest

from autograder.assignment import checks
from autograder.preprocessors.trusted_verdict import (
    VERDICT_TIMEOUT_ENAME,
    TrustedVerdict,
    VerdictTimeout,
    load_assignment,
    verdict_outputs,
)

STUDENT = "def f(hang):\n    while hang:\n        pass\n    return 2\n"

# whole runs of real kernels or a class: not part of the fast set
pytestmark = pytest.mark.slow


def _verdict(hang_on_runs):
    runs = []

    def check(f):
        runs.append(len(runs) + 1)
        # as the course's checks call student code (a time-out becomes an AssertionError)
        with checks._running("f(...)"):
            value = f(len(runs) in hang_on_runs)
        assert value == 2

    verdict = TrustedVerdict(assignment="autograder.assignment", check_timeout=600.0)
    with load_assignment("autograder.assignment").worker(call_timeout=20.0) as worker:
        assert worker.load([("answer", STUDENT)])[0]["error"] is None
        error = verdict.run_check(worker, check, ["f"])
        return error, runs, worker.spawns


def test_a_check_timed_out_on_its_first_run_only_passes():
    error, runs, spawns = _verdict(hang_on_runs={1})
    assert error is None
    assert runs == [1, 2] and spawns == 2  # the re-run had a fresh worker


def test_a_check_timed_out_every_time_is_timed_out_after_two_runs():
    error, runs, spawns = _verdict(hang_on_runs={1, 2, 3})
    assert isinstance(error, VerdictTimeout)
    assert runs == [1, 2] and spawns == 2
    (output,) = verdict_outputs(error)
    assert output.ename == VERDICT_TIMEOUT_ENAME == "CellTimeoutError"
    assert output.evalue.startswith("Проверка не уложилась в отведённое время")
    assert "превышено время выполнения (20 с)" in output.evalue


def test_a_failing_check_is_not_run_twice():
    runs = []

    def check(f):
        runs.append(1)
        if f(False) != 3:
            raise AssertionError("f(False) должна вернуть 3")

    verdict = TrustedVerdict(assignment="autograder.assignment")
    with load_assignment("autograder.assignment").worker(call_timeout=20.0) as worker:
        worker.load([("answer", STUDENT)])
        error = verdict.run_check(worker, check, ["f"])
    assert str(error) == "f(False) должна вернуть 3" and runs == [1]
