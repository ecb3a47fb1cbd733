"""Calls through the sandboxed worker (autograder.sandbox.remote): failures, in-place
semantics, shared objects kept across calls, and what the grader observes of a call."""

import warnings

import numpy as np
import pytest
from sandbox.values import ARRAYS, SCALARS

from autograder.assignment import reference
from autograder.assignment.checks import CheckNet
from autograder.preprocessors.trusted_verdict import load_assignment
from autograder.sandbox import bubblewrap as sandbox
from autograder.sandbox import remote
from autograder.sandbox.remote import (
    Opaque,
    ProtocolViolation,
    StudentError,
    StudentWorker,
    WorkerTimeout,
)

ASSIGNMENT = load_assignment("autograder.assignment")

CELLS = {
    "identity": "def identity(*args):\n    return args[0] if len(args) == 1 else args\n",
    "sigmoid": "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n",
    "backprop": (
        "def backprop(net, x, y, lr=0.01):\n"
        "    r = net(x)\n"
        "    net.w -= lr * np.mean((r - y) * x)\n"
        "    net.b -= lr * np.mean(r - y)\n"
    ),
    "misc": (
        "import os, sys\n"
        "class MyError(Exception):\n    pass\n"
        "def fail_custom():\n    raise MyError('своя ошибка')\n"
        "def fail_value(x):\n    raise ValueError(f'плохой x={x}')\n"
        "def add_one(a):\n    a += 1\n    return None\n"
        "def noisy(x):\n"
        "    print('шум' * 1000)\n"
        "    print('в stderr', file=sys.stderr)\n"
        "    os.write(1, b'{\"ok\": true}' * 100)\n"
        "    return x * 2\n"
        "def sleep_forever():\n    while True:\n        pass\n"
        "def forge_garbage():\n    os.write(int(sys.argv[2]), b'\\x00\\x00\\x00\\x05hello')\n"
        "def forge_huge():\n    os.write(int(sys.argv[2]), b'\\x7f\\xff\\xff\\xff')\n"
        "def exit_now():\n    os._exit(3)\n"
        "def hog():\n    return np.ones(2 ** 31).sum()\n"
        "def returns_object():\n    return object()\n"
        "def returns_object_array():\n    return np.array([1, None], dtype=object)\n"
        "class Anything:\n    def __eq__(self, other):\n        return True\n"
        "def returns_anything():\n    return Anything()\n"
        "def add_one_and_return(a):\n    a += 1\n    return a\n"
        "def backprop_object_params(net, x, y, lr=0.01):\n"
        "    net.w, net.b = object(), [1, 2]\n"
        "def backprop_returning_net(net, x, y, lr=0.01):\n"
        "    net.w = net.w - lr * np.mean((net(x) - y) * x)\n"
        "    return net, net.w\n"
        "def draw():\n    import random\n    return np.random.rand(3), random.random()\n"
        "def reference_visible():\n"
        "    import gc\n"
        "    return any(getattr(getattr(o, '__code__', None), 'co_filename', '').startswith('<reference')\n"
        "               for o in gc.get_objects())\n"
        "def warn_user():\n    import warnings\n    warnings.warn('осторожно')\n    return 1\n"
        "CALLS = []\n"
        "def count_calls():\n    CALLS.append(1)\n    return len(CALLS)\n"
        "def backprop_with_memory(net, x, y, lr=0.01):\n"
        "    if not hasattr(net, 'steps'):\n        net.steps = []\n"
        "    net.steps.append(float(net.w))\n"
        "    net.w = net.w + 1.0\n"
        "    return len(net.steps)\n"
        "def busy(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n"
        "def patch_the_worker():\n"
        "    import sys\n"
        "    sys.modules['wire'].encode = lambda *args, **kwargs: 0.5\n"
        "    return 1\n"
    ),
}


@pytest.fixture(scope="module")
def worker():
    with ASSIGNMENT.worker(call_timeout=5, unsafe=True) as student:
        report = student.load(list(CELLS.items()))
        assert all(item["error"] is None for item in report), report
        yield student


@pytest.fixture
def fresh_worker():
    """A worker no env (trusted code) was ever sent to: its text still comes back."""
    with ASSIGNMENT.worker(call_timeout=5, unsafe=True) as student:
        student.load([(name, CELLS[name]) for name in ("identity", "misc", "backprop")])
        yield student


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype.str}{a.shape}")
def test_arrays_come_back_from_the_worker_unchanged(array, worker):
    """Do arrays of many dtypes and shapes come back from the worker unchanged?"""
    back = worker.call("identity", (array,))
    assert type(back) is np.ndarray
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_scalars_and_containers_come_back_from_the_worker(value, worker):
    """Do Python and numpy scalars, tuples, lists and dicts keep their types and values?"""
    back = worker.call("identity", (value,))
    assert type(back) is type(value)
    assert repr(back) == repr(value) or str(back) == str(value)


@pytest.mark.parametrize("function", ["forge_garbage", "forge_huge"])
def test_forged_messages_from_the_worker_fail_the_call_and_respawn(worker, function):
    """Does a forged or oversized response fail only that call, with a fresh worker after it?"""
    spawns = worker.spawns
    with pytest.raises(ProtocolViolation):
        worker.call(function)
    assert worker.call("identity", (3,)) == 3
    assert worker.spawns == spawns + 1


def test_timeout_raises_in_russian_and_respawns(worker):
    """Does an endless loop end in a Russian timeout error, and does the next call work?"""
    worker.call_timeout = 1.0
    try:
        with pytest.raises(WorkerTimeout, match="превышено время"):
            worker.call("sleep_forever")
    finally:
        worker.call_timeout = 5.0
    np.testing.assert_array_equal(worker.call("noisy", (np.arange(3),)), [0, 2, 4])


STOP_READING = """
import os, sys, threading, time
def answer_twice_and_stop_reading():
    # a thread forges the answers of this call and the next; the main thread never
    # reads a request again, so the next request stays in the pipe
    response = b'{"ok":true,"result":1,"error":null,"args_after":[],"kwargs_after":{}}'
    frame = len(response).to_bytes(4, "big") + response
    threading.Thread(target=os.write, args=(int(sys.argv[2]), frame * 2)).start()
    time.sleep(1000)
"""


def test_a_worker_that_stops_reading_cannot_hold_a_large_request_past_the_timeout():
    """Is sending a request larger than the pipe's free room bounded by the timeout too?"""
    with StudentWorker(call_timeout=2, unsafe=True) as student:
        student.load([("stop", STOP_READING), ("identity", CELLS["identity"])])
        assert student.call("answer_twice_and_stop_reading") == 1
        assert student.call("answer_twice_and_stop_reading") == 1  # forged, never read
        # the pipe is nearly empty: a blocking write of a large chunk would wait forever
        with pytest.raises(WorkerTimeout, match="при передаче данных"):
            student.call("identity", (np.zeros(2**20),))
        assert student.call("identity", (3,)) == 3  # a fresh worker


def test_time_budget_covers_all_calls_of_a_block(worker):
    """Is a check's total budget enforced across calls?"""
    with worker.time_budget(0.0):
        with pytest.raises(WorkerTimeout, match="общее время"):
            worker.call("identity", (1,))


@pytest.mark.parametrize(
    "function, args, type_name, message, builtin",
    [
        ("fail_value", (5,), "ValueError", "плохой x=5", ValueError),
        ("fail_custom", (), "MyError", "своя ошибка", None),
        ("missing_function", (), "NameError", "name 'missing_function' is not defined", NameError),
        (
            "add_one",
            ("текст",),
            "TypeError",
            'can only concatenate str (not "int") to str',
            TypeError,
        ),
    ],
)
def test_student_exceptions_keep_type_name_and_message(
    fresh_worker, function, args, type_name, message, builtin
):
    """Is the student's exception raised here with its own type name and message?"""
    with pytest.raises(StudentError) as caught:
        fresh_worker.call(function, args)
    assert type(caught.value).__name__ == type_name
    assert str(caught.value) == message
    if builtin is not None:
        assert isinstance(caught.value, builtin)


def test_crash_and_memory_limit_fail_the_call_only(worker):
    """Do os._exit and an allocation over the memory limit fail just their call?"""
    with pytest.raises(StudentError) as caught:
        worker.call("hog")
    assert type(caught.value).__name__ == "MemoryError"
    with pytest.raises(Exception, match="аварийно завершился"):
        worker.call("exit_now")
    assert worker.call("identity", ("жив",)) == "жив"


def test_in_place_changes_are_copied_back(worker):
    """Are mutated arrays copied back, and do read-only arrays stay read-only in the worker?"""
    array = np.zeros(3)
    worker.call("add_one", (array,))
    np.testing.assert_array_equal(array, [1, 1, 1])
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        worker.call("add_one", (frozen,))


@pytest.mark.parametrize("activation", ["reference", "student"])
def test_net_parameters_are_updated_like_in_the_kernel(worker, activation):
    """Does backprop through the proxy update net.w and net.b exactly as a local call?"""
    x = np.linspace(-3, 3, 11)
    y = (x > 0).astype(float)
    remote_net = CheckNet(
        0.7, 0.1, "reference" if activation == "reference" else worker.function("sigmoid")
    )
    worker.call("backprop", (remote_net, x, y), {"lr": 0.5})
    local_net = reference.Net(0.7, 0.1)
    reference.backprop(local_net, x, y, lr=0.5)
    assert remote_net.w == pytest.approx(local_net.w, rel=1e-12)
    assert remote_net.b == pytest.approx(local_net.b, rel=1e-12)


def test_net_parameters_of_unsupported_types_become_placeholders(worker):
    """Does net.w = object() reach the check as a placeholder of type 'object'?"""
    net = CheckNet(0.5, 0.0, "reference")
    worker.call("backprop_object_params", (net, np.ones(2), np.ones(2)))
    assert isinstance(net.w, Opaque) and type(net.w).__name__ == "object"
    assert net.b == [1, 2]


def test_no_text_of_the_worker_comes_back_once_trusted_code_is_there(fresh_worker):
    """Once the reference activation is in the worker, can a student's exception message,
    exception type or returned string carry anything (such as its source) back to a
    check's message? Only a builtin type name without text, and anonymous placeholders."""
    student = fresh_worker
    with pytest.raises(StudentError) as before:
        student.call("fail_custom")
    assert (type(before.value).__name__, str(before.value)) == ("MyError", "своя ошибка")
    student.call("backprop", (CheckNet(0.0, 0.0, "reference"), np.ones(2), np.ones(2)))
    with pytest.raises(StudentError) as custom:
        student.call("fail_custom")
    assert (type(custom.value).__name__, str(custom.value)) == ("Exception", "")
    with pytest.raises(ValueError) as builtin:
        student.call("fail_value", (1,))
    assert str(builtin.value) == ""
    result = student.call("identity", ("def sigmoid(x): ...",))
    assert isinstance(result, Opaque) and type(result).__name__ == "object"
    assert student.call("identity", (0.25,)) == 0.25  # numbers still come back


def test_reference_activation_arrives_only_when_needed():
    """Is the trusted sigmoid out of the student's reach until a reference net is sent?"""
    with ASSIGNMENT.worker(call_timeout=5, unsafe=True) as student:
        student.load([("misc", CELLS["misc"]), ("backprop", CELLS["backprop"])])
        assert student.call("reference_visible") is False
        net = CheckNet(0.0, 0.0, "reference")
        student.call("backprop", (net, np.ones(2), np.ones(2)))
        assert student.call("reference_visible") is True


def test_warnings_are_not_re_emitted_but_stderr_is_observed(worker):
    """Is a warning only text on the worker's stderr, seen by the grader per call?"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, observed = remote.observed_call(
            worker.function("sigmoid"), np.array([-1000.0, 0.0])
        )
        _, user = remote.observed_call(worker.function("warn_user"))
        _, quiet = remote.observed_call(worker.function("identity"), 1)
    assert caught == []
    np.testing.assert_array_equal(result, [0.0, 0.5])
    assert "RuntimeWarning: overflow encountered in exp" in observed.stderr
    assert "UserWarning: осторожно" in user.stderr
    assert quiet.stderr == "" and quiet.stderr_bytes == 0


def test_callers_errstate_applies_in_the_worker(worker):
    """Does np.errstate(over='raise') around the call raise like it would in-kernel?"""
    with np.errstate(over="raise"):
        with pytest.raises(FloatingPointError):
            worker.call("sigmoid", (np.array([-1000.0]),))


def test_prints_of_student_code_do_not_break_the_protocol(worker):
    """Do prints to stdout/stderr and raw writes to fd 1 leave the protocol intact?"""
    assert worker.call("noisy", (21,)) == 42


@pytest.mark.parametrize(
    "function, type_name",
    [
        ("returns_object", "object"),
        ("returns_object_array", "ndarray[|O]"),
        ("returns_anything", "Anything"),
    ],
)
def test_unsupported_results_become_inert_placeholders(fresh_worker, function, type_name):
    """Does a result that is not data arrive as a named placeholder that equals nothing?"""
    result = fresh_worker.call(function)
    assert isinstance(result, Opaque) and type(result).__name__ == type_name
    assert result != result.__class__() and not (result == 0.5)
    assert not hasattr(result, "__array__") and not hasattr(result, "__len__")


def test_results_that_are_arguments_come_back_as_the_callers_objects(worker):
    """Is `result is x` kept for returned array and net arguments, as in-kernel?"""
    array = np.zeros(2)
    assert worker.call("add_one_and_return", (array,)) is array
    np.testing.assert_array_equal(array, [1, 1])
    net = CheckNet(0.5, 0.0, "reference")
    pair = worker.call("backprop_returning_net", (net, np.ones(3), np.ones(3)), {"lr": 1.0})
    assert pair[0] is net and pair[1] == net.w
    assert net.w != 0.5


def test_random_state_is_seeded_deterministically():
    """Do two workers give the same random draws for the same call sequence?"""
    draws = []
    for _ in range(2):
        with StudentWorker(call_timeout=5, unsafe=True) as student:
            student.load([("misc", CELLS["misc"])])
            draws.append([student.call("draw") for _ in range(2)])
    (first_a, first_b), (second_a, second_b) = draws
    np.testing.assert_array_equal(first_a[0], second_a[0])
    assert first_a[1] == second_a[1]
    assert not np.array_equal(first_a[0], first_b[0])


def test_load_reports_errors_per_cell_and_skips_cells_that_hang():
    """Does a failing, endless or oversized answer cell cost only itself, as in a kernel?"""
    cells = [
        ("a", "def f():\n    return 1\n"),
        ("b", "1 / 0"),
        ("c", "while True:\n    pass"),
        ("d", "def g():\n    return f() + 1\n"),
        ("e", "#" * 2_000_000),
    ]
    with StudentWorker(call_timeout=1, unsafe=True) as student:
        report = student.load(cells)
        assert [item["error"] and item["error"]["type"] for item in report] == [
            None,
            "ZeroDivisionError",
            "WorkerTimeout",
            None,
            "MemoryError",
        ]
        assert student.call("g") == 2


def test_grading_refuses_without_sandbox(monkeypatch):
    """Without bubblewrap, does the worker refuse to start unless unsafe grading is asked for?"""
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
    monkeypatch.setattr(sandbox, "sandbox_available", lambda: (False, "no bwrap (test)"))
    with pytest.raises(sandbox.SandboxUnavailableError):
        StudentWorker().start()


def test_a_worker_that_cannot_start_stops_grading(tmp_path, monkeypatch):
    """Does a broken worker abort grading (BaseException) instead of failing checks with 0?"""
    from autograder.assignment.checks import check_sigmoid_values
    from autograder.preprocessors.trusted_verdict import TrustedVerdict
    from autograder.sandbox import remote

    broken = tmp_path / "worker.py"
    broken.write_text("raise SystemExit(3)\n")
    monkeypatch.setattr(remote, "WORKER_SOURCE_PATH", str(broken))
    with StudentWorker(call_timeout=5, unsafe=True) as student:
        with pytest.raises(remote.WorkerStartError):
            student.load([("sigmoid", CELLS["sigmoid"])])
        with pytest.raises(remote.WorkerStartError):
            TrustedVerdict().run_check(student, check_sigmoid_values, ["sigmoid"])


# -- faithful calls: the student's objects live as long as the worker --------------------


def test_module_globals_persist_between_calls(worker):
    """Does state a student function keeps in a global survive from call to call?"""
    first = worker.call("count_calls")
    assert [worker.call("count_calls") for _ in range(3)] == [first + 1, first + 2, first + 3]


def test_the_same_net_is_the_same_object_in_the_worker(worker):
    """Do attributes the student sets on a net persist while the grader passes it again?"""
    net = CheckNet(0.5, 0.0, "reference")
    steps = [worker.call("backprop_with_memory", (net, np.ones(2), np.ones(2))) for _ in range(3)]
    assert steps == [1, 2, 3]
    assert net.w == 3.5
    other = CheckNet(0.5, 0.0, "reference")  # another grader object: another instance
    assert worker.call("backprop_with_memory", (other, np.ones(2), np.ones(2))) == 1


def test_grader_changes_to_the_state_reach_the_kept_net(worker):
    """Is w set by the grader between calls pushed to the worker's instance (and only then)?"""
    net = CheckNet(0.5, 0.0, "reference")
    worker.call("backprop_with_memory", (net, np.ones(2), np.ones(2)))
    net.w = 10.0
    assert worker.call("backprop_with_memory", (net, np.ones(2), np.ones(2))) == 2
    assert net.w == 11.0


def test_several_backprop_steps_match_the_same_steps_in_process(worker):
    """Does a multi-step training through the worker equal the same steps run locally?"""
    x = np.linspace(-3, 3, 11)
    y = (x > 0).astype(float)
    remote_net = CheckNet(0.7, 0.1, "reference")
    local_net = reference.Net(0.7, 0.1)
    for _ in range(5):
        worker.call("backprop", (remote_net, x, y), {"lr": 0.5})
        reference.backprop(local_net, x, y, lr=0.5)
    assert (remote_net.w, remote_net.b) == (local_net.w, local_net.b)


def test_a_respawned_worker_rebuilds_the_net_from_its_synced_state(worker):
    """After a crash, does the same grader net arrive with the w and b synced before it?"""
    net = CheckNet(0.5, 0.0, "reference")
    worker.call("backprop_with_memory", (net, np.ones(2), np.ones(2)))
    with pytest.raises(Exception, match="аварийно завершился"):
        worker.call("exit_now")
    assert worker.call("backprop_with_memory", (net, np.ones(2), np.ones(2))) == 1
    assert net.w == 2.5


# -- what the grader observes of a call, from outside the student's process --------------


def test_cpu_time_of_a_call_is_measured_from_outside(worker):
    """Is a busy call's CPU time (not wall time) seen by the grader, and a trivial one's small?"""
    _, busy = remote.observed_call(worker.function("busy"), 3_000_000)
    _, idle = remote.observed_call(worker.function("identity"), 1)
    assert busy.cpu_seconds is not None and busy.cpu_seconds >= 0.05, busy
    assert idle.cpu_seconds is not None and idle.cpu_seconds < busy.cpu_seconds
    assert worker.last_observation is idle and idle.function == "identity"


def test_cpu_time_of_a_process_that_is_gone_is_unknown():
    """Once the worker's process is gone (and its pid free), is the reading None?"""
    with StudentWorker(call_timeout=5, unsafe=True) as student:
        student.load([("misc", CELLS["misc"])])
        assert student._cpu_seconds() is not None
        leaf = student._student_process
        leaf.kill()
        leaf.wait(5)
        if student.process.pid == leaf.pid:
            student.process.wait(5)
        assert student._cpu_seconds() is None


def test_observations_of_plain_functions_use_this_process():
    """Does observed_call give the same kind of record for a local function?"""

    def local_busy(n):
        return sum(range(n))

    result, observed = remote.observed_call(local_busy, 1000)
    assert result == sum(range(1000))
    assert observed.function == "local_busy" and observed.cpu_seconds >= 0


def test_patching_the_worker_forges_nothing_the_grader_observes():
    """Can student code that rewrites the worker's wire codec forge CPU time or stderr?"""
    with ASSIGNMENT.worker(call_timeout=5, unsafe=True) as student:
        student.load([("misc", CELLS["misc"])])
        student.call("patch_the_worker")
        # Every result is now forged to 0.5 inside the student's process...
        result, observed = remote.observed_call(student.function("busy"), 3_000_000)
        assert result == 0.5
        # ...but the CPU time is the grader's own measurement.
        assert observed.cpu_seconds >= 0.05


def test_seeding_reaches_the_worker_and_survives_a_respawn():
    """Does seed_global_rngs seed where the function runs, also after the worker was lost?"""
    with StudentWorker(call_timeout=5, unsafe=True) as student:
        student.load([("misc", CELLS["misc"])])
        draw = student.function("draw")
        remote.seed_global_rngs(draw, 7)
        first = draw()
        remote.seed_global_rngs(draw, 7)
        with pytest.raises(Exception, match="аварийно завершился"):
            student.call("exit_now")
        again = draw()
    np.random.seed(7)
    np.testing.assert_array_equal(first[0], np.random.rand(3))
    np.testing.assert_array_equal(again[0], first[0])


def test_named_envs_build_the_shared_class_with_their_trusted_functions(worker):
    """Does a net of env "probe" use the probe's trusted sigmoid, not the reference's?"""
    x = np.linspace(-2, 2, 9)
    y = (x > 0).astype(float)
    probe, plain = CheckNet(0.4, -0.2, "probe"), CheckNet(0.4, -0.2, "reference")
    worker.call("backprop", (probe, x, y), {"lr": 0.3})
    worker.call("backprop", (plain, x, y), {"lr": 0.3})
    local = CheckNet(0.4, -0.2, "probe")
    reference.backprop(local, x, y, lr=0.3)
    assert (probe.w, probe.b) == pytest.approx((local.w, local.b), rel=1e-12)
    assert probe.w != plain.w


def test_an_object_of_an_unknown_env_is_refused(worker):
    """Is a net whose activation is neither an env nor a proxy of this worker refused here?"""
    with pytest.raises(TypeError, match="cannot be sent"):
        worker.call("backprop", (CheckNet(0.4, -0.2, reference.sigmoid), np.ones(2), np.ones(2)))
