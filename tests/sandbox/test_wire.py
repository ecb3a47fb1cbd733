"""The wire format (autograder.sandbox.wire): strict on both sides, data only."""

import base64
import json
import struct

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
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


def test_layout_and_read_only_flag_travel():
    """Do Fortran-ordered arrays stay Fortran-ordered, and read-only ones read-only?"""
    fortran = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    back = _round_trip(fortran)
    assert back.flags.f_contiguous and not back.flags.c_contiguous
    frozen = np.arange(3)
    frozen.flags.writeable = False
    assert not _round_trip(frozen).flags.writeable
    assert _round_trip(np.arange(3)).flags.writeable


_DTYPES = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="?"),
    hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?"),
    hnp.complex_number_dtypes(endianness="?"),
    hnp.datetime64_dtypes(endianness="?"),
    hnp.timedelta64_dtypes(endianness="?"),
    hnp.byte_string_dtypes(endianness="?", min_len=1),
    hnp.unicode_string_dtypes(endianness="?", min_len=1),
)


@st.composite
def _arrays(draw):
    array = draw(hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0)))
    layout = draw(st.sampled_from(["C", "F", "T", "step"]))
    if layout == "F":
        array = np.asfortranarray(array)
    elif layout == "T":
        array = array.T
    elif layout == "step" and array.ndim:
        array = array[::2]
    return array


@given(_arrays())
def test_any_plain_array_round_trips_exactly(array):
    """Does every plain array come back with its dtype, shape, bytes and memory order?"""
    back = _round_trip(array)
    assert type(back) is np.ndarray and back.flags.writeable and back.flags.owndata
    assert back.dtype == array.dtype and back.dtype.str == array.dtype.str
    assert back.shape == array.shape
    assert back.tobytes() == array.tobytes()
    if array.flags.f_contiguous and not array.flags.c_contiguous:
        assert back.flags.f_contiguous
    if array.ndim == 0 and array.dtype.itemsize:
        scalar = _round_trip(array[()])
        assert type(scalar) is type(array[()]) and scalar.tobytes() == array[()].tobytes()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = {
    "dtype": st.sampled_from(["<f8", ">i2", "|b1", "<U2", "|S0", "<M8[s]", "|O", "|V4", "<c8"]),
    "shape": st.lists(st.integers(-2, 2**40), max_size=4),
    "fortran": st.booleans(),
    "ro": st.booleans(),
    "data": st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
}


@given(
    array=_arrays(),
    changes=st.dictionaries(
        st.sampled_from(sorted(_FIELDS) + ["extra"]),
        st.one_of(_JSON, *_FIELDS.values()),
        max_size=3,
    ),
    drop=st.sets(st.sampled_from(sorted(_FIELDS)), max_size=1),
)
def test_tampered_array_bodies_decode_consistently_or_are_refused(array, changes, drop):
    """Is a changed header or payload either refused as a protocol error, or decoded
    into exactly the array it describes (never another exception, never object data)?"""
    body = wire.encode_array(array)
    body.update(changes)
    for key in drop:
        body.pop(key, None)
    try:
        back = wire.decode({"__ndarray__": body})
    except wire.ProtocolError:
        return
    assert type(back) is np.ndarray and not back.dtype.hasobject
    assert back.dtype.str == body["dtype"] and list(back.shape) == body["shape"]
    assert back.tobytes(order="F" if body["fortran"] else "C") == base64.b64decode(body["data"])
    assert back.flags.writeable is not body["ro"]


@given(
    st.one_of(
        _JSON,
        st.fixed_dictionaries(_FIELDS),
        st.fixed_dictionaries({"dtype": _FIELDS["dtype"], "data": _FIELDS["data"]}),
    )
)
def test_arbitrary_array_and_scalar_bodies_never_escape_the_protocol_error(body):
    """Does any JSON under the array and scalar tags decode or raise ProtocolError only?"""
    for tag in ("__ndarray__", "__npscalar__"):
        try:
            value = wire.decode({tag: body})
        except wire.ProtocolError:
            continue
        assert isinstance(value, (np.ndarray, np.generic)) and not value.dtype.hasobject


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


def _body(array=None, **changes):
    """The __ndarray__ body of array (float zeros by default), with keys changed."""
    body = wire.encode_array(np.zeros(2) if array is None else array)
    body.update(changes)
    return body


def _raw(data):
    return base64.b64encode(data).decode()


FORGED = {
    "raw list": [1, 2],
    "two keys": {"__tuple__": [], "__list__": []},
    "unknown tag": {"__pickle__": "gASVAA=="},
    "bad base64": {"__ndarray__": _body(data="not base64!")},
    "base64 after padding": {"__ndarray__": _body(data=_raw(b"\0" * 8) + "AAAAAAAAAAA=")},
    "non-ascii base64": {"__ndarray__": _body(data="AAAAAAAAAAAAAAAAAAAAAé==")},
    "data not a string": {"__ndarray__": _body(data=[0] * 16)},
    "object dtype": {"__ndarray__": _body(dtype="|O", shape=[2], data=_raw(b"\0" * 16))},
    "void dtype": {"__ndarray__": _body(dtype="|V8", shape=[2], data=_raw(b"\0" * 16))},
    "structured dtype": {"__ndarray__": _body(dtype="[('a', '<f8')]")},
    "string dtype": {"__ndarray__": _body(dtype="|T16", shape=[1], data=_raw(b"\0" * 16))},
    "not canonical dtype": {"__ndarray__": _body(dtype="<i1", shape=[16])},
    "native-order dtype": {"__ndarray__": _body(dtype="=f8")},
    "dtype code": {"__ndarray__": _body(dtype="d")},
    "dtype not a string": {"__ndarray__": _body(dtype=8)},
    "bad datetime unit": {"__ndarray__": _body(dtype="<M8[xx]")},
    "short data": {"__ndarray__": _body(shape=[10**12])},
    "long data": {"__ndarray__": _body(data=_raw(b"\0" * 24))},
    "negative dimension": {"__ndarray__": _body(shape=[-2])},
    "bool dimension": {"__ndarray__": _body(shape=[True, 2])},
    "float dimension": {"__ndarray__": _body(shape=[2.0])},
    "shape not a list": {"__ndarray__": _body(shape=2)},
    "too many dimensions": {"__ndarray__": _body(shape=[1] * 33 + [2])},
    "absurd empty shape": {"__ndarray__": _body(shape=[0] + [2**52] * 4, data="")},
    "absurd dimension": {"__ndarray__": _body(shape=[0, 2**60], data="")},
    "absurd zero-width array": {"__ndarray__": _body(dtype="|S0", shape=[2**40, 2**20], data="")},
    "fortran not bool": {"__ndarray__": _body(fortran=0)},
    "ro not bool": {"__ndarray__": _body(ro="yes")},
    "extra key": {"__ndarray__": _body(npy="")},
    "missing key": {"__ndarray__": {"dtype": "<f8", "shape": [0], "ro": False, "data": ""}},
    "array not a dict": {"__ndarray__": ["<f8", [0], False, False, ""]},
    "scalar not 0-d": {"__npscalar__": {"dtype": "<f8", "data": _raw(b"\0" * 16)}},
    "scalar of object dtype": {"__npscalar__": {"dtype": "|O", "data": _raw(b"\0" * 8)}},
    "scalar with a shape": {"__npscalar__": {"dtype": "<f8", "shape": [], "data": _raw(b"\0" * 8)}},
    "scalar not a dict": {"__npscalar__": _raw(b"\0" * 8)},
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
