"""Wire format between the grader and the sandboxed worker (``worker.py``).

Imports only numpy and the standard library, never ``autograder``: the worker runs as a
standalone script inside the sandbox, where ``autograder/`` is not visible, and
``autograder.sandbox.remote`` ships this file's source to it as the module ``wire``
(see ``remote.worker_program``). Both sides decode strictly.

Every message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON
(an object). Values are JSON scalars (``None``, bool, int, float with NaN/inf, str) or
single-key objects:

    {"__ndarray__": {"npy": <base64 .npy>, "ro": bool}}   numpy array
    {"__npscalar__": <base64 0-d .npy>}                    numpy scalar
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

``.npy`` data is written with ``allow_pickle=False`` and read by a strict parser that
refuses object and void dtypes and any size mismatch; nothing is ever unpickled.
"""

from __future__ import annotations

import base64
import io
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
MAX_NAME = 100
#: The env of classes built in the student's own namespace.
STUDENT_ENV = "student"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}\Z")


class ProtocolError(ValueError):
    """A message that does not follow the wire format."""


# ---------------------------------------------------------------- codec --


def short(text: Any, limit: int = MAX_TEXT) -> str:
    """str(text), cut to limit characters."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def type_name(value: Any) -> str:
    """Name of the type of value, safe to compute on hostile objects."""
    name = type.__dict__["__name__"].__get__(type(value))
    return short(name, 200)


def encode_array(array: np.ndarray) -> str:
    """Base64 text of the .npy serialisation of a plain, non-object array."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# The header numpy writes for plain dtypes, matched exactly (a fast path:
# anything else goes through numpy's own, slower, header reader).
_PLAIN_HEADER = re.compile(
    r"\{'descr': '([<>|=][a-zA-Z][0-9]{1,3})', 'fortran_order': (True|False), "
    r"'shape': \(((?:[0-9]{1,18}, )*[0-9]{1,18},?|)\), \} *\n\Z"
)


def _plain_header(raw):
    """(shape, fortran, dtype, data offset) of a numpy-written header, or None."""
    if raw[:6] != b"\x93NUMPY" or len(raw) < 12 or raw[7] != 0:
        return None
    if raw[6] == 1:
        size, start = int.from_bytes(raw[8:10], "little"), 10
    elif raw[6] == 2:
        size, start = int.from_bytes(raw[8:12], "little"), 12
    else:
        return None
    if size > 4096:
        return None
    match = _PLAIN_HEADER.match(raw[start : start + size].decode("latin1"))
    if match is None:
        return None
    try:
        dtype = np.dtype(match.group(1))
    except TypeError:
        return None
    shape = tuple(int(n) for n in match.group(3).replace(",", " ").split())
    return shape, match.group(2) == "True", dtype, start + size


def decode_array(text: Any) -> np.ndarray:
    """Strictly parse base64 .npy text into a fresh, writeable ndarray."""
    if type(text) is not str:
        raise ProtocolError("npy data must be a string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ProtocolError("bad base64") from exc
    plain = _plain_header(raw)
    if plain is not None:
        shape, fortran, dtype, offset = plain
        return _array_from(raw[offset:], shape, fortran, dtype)
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ProtocolError("unsupported npy version")
    except ProtocolError:
        raise
    except Exception as exc:  # numpy raises several types for malformed headers
        raise ProtocolError("malformed npy header") from exc
    return _array_from(raw[stream.tell() :], shape, fortran, dtype)


def _array_from(data, shape, fortran, dtype):
    if dtype.hasobject or dtype.kind == "V":
        raise ProtocolError("object and void arrays are refused")
    if (
        type(shape) is not tuple
        or len(shape) > MAX_NDIM
        or any(type(n) is not int or n < 0 for n in shape)
    ):
        raise ProtocolError("bad shape")
    count = math.prod(shape)
    if count * dtype.itemsize != len(data):
        raise ProtocolError("npy data size does not match its header")
    if count == 0 or dtype.itemsize == 0:
        return np.zeros(shape, dtype=dtype)
    flat = np.frombuffer(data, dtype=dtype, count=count)
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


def encode(
    value: Any,
    depth: int = 0,
    object_hook: Callable[[Any], dict | None] | None = None,
    refs: dict[int, dict] | None = None,
) -> Any:
    """JSON-able form of value; types outside the format become a marker.

    object_hook(value) may return an encoded shared object (grader side) or None.
    refs maps id() of the call's array and object arguments to their __argref__.
    """
    if depth > MAX_DEPTH:
        return {"__unsupported__": "nesting too deep"}
    if refs and id(value) in refs:
        return refs[id(value)]
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is float:
        return value
    if kind is int:
        if value.bit_length() > 4000:
            return {"__unsupported__": "int too large"}
        return value
    if issubclass(kind, np.ndarray):  # type(), unlike isinstance, cannot be faked
        plain = np.ndarray.view(value, np.ndarray)
        if plain.dtype.hasobject or plain.dtype.kind == "V":
            return {"__unsupported__": "ndarray[%s]" % short(plain.dtype.str, 100)}
        return {"__ndarray__": {"npy": encode_array(plain), "ro": not plain.flags.writeable}}
    if issubclass(kind, np.generic):
        scalar = np.asarray(value)
        if scalar.dtype.hasobject or scalar.dtype.kind == "V":
            return {"__unsupported__": type_name(value)}
        return {"__npscalar__": encode_array(scalar)}
    if kind is tuple or kind is list:
        items = [encode(item, depth + 1, object_hook, refs) for item in value]
        return {"__tuple__" if kind is tuple else "__list__": items}
    if kind is dict:
        if not all(type(key) is str for key in value):
            return {"__unsupported__": "dict with non-str keys"}
        return {
            "__dict__": [
                [key, encode(item, depth + 1, object_hook, refs)] for key, item in value.items()
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
        return encode(int.__int__(value), depth, object_hook)
    if issubclass(kind, float):
        return float.__float__(value)
    return {"__unsupported__": type_name(value)}


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
        if type(body) is not dict or set(body) != {"npy", "ro"} or type(body["ro"]) is not bool:
            raise ProtocolError("bad array")
        array = decode_array(body["npy"])
        if body["ro"]:
            array.flags.writeable = False
        return array
    if tag == "__npscalar__":
        array = decode_array(body)
        if array.ndim != 0:
            raise ProtocolError("numpy scalar must be 0-d")
        return array[()]
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


def pack(message: dict) -> bytes:
    """Bytes of one framed message."""
    data = json.dumps(message, allow_nan=True, separators=(",", ":")).encode("utf-8")
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


def _read_exact(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int) -> dict:
    """Blocking read of one message (used by the worker)."""
    (size,) = HEADER.unpack(_read_exact(fd, HEADER.size))
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError("message too large")
    return unpack_body(_read_exact(fd, size))


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
