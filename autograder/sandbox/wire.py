"""Wire format between the grader and the sandboxed worker (``worker.py``).

Imports only numpy and the standard library, never ``autograder``: the worker runs as a
standalone script inside the sandbox, where ``autograder/`` is not visible, and
``autograder.sandbox.remote`` ships this file's source to it as the module ``wire``
(see ``remote.worker_program``). Both sides decode strictly.

Every message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON
(an object). Values are JSON scalars (``None``, bool, int, float with NaN/inf, str) or
single-key objects:

    {"__ndarray__": {"dtype": str, "shape": [int, ...],    numpy array
                     "fortran": bool, "ro": bool,
                     "data": <base64 raw bytes>}}
    {"__npscalar__": {"dtype": str, "data": <base64>}}     numpy scalar
    {"__tuple__": [...]}, {"__list__": [...]}            sequences
    {"__dict__": [[str, value], ...]}                      dict with str keys
    {"__object__": {"class": str, "env": str,
                    "handle": int, "state": <dict value>}}  a shared object (see below)
    {"__argref__": ["a", index] | ["k", name]}             a result that IS an argument
                                                           (array or object) of the call
    {"__unsupported__": "<type name>"}                     anything else

A shared object is an instance of a class of the assignment's given cells (its source
comes from the grader). ``class`` names it, ``env`` names the namespace the worker
built that class in (``"student"``: the student's own; any other name: a namespace of
trusted functions the grader installed under that name), ``handle`` identifies the grader's object so the worker keeps the same
instance across calls, and ``state`` holds the attributes the grader and worker sync.

An array travels as its raw bytes (``tobytes``, in Fortran order when np.save would
write it so: F-contiguous and not C-contiguous) with ``dtype`` its ``dtype.str``. The
decoder accepts only the canonical ``dtype.str`` of a plain kind (bool, int, uint,
float, complex, datetime, timedelta, bytes, str: never object, void, structured or
custom dtypes), at most ``MAX_NDIM`` non-negative dimensions, and data of exactly
``prod(shape) * itemsize`` bytes (strict base64); the result is a fresh copy.
Nothing is ever unpickled.
"""

from __future__ import annotations

import binascii
import json
import math
import os
import re
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 * 2**20
MAX_DEPTH = 24
MAX_TEXT = 2000
MAX_NDIM = 32
#: Largest dimension of an array (a zero-size array may have huge other dimensions).
MAX_DIMENSION = 2**53 - 1
MAX_NAME = 100
#: The env of classes built in the student's own namespace.
STUDENT_ENV = "student"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}\Z")
#: dtype kinds that travel: bool, int, uint, float, complex, timedelta, datetime, bytes, str.
_PLAIN_KINDS = frozenset("biufcmMSU")


class ProtocolError(ValueError):
    """A message that does not follow the wire format."""


class Unencodable(Exception):
    """Raised by ``encode(..., strict=True)`` where it would write an unsupported marker."""


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _b64decode(text: str) -> bytes:
    # strict: only the alphabet, correct padding, nothing after it; ASCII str only
    return binascii.a2b_base64(text, strict_mode=True)


# ---------------------------------------------------------------- codec --


def short(text: Any, limit: int = MAX_TEXT) -> str:
    """str(text), cut to limit characters."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def type_name(value: Any) -> str:
    """Name of the type of value, safe to compute on hostile objects."""
    name = type.__dict__["__name__"].__get__(type(value))
    return short(name, 200)


def encode_array(array: np.ndarray) -> dict:
    """The ``__ndarray__`` body of a plain (non-object, non-void) array: raw bytes + header.

    Fortran order is kept as np.save keeps it (an F-contiguous, not C-contiguous array
    travels in F order); any other array travels in C order.
    """
    fortran = array.flags.f_contiguous and not array.flags.c_contiguous
    return {
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "fortran": fortran,
        "ro": not array.flags.writeable,
        "data": _b64encode(array.tobytes("F" if fortran else "C")),
    }


_ARRAY_KEYS = frozenset(("dtype", "shape", "fortran", "ro", "data"))
_SCALAR_KEYS = frozenset(("dtype", "data"))
#: dtype strings as ``dtype.str`` writes them for the kinds that travel: bool, ints,
#: floats, complex, datetime/timedelta (with an optional unit), bytes and str.
_DTYPE = re.compile(r"[<>|][biufcmMSU][0-9]{1,9}(?:\[[0-9]{0,9}[a-zA-Z]{1,2}\])?\Z")
_DTYPES: dict[str, np.dtype] = {}


def _dtype(text: Any) -> np.dtype:
    """The dtype named by text, which must be its canonical ``dtype.str`` of a plain kind."""
    dtype = _DTYPES.get(text) if type(text) is str else None
    if dtype is not None:
        return dtype
    if type(text) is not str or _DTYPE.match(text) is None:
        raise ProtocolError("bad dtype")
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError) as exc:
        raise ProtocolError("bad dtype") from exc
    if dtype.str != text or dtype.hasobject or dtype.kind not in _PLAIN_KINDS:
        raise ProtocolError("bad dtype")
    if len(_DTYPES) < 256:
        _DTYPES[text] = dtype
    return dtype


def _data(text: Any) -> bytes:
    if type(text) is not str:
        raise ProtocolError("array data must be a string")
    try:
        return _b64decode(text)
    except ValueError as exc:  # binascii.Error, or a non-ASCII str
        raise ProtocolError("bad base64") from exc


def decode_array(body: Any) -> np.ndarray:
    """Strictly parse an ``__ndarray__`` body into a fresh, writeable ndarray."""
    if type(body) is not dict or body.keys() != _ARRAY_KEYS:
        raise ProtocolError("bad array")
    shape, fortran = body["shape"], body["fortran"]
    if type(fortran) is not bool or type(body["ro"]) is not bool:
        raise ProtocolError("bad array")
    if type(shape) is not list or len(shape) > MAX_NDIM:
        raise ProtocolError("bad shape")
    for n in shape:
        if type(n) is not int or n < 0 or n > MAX_DIMENSION:
            raise ProtocolError("bad shape")
    return _array_from(_data(body["data"]), tuple(shape), fortran, _dtype(body["dtype"]))


def decode_scalar(body: Any) -> np.generic:
    """Strictly parse an ``__npscalar__`` body into a numpy scalar."""
    if type(body) is not dict or body.keys() != _SCALAR_KEYS:
        raise ProtocolError("bad numpy scalar")
    return _array_from(_data(body["data"]), (), False, _dtype(body["dtype"]))[()]


def _array_from(data, shape, fortran, dtype):
    count = math.prod(shape)
    if count * dtype.itemsize != len(data):
        raise ProtocolError("array data size does not match its header")
    if count == 0 or dtype.itemsize == 0:
        if count > MAX_MESSAGE_BYTES:
            raise ProtocolError("bad shape")
        try:
            return np.zeros(shape, dtype=dtype)
        except (ValueError, MemoryError) as exc:
            raise ProtocolError("bad shape") from exc
    flat = np.frombuffer(data, dtype=dtype, count=count)
    if len(shape) == 1:
        return flat.copy()
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


def encode(
    value: Any,
    depth: int = 0,
    object_hook: Callable[[Any], dict | None] | None = None,
    refs: dict[int, dict] | None = None,
    strict: bool = False,
) -> Any:
    """JSON-able form of value; types outside the format become a marker.

    object_hook(value) may return an encoded shared object (grader side) or None.
    refs maps id() of the call's array and object arguments to their __argref__.
    strict: raise Unencodable instead of writing an unsupported marker.
    """
    if depth > MAX_DEPTH:
        return _unsupported("nesting too deep", strict)
    if refs and id(value) in refs:
        return refs[id(value)]
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is float:
        return value
    if kind is int:
        if value.bit_length() > 4000:
            return _unsupported("int too large", strict)
        return value
    if issubclass(kind, np.ndarray):  # type(), unlike isinstance, cannot be faked
        plain = np.ndarray.view(value, np.ndarray)
        dtype = plain.dtype
        if dtype.hasobject or dtype.kind not in _PLAIN_KINDS:
            return _unsupported("ndarray[%s]" % short(dtype.str, 100), strict)
        if dtype.itemsize == 0 and plain.size > MAX_MESSAGE_BYTES:
            return _unsupported("ndarray too large", strict)
        return {"__ndarray__": encode_array(plain)}
    if issubclass(kind, np.generic):
        scalar = np.asarray(value)
        dtype = scalar.dtype
        if dtype.hasobject or dtype.kind not in _PLAIN_KINDS:
            return _unsupported(type_name(value), strict)
        return {"__npscalar__": {"dtype": dtype.str, "data": _b64encode(scalar.tobytes())}}
    if kind is tuple or kind is list:
        items = [encode(item, depth + 1, object_hook, refs, strict) for item in value]
        return {"__tuple__" if kind is tuple else "__list__": items}
    if kind is dict:
        if not all(type(key) is str for key in value):
            return _unsupported("dict with non-str keys", strict)
        return {
            "__dict__": [
                [key, encode(item, depth + 1, object_hook, refs, strict)]
                for key, item in value.items()
            ]
        }
    if object_hook is not None:
        shared = object_hook(value)
        if shared is not None:
            return shared
    # subclasses of Python numbers travel as their plain value
    if issubclass(kind, bool):
        return bool(int.__int__(value))
    if issubclass(kind, int):
        return encode(int.__int__(value), depth, object_hook, None, strict)
    if issubclass(kind, float):
        return float.__float__(value)
    return _unsupported(type_name(value), strict)


def _unsupported(name: str, strict: bool) -> dict:
    if strict:
        raise Unencodable(name)
    return {"__unsupported__": name}


class Unsupported:
    """Decoded marker of a value the format could not carry."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return "<unsupported %s>" % self.name


def decode(
    obj: Any,
    depth: int = 0,
    object_factory: Callable[[dict], Any] | None = None,
    argument: Callable[[str, Any], Any] | None = None,
) -> Any:
    """Strict inverse of encode.

    object_factory(body) builds a shared object from a validated ``__object__`` body
    (its ``state`` still encoded); argument(kind, key) resolves an ``__argref__``.
    Without them these tags are protocol errors.
    """
    if depth > MAX_DEPTH:
        raise ProtocolError("nesting too deep")
    kind = type(obj)
    if obj is None or kind in (bool, str, int, float):
        return obj
    if kind is not dict or len(obj) != 1:
        raise ProtocolError("unexpected JSON value of type %s" % kind.__name__)
    ((tag, body),) = obj.items()
    if tag == "__ndarray__":
        array = decode_array(body)
        if body["ro"]:
            array.flags.writeable = False
        return array
    if tag == "__npscalar__":
        return decode_scalar(body)
    if tag in ("__tuple__", "__list__"):
        if type(body) is not list:
            raise ProtocolError("bad sequence")
        items = [decode(item, depth + 1, object_factory, argument) for item in body]
        return tuple(items) if tag == "__tuple__" else items
    if tag == "__dict__":
        if type(body) is not list:
            raise ProtocolError("bad dict")
        result = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise ProtocolError("bad dict item")
            result[pair[0]] = decode(pair[1], depth + 1, object_factory, argument)
        return result
    if tag == "__object__":
        if object_factory is None or not valid_object_body(body):
            raise ProtocolError("bad object")
        return object_factory(body)
    if tag == "__argref__":
        if (
            argument is None
            or type(body) is not list
            or len(body) != 2
            or not (
                (body[0] == "a" and type(body[1]) is int)
                or (body[0] == "k" and type(body[1]) is str)
            )
        ):
            raise ProtocolError("bad argument reference")
        return argument(body[0], body[1])
    if tag == "__unsupported__":
        if type(body) is not str or len(body) > 300:
            raise ProtocolError("bad marker")
        return Unsupported(body)
    raise ProtocolError("unknown tag")


_JSON = json.JSONEncoder(allow_nan=True, separators=(",", ":"))


def pack(message: dict) -> bytes:
    """Bytes of one framed message."""
    data = _JSON.encode(message).encode("utf-8")
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError("message too large")
    return HEADER.pack(len(data)) + data


def unpack_body(data: bytes) -> dict:
    """Parse the JSON body of one message (must be an object)."""
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("message is not valid JSON") from exc
    if type(message) is not dict:
        raise ProtocolError("message must be a JSON object")
    return message


class MessageReader:
    """Blocking reader of the messages on fd (used by the worker).

    Reads ahead what the pipe holds (one syscall for a small message) and keeps the
    bytes after a message for the next one, exactly as they would stay in the pipe.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = bytearray()

    def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            want = min(max(size - len(self.buffer), 1 << 16), 1 << 20)
            chunk = os.read(self.fd, want)
            if not chunk:
                raise EOFError("pipe closed")
            self.buffer += chunk

    def read(self) -> dict:
        self._fill(HEADER.size)
        (size,) = HEADER.unpack_from(self.buffer)
        if size > MAX_MESSAGE_BYTES:
            raise ProtocolError("message too large")
        end = HEADER.size + size
        self._fill(end)
        body = bytes(self.buffer[HEADER.size : end])
        del self.buffer[:end]
        return unpack_body(body)


def write_message(fd: int, message: dict) -> None:
    """Blocking write of one message (used by the worker)."""
    data = memoryview(pack(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


def valid_object_body(body: Any) -> bool:
    """Is body a well-formed ``__object__`` body (state not yet decoded)?"""
    return (
        type(body) is dict
        and set(body) == {"class", "env", "handle", "state"}
        and type(body["class"]) is str
        and 0 < len(body["class"]) <= MAX_NAME
        and valid_env_name(body["env"])
        and type(body["handle"]) is int
        and 0 <= body["handle"] < 2**53
        and type(body["state"]) is dict
        and set(body["state"]) == {"__dict__"}
    )


def valid_env_name(name: Any) -> bool:
    """Is name a possible env name (an identifier of at most 40 characters)?"""
    return type(name) is str and _ENV_NAME.match(name) is not None


def encode_object(name: str, env: str, handle: int, state: dict) -> dict:
    """The ``__object__`` form of a shared object whose state is already encoded."""
    return {
        "__object__": {
            "class": name,
            "env": env,
            "handle": handle,
            "state": {"__dict__": [[key, value] for key, value in state.items()]},
        }
    }
