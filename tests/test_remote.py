"""The worker protocol: wire format, strict validation, failures and in-place semantics."""

import base64
import io
import json
import struct
import warnings

import nbformat
import numpy as np
import pytest

from autograder.assignment import reference
from autograder.sandbox import bubblewrap as sandbox
from autograder.sandbox import worker as wire
from autograder.sandbox.remote import (
    Opaque,
    ProtocolViolation,
    StudentError,
    StudentWorker,
    WorkerTimeout,
)

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
        "    return Net.forward.__closure__[0].cell_contents.reference_activation is not None\n"
        "def warn_user():\n    import warnings\n    warnings.warn('осторожно')\n    return 1\n"
    ),
}


@pytest.fixture(scope="module")
def worker():
    with StudentWorker(call_timeout=5, unsafe=True) as student:
        report = student.load(list(CELLS.items()))
        assert all(item["error"] is None for item in report), report
        yield student


def _round_trip(value):
    """Through JSON and the strict decoder, as on the wire."""
    return wire.decode(json.loads(json.dumps(wire.encode(value), allow_nan=True)))


ARRAYS = [
    np.arange(6, dtype=np.int8).reshape(2, 3),
    np.arange(5, dtype=np.uint64) * (2**60),
    np.linspace(-1, 1, 7, dtype=np.float32),
    np.array([np.nan, np.inf, -np.inf, 0.0, -0.0]),
    np.array([True, False, True]),
    np.array([1 + 2j, 3 - 4j], dtype=np.complex64),
    np.zeros((0, 3)),
    np.array(2.5),
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    np.arange(24, dtype=np.int32).reshape(2, 3, 4)[:, ::2, 1:],
    np.array(["a", "бв"]),
    np.arange(4, dtype=">f8"),
    np.array(["2026-11-27", "NaT"], dtype="datetime64[D]"),  # numpy's own header reader
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype.str}{a.shape}")
def test_arrays_round_trip_with_dtype_and_shape(array, worker):
    """Do arrays of many dtypes and shapes come back unchanged, locally and via the worker?"""
    for back in (_round_trip(array), worker.call("identity", (array,))):
        assert type(back) is np.ndarray
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize(
    "value",
    [
        0,
        -7,
        2**80,
        1.5,
        float("nan"),
        float("inf"),
        -float("inf"),
        True,
        None,
        "строка",
        np.float64(0.25),
        np.float32(-1.5),
        np.int64(-3),
        np.bool_(True),
        np.float64("nan"),
        (1, (2.0, [np.int16(3)])),
        [np.zeros(2), {"k": np.float64(1)}],
    ],
    ids=repr,
)
def test_scalars_and_containers_round_trip(value, worker):
    """Do Python and numpy scalars, tuples, lists and dicts keep their types and values?"""
    for back in (_round_trip(value), worker.call("identity", (value,))):
        assert repr(back) == repr(value) or (
            type(back) is type(value) and type(value) is not list and str(back) == str(value)
        )
        assert type(back) is type(value)


@pytest.mark.parametrize(
    "value, name",
    [
        (np.array([1, None], dtype=object), "ndarray[|O]"),
        (object(), "object"),
        (lambda: 0, "function"),
        ({1: 2}, "dict with non-str keys"),
        (np.zeros(2, dtype=[("a", "f8")]), "ndarray[|V8]"),
    ],
)
def test_unsupported_values_become_markers(value, name):
    """Are object arrays and other types refused as data, leaving only a marker?"""
    assert wire.encode(value) == {"__unsupported__": name}


def _npy(array):
    return wire.encode_array(array)


def _npy_with_header(header_dict, data):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header_dict)
    return base64.b64encode(buffer.getvalue() + data).decode()


FORGED = {
    "raw list": [1, 2],
    "two keys": {"__tuple__": [], "__list__": []},
    "unknown tag": {"__pickle__": "gASVAA=="},
    "bad base64": {"__ndarray__": {"npy": "not base64!", "ro": False}},
    "object dtype": {
        "__ndarray__": {
            "npy": _npy_with_header(
                {"descr": "|O", "fortran_order": False, "shape": (1,)}, b"\0" * 8
            ),
            "ro": False,
        }
    },
    "short data": {
        "__ndarray__": {
            "npy": _npy_with_header(
                {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}, b"\0" * 8
            ),
            "ro": False,
        }
    },
    "long data": {"__ndarray__": {"npy": _npy(np.zeros(2))[:-4] + "AAAAAAAA", "ro": False}},
    "scalar not 0-d": {"__npscalar__": _npy(np.zeros(2))},
    "ro not bool": {"__ndarray__": {"npy": _npy(np.zeros(2)), "ro": "yes"}},
    "net without factory": {"__net__": {"w": 1.0, "b": 0.0, "activation": "student"}},
    "too deep": json.loads('{"__list__": [' * 40 + "1" + "]}" * 40),
}


@pytest.mark.parametrize("payload", FORGED.values(), ids=FORGED.keys())
def test_forged_values_are_rejected(payload):
    """Does the strict decoder refuse every malformed or dangerous value?"""
    with pytest.raises(wire.ProtocolError):
        wire.decode(payload)


@pytest.mark.parametrize("body", [b"\xff\xfe", b"[1, 2]", b'"text"', b"{" * 100000])
def test_forged_message_bodies_are_rejected(body):
    """Is a message that is not one JSON object refused?"""
    with pytest.raises(wire.ProtocolError):
        wire.unpack_body(body)


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
    worker, function, args, type_name, message, builtin
):
    """Is the student's exception raised here with its own type name and message?"""
    with pytest.raises(StudentError) as caught:
        worker.call(function, args)
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


class ActivationNet(reference.Net):
    def __init__(self, w, b, activation):
        super().__init__(w, b)
        self.activation = activation


@pytest.mark.parametrize("activation", ["reference", "student"])
def test_net_parameters_are_updated_like_in_the_kernel(worker, activation):
    """Does backprop through the proxy update net.w and net.b exactly as a local call?"""
    x = np.linspace(-3, 3, 11)
    y = (x > 0).astype(float)
    remote_net = ActivationNet(
        0.7, 0.1, "reference" if activation == "reference" else worker.function("sigmoid")
    )
    worker.call("backprop", (remote_net, x, y), {"lr": 0.5})
    local_net = reference.Net(0.7, 0.1)
    reference.backprop(local_net, x, y, lr=0.5)
    assert remote_net.w == pytest.approx(local_net.w, rel=1e-12)
    assert remote_net.b == pytest.approx(local_net.b, rel=1e-12)


def test_net_parameters_of_unsupported_types_become_placeholders(worker):
    """Does net.w = object() reach the check as a placeholder of type 'object'?"""
    net = ActivationNet(0.5, 0.0, "reference")
    worker.call("backprop_object_params", (net, np.ones(2), np.ones(2)))
    assert isinstance(net.w, Opaque) and type(net.w).__name__ == "object"
    assert net.b == [1, 2]


def test_reference_activation_arrives_only_when_needed():
    """Is the trusted sigmoid out of the student's reach until a reference net is sent?"""
    with StudentWorker(call_timeout=5, unsafe=True) as student:
        student.load([("misc", CELLS["misc"]), ("backprop", CELLS["backprop"])])
        assert student.call("reference_visible") is False
        net = ActivationNet(0.0, 0.0, "reference")
        student.call("backprop", (net, np.ones(2), np.ones(2)))
        assert student.call("reference_visible") is True


def test_warnings_are_re_emitted(worker):
    """Does the overflow warning of a naive sigmoid reach the caller as a RuntimeWarning?"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = worker.call("sigmoid", (np.array([-1000.0, 0.0]),))
        worker.call("warn_user")
    np.testing.assert_array_equal(result, [0.0, 0.5])
    assert [(w.category, str(w.message)) for w in caught] == [
        (RuntimeWarning, "overflow encountered in exp"),
        (UserWarning, "осторожно"),
    ]


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
def test_unsupported_results_become_inert_placeholders(worker, function, type_name):
    """Does a result that is not data arrive as a named placeholder that equals nothing?"""
    result = worker.call(function)
    assert isinstance(result, Opaque) and type(result).__name__ == type_name
    assert result != result.__class__() and not (result == 0.5)
    assert not hasattr(result, "__array__") and not hasattr(result, "__len__")


def test_results_that_are_arguments_come_back_as_the_callers_objects(worker):
    """Is `result is x` kept for returned array and net arguments, as in-kernel?"""
    array = np.zeros(2)
    assert worker.call("add_one_and_return", (array,)) is array
    np.testing.assert_array_equal(array, [1, 1])
    net = ActivationNet(0.5, 0.0, "reference")
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


def test_ipython_syntax_of_answer_cells_is_handled():
    """Do %%time cells define their functions and do other magics do no harm?"""
    from autograder.preprocessors.trusted_verdict import TrustedVerdict

    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": source,
                "metadata": {"nbgrader": {"solution": True, "grade_id": name}},
            }
            for name, source in [
                ("sigmoid", "%%time\ndef sigmoid(x):\n    return x + 1\n"),
                ("backprop", "%matplotlib inline\n!ls\ndef backprop():\n    return 7\n"),
            ]
        ]
    }
    answers = TrustedVerdict().answer_sources(nbformat.from_dict(nb))
    with StudentWorker(call_timeout=5, unsafe=True) as student:
        report = student.load(answers)
        assert [item["error"] for item in report] == [None, None]
        assert student.call("sigmoid", (1,)) == 2
        assert student.call("backprop") == 7


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


def test_header_size_limit_is_enforced(monkeypatch):
    """Is a message larger than the limit refused when packing?"""
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 100)
    with pytest.raises(wire.ProtocolError):
        wire.pack({"x": "a" * 100})
    assert struct.unpack(">I", wire.pack({})[:4]) == (2,)
