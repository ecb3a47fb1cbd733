"""Worker that runs a student's answer cells and serves calls to their functions.

This file is run as a standalone script in a sandboxed subprocess (its source is
passed with ``python -I -c``, so the sandbox needs no view of ``autograder/``).
It imports only numpy and the standard library and never ``autograder``; the
grader imports it only for the wire codec below (``encode``/``decode``), which
is strict on both sides.

Protocol: the grader writes requests to fd ``argv[1]`` and reads responses from
fd ``argv[2]``. Every message is a 4-byte big-endian length followed by that
many bytes of UTF-8 JSON (an object). Values are JSON scalars (``None``, bool,
int, float with NaN/inf, str) or single-key objects:

    {"__ndarray__": {"npy": <base64 .npy>, "ro": bool}}   numpy array
    {"__npscalar__": <base64 0-d .npy>}                    numpy scalar
    {"__tuple__": [...]}, {"__list__": [...]}            sequences
    {"__dict__": [[str, value], ...]}                      dict with str keys
    {"__net__": {"w": v, "b": v, "activation": "student"|"reference"}}
    {"__argref__": ["a", index] | ["k", name]}             a result that IS an argument
                                                           (array or net) of the call
    {"__unsupported__": "<type name>"}                     anything else

``.npy`` data is written with ``allow_pickle=False`` and read by a strict
parser that refuses object and void dtypes and any size mismatch; nothing is
ever unpickled.

Requests (``op``): ``load`` (execute answer cells in a fresh namespace),
``install_reference`` (the trusted activation for nets with activation
"reference"), ``call`` (call a function of the namespace), ``ping``.
"""

import base64
import builtins
import io
import json
import math
import os
import random
import re
import struct
import sys
import warnings

import numpy as np

HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 * 2**20
MAX_DEPTH = 24
MAX_TEXT = 2000
MAX_WARNINGS = 50
MAX_NDIM = 32
TAGS = (
    "__ndarray__",
    "__npscalar__",
    "__tuple__",
    "__list__",
    "__dict__",
    "__net__",
    "__argref__",
    "__unsupported__",
)
ACTIVATIONS = ("student", "reference")


class ProtocolError(ValueError):
    """A message that does not follow the wire format."""


# ---------------------------------------------------------------- codec --


def _short(text, limit=MAX_TEXT):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def type_name(value):
    """Name of the type of value, safe to compute on hostile objects."""
    name = type.__dict__["__name__"].__get__(type(value))
    return _short(name, 200)


def encode_array(array):
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


def decode_array(text):
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


def encode(value, depth=0, net_hook=None, refs=None):
    """JSON-able form of value; types outside the format become a marker.

    net_hook(value) may return an encoded net (grader side) or None.
    refs maps id() of the call's array and net arguments to their __argref__.
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
            return {"__unsupported__": "ndarray[%s]" % _short(plain.dtype.str, 100)}
        return {"__ndarray__": {"npy": encode_array(plain), "ro": not plain.flags.writeable}}
    if issubclass(kind, np.generic):
        scalar = np.asarray(value)
        if scalar.dtype.hasobject or scalar.dtype.kind == "V":
            return {"__unsupported__": type_name(value)}
        return {"__npscalar__": encode_array(scalar)}
    if kind is tuple or kind is list:
        items = [encode(item, depth + 1, net_hook, refs) for item in value]
        return {"__tuple__" if kind is tuple else "__list__": items}
    if kind is dict:
        if not all(type(key) is str for key in value):
            return {"__unsupported__": "dict with non-str keys"}
        return {
            "__dict__": [
                [key, encode(item, depth + 1, net_hook, refs)] for key, item in value.items()
            ]
        }
    if net_hook is not None:
        net = net_hook(value)
        if net is not None:
            return net
    # subclasses of Python numbers travel as their plain value
    if issubclass(kind, bool):
        return bool(int.__int__(value))
    if issubclass(kind, int):
        return encode(int.__int__(value), depth, net_hook)
    if issubclass(kind, float):
        return float.__float__(value)
    return {"__unsupported__": type_name(value)}


class Unsupported:
    """Decoded marker of a value the format could not carry."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "<unsupported %s>" % self.name


def decode(obj, depth=0, net_factory=None, argument=None):
    """Strict inverse of encode. net_factory(w, b, activation) builds nets and
    argument(kind, key) resolves an __argref__; without them these are
    protocol errors."""
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
        items = [decode(item, depth + 1, net_factory, argument) for item in body]
        return tuple(items) if tag == "__tuple__" else items
    if tag == "__dict__":
        if type(body) is not list:
            raise ProtocolError("bad dict")
        result = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise ProtocolError("bad dict item")
            result[pair[0]] = decode(pair[1], depth + 1, net_factory, argument)
        return result
    if tag == "__net__":
        if (
            net_factory is None
            or type(body) is not dict
            or set(body) != {"w", "b", "activation"}
            or body["activation"] not in ACTIVATIONS
        ):
            raise ProtocolError("bad net")
        return net_factory(
            decode(body["w"], depth + 1), decode(body["b"], depth + 1), body["activation"]
        )
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


def pack(message):
    """Bytes of one framed message."""
    data = json.dumps(message, allow_nan=True, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError("message too large")
    return HEADER.pack(len(data)) + data


def unpack_body(data):
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


def read_message(fd):
    """Blocking read of one message (used by the worker)."""
    (size,) = HEADER.unpack(_read_exact(fd, HEADER.size))
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError("message too large")
    return unpack_body(_read_exact(fd, size))


def write_message(fd, message):
    data = memoryview(pack(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


# --------------------------------------------------------------- worker --


class Worker:
    """State of one worker process: the student's namespace and activations."""

    def __init__(self):
        self.reference_activation = None
        worker = self

        class Net:
            """One neuron: l = w * x + b, r = sigmoid(l) (the notebook's model)."""

            def __init__(self, w=0.5, b=1.0):
                self.w = w
                self.b = b

            def forward(self, x):
                return worker.activation(self)(self.w * x + self.b)

            def __call__(self, x):
                return self.forward(x)

        self.Net = Net
        self.call_nets = []
        self.call_before = {}
        self.namespace = self.fresh_namespace()
        _IPYTHON.namespace = self.namespace

    def fresh_namespace(self):
        return {
            "__name__": "__main__",
            "__builtins__": builtins,
            "np": np,
            "numpy": np,
            "math": math,
            "random": random,
            "Net": self.Net,
            "get_ipython": _get_ipython,
        }

    def activation(self, net):
        if net.__dict__.get("_activation") == "reference":
            return self.reference_activation
        if "sigmoid" not in self.namespace:
            raise NameError("name 'sigmoid' is not defined")
        return self.namespace["sigmoid"]

    def make_net(self, w, b, activation):
        net = self.Net(w, b)
        self.call_nets.append(net)
        if activation == "reference":
            if self.reference_activation is None:
                raise ProtocolError("reference activation is not installed")
            net._activation = "reference"
        return net

    # -- operations --

    def op_ping(self, message):
        return {"ok": True}

    def op_load(self, message):
        cells = message.get("cells")
        if type(cells) is not list:
            raise ProtocolError("cells must be a list")
        report = []
        for cell in cells:
            if (
                type(cell) is not dict
                or type(cell.get("name")) is not str
                or type(cell.get("source")) is not str
            ):
                raise ProtocolError("bad cell")
            _seed(message.get("seed", 0))
            error = None
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                try:
                    code = compile(cell["source"], "<cell %s>" % cell["name"], "exec")
                    exec(code, self.namespace)
                except BaseException as exc:  # the student's code may raise anything
                    error = _describe(exc)
            report.append({"name": cell["name"], "error": error})
        return {"ok": True, "cells": report}

    def op_install_reference(self, message):
        namespace = {"np": np, "__builtins__": builtins}
        exec(compile(message["source"], "<reference>", "exec"), namespace)
        self.reference_activation = namespace[message["name"]]
        return {"ok": True}

    def op_call(self, message):
        name = message.get("fn")
        if type(name) is not str:
            raise ProtocolError("fn must be a string")
        self.call_nets = []
        args = decode(message.get("args"), net_factory=self.make_net)
        kwargs = decode(message.get("kwargs"), net_factory=self.make_net)
        if type(args) is not tuple or type(kwargs) is not dict:
            raise ProtocolError("args must be a tuple and kwargs a dict")
        errstate = message.get("errstate") or {}
        before = {
            id(value): (value.shape, value.dtype, value.tobytes())
            for value in list(args) + list(kwargs.values())
            if isinstance(value, np.ndarray)
        }
        self.call_before = before
        response = {"ok": True, "result": None, "error": None, "warnings": []}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                function = self.namespace[name] if name in self.namespace else None
                if function is None:
                    raise NameError("name '%s' is not defined" % name)
                _seed(message.get("seed", 0))
                with np.errstate(
                    **{
                        k: v
                        for k, v in errstate.items()
                        if k in ("divide", "over", "under", "invalid")
                    }
                ):
                    result = function(*args, **kwargs)
                refs = {}
                for key, value in list(enumerate(args)) + list(kwargs.items()):
                    if isinstance(value, np.ndarray) or any(value is n for n in self.call_nets):
                        refs.setdefault(
                            id(value), {"__argref__": ["a" if type(key) is int else "k", key]}
                        )
                response["result"] = encode(result, refs=refs)
            except BaseException as exc:  # the student's code may raise anything
                response["error"] = _describe(exc)
            response["warnings"] = [_warning(w) for w in caught[:MAX_WARNINGS]]
        response["args_after"] = [self.after(value) for value in args]
        response["kwargs_after"] = {key: self.after(value) for key, value in kwargs.items()}
        return response

    def after(self, value):
        """State of an argument after the call, for in-place semantics."""
        if isinstance(value, np.ndarray):
            shape, dtype, data = self.call_before[id(value)]
            if value.shape == shape and value.dtype == dtype and value.tobytes() == data:
                return None  # unchanged: nothing to copy back
            return encode(value)
        if any(value is net for net in self.call_nets):
            state = object.__getattribute__(value, "__dict__")
            return {
                "__net__": {
                    "w": encode(state.get("w")),
                    "b": encode(state.get("b")),
                    "activation": "student",
                }
            }
        return None

    def serve(self, read_fd, write_fd):
        while True:
            try:
                message = read_message(read_fd)
            except EOFError:
                return
            operation = getattr(self, "op_%s" % message.get("op"), None)
            try:
                if operation is None:
                    raise ProtocolError("unknown op")
                response = operation(message)
            except (ProtocolError, KeyError, TypeError, SyntaxError) as exc:
                response = {"ok": False, "protocol_error": _short(exc)}
            try:
                write_message(write_fd, response)
            except ProtocolError as exc:
                write_message(write_fd, {"ok": False, "protocol_error": _short(exc)})


def _warning(record):
    """[category name, message] of a recorded warning, safe on hostile objects."""
    try:
        category = _short(type.__dict__["__name__"].__get__(record.category), 200)
    except TypeError:
        category = "Warning"
    try:
        message = _short(record.message)
    except Exception:  # a hostile __str__
        message = "<сообщение недоступно>"
    return [category, message]


def _describe(exc):
    try:
        message = _short(exc)
    except BaseException:  # a hostile __str__
        message = "<сообщение недоступно>"
    return {"type": type_name(exc), "message": message}


def _seed(seed):
    seed = seed if type(seed) is int and 0 <= seed < 2**32 else 0
    np.random.seed(seed)
    random.seed(seed)


class _IPythonStub:
    """get_ipython() in the worker: %%time and %%capture run their body, other
    magics and shell escapes do nothing."""

    namespace = None
    BODY_MAGICS = ("time", "capture", "prun")

    def run_cell_magic(self, name, line, cell):
        if name in self.BODY_MAGICS and self.namespace is not None:
            exec(compile(cell, "<cell magic>", "exec"), self.namespace)

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


_IPYTHON = _IPythonStub()


def _get_ipython():
    return _IPYTHON


def main(argv):
    read_fd, write_fd = int(argv[1]), int(argv[2])
    # The student's prints (Python or C level) must never reach anything.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdin = open(os.devnull)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    Worker().serve(read_fd, write_fd)


if __name__ == "__main__":
    main(sys.argv)
