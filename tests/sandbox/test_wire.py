"""The wire format (autograder.sandbox.wire): strict on both sides, data only."""

import base64
import io
import json
import struct

import numpy as np
import pytest
from sandbox.values import ARRAYS, SCALARS

from autograder.sandbox import wire


def _round_trip(value):
    """Through JSON and the strict decoder, as on the wire."""
    return wire.decode(json.loads(json.dumps(wire.encode(value), allow_nan=True)))


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype.str}{a.shape}")
def test_arrays_round_trip_with_dtype_and_shape(array):
    """Do arrays of many dtypes and shapes come back unchanged?"""
    back = _round_trip(array)
    assert type(back) is np.ndarray
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_scalars_and_containers_round_trip(value):
    """Do Python and numpy scalars, tuples, lists and dicts keep their types and values?"""
    back = _round_trip(value)
    assert type(back) is type(value)
    assert repr(back) == repr(value) or str(back) == str(value)


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


def test_objects_need_a_factory_and_a_valid_body():
    """Is a shared object decoded only by a factory, and only when well-formed?"""
    encoded = wire.encode_object("Box", "student", 3, {"w": 1.0})
    assert wire.decode(encoded, object_factory=lambda body: body["handle"]) == 3
    with pytest.raises(wire.ProtocolError):
        wire.decode(encoded)
    for bad in ({"env": "not an env!"}, {"handle": -1}, {"class": ""}, {"state": [1]}):
        body = dict(encoded["__object__"], **bad)
        with pytest.raises(wire.ProtocolError):
            wire.decode({"__object__": body}, object_factory=lambda body: body)


def test_header_size_limit_is_enforced(monkeypatch):
    """Is a message larger than the limit refused when packing?"""
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 100)
    with pytest.raises(wire.ProtocolError):
        wire.pack({"x": "a" * 100})
    assert struct.unpack(">I", wire.pack({})[:4]) == (2,)
