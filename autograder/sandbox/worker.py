"""Worker that runs a student's cells and serves calls to their functions.

This file runs as a standalone script in a sandboxed subprocess, where the course
directory and ``autograder/`` are not visible: ``autograder.sandbox.remote`` passes its
source with ``python -I -c``, together with the source of ``wire.py``, which it installs
as the module ``wire`` before this file runs. It imports only numpy, the standard
library and ``wire``.

Nothing this process records decides a verdict: student code runs in the same process
and could rewrite it. The worker only executes requests and returns values; what the
grader judges it observes from outside (the values over the wire, the CPU time of this
process, what it wrote to its stderr pipe). Warnings go to stderr ("always"), student
prints to stdout go nowhere.

Protocol: requests on fd ``argv[1]``, responses on fd ``argv[2]`` (framed JSON, see
``wire``). Requests (``op``):

* ``load``: execute cells ``[{"name", "source", "capture": [class names]}]`` one by
  one in the student's namespace (kept for the worker's whole life); after a cell,
  each captured name is remembered as a shared class of env "student";
* ``install_env``: build the namespace ``env`` from ``sources`` (trusted functions,
  then the given classes, captured as classes of that env);
* ``call``: call a function of the student's namespace; shared objects in the
  arguments are the same instances across calls (by handle);
* ``seed``: seed numpy's and random's global generators; ``ping``.
"""

import builtins
import math
import os
import random
import sys
import warnings

import numpy as np
import wire  # installed into sys.modules by remote's bootstrap

MAX_OBJECTS = 10_000


class Worker:
    """State of one worker process: the student's namespace and shared objects."""

    def __init__(self):
        self.namespace = self.fresh_namespace()
        self.classes = {}  # (env, class name) -> class
        self.objects = {}  # handle -> instance kept across calls
        self.returned = {}  # handle -> {attr: encoded value last sent to the grader}
        self.call_objects = []
        self.call_before = {}
        _IPYTHON.namespace = self.namespace

    @staticmethod
    def fresh_namespace():
        return {
            "__name__": "__main__",
            "__builtins__": builtins,
            "np": np,
            "numpy": np,
            "math": math,
            "random": random,
            "get_ipython": _get_ipython,
        }

    def shared_object(self, body: dict) -> object:
        """The instance for an ``__object__`` body: the kept one, or a new one."""
        key = (body["env"], body["class"])
        cls = self.classes.get(key)
        if cls is None:
            raise wire.ProtocolError("class %s of env %s is not loaded" % key[::-1])
        handle = body["handle"]
        state = body["state"]["__dict__"]
        if any(
            type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str for pair in state
        ):
            raise wire.ProtocolError("bad object state")
        instance = self.objects.get(handle)
        if instance is None or type(instance) is not cls:
            if len(self.objects) >= MAX_OBJECTS:
                raise wire.ProtocolError("too many objects")
            instance = cls.__new__(cls)
            self.objects[handle] = instance
            self.returned[handle] = {}
        last = self.returned[handle]
        for name, encoded in state:
            # Only what the grader changed is set: the student's own objects in the
            # attributes (and their identity) survive between calls.
            if name not in last or last[name] != encoded:
                object.__setattr__(instance, name, wire.decode(encoded))
        self.call_objects.append((handle, instance, [name for name, _ in state]))
        return instance

    # -- operations --

    def op_ping(self, message: dict) -> dict:
        return {"ok": True}

    def op_seed(self, message: dict) -> dict:
        _seed(message.get("seed"))
        return {"ok": True}

    def op_load(self, message: dict) -> dict:
        cells = message.get("cells")
        if type(cells) is not list:
            raise wire.ProtocolError("cells must be a list")
        report = []
        for cell in cells:
            if (
                type(cell) is not dict
                or type(cell.get("name")) is not str
                or type(cell.get("source")) is not str
                or type(cell.get("capture", [])) is not list
            ):
                raise wire.ProtocolError("bad cell")
            error = None
            try:
                code = compile(cell["source"], "<cell %s>" % cell["name"], "exec")
                exec(code, self.namespace)
            except BaseException as exc:  # the student's code may raise anything
                error = _describe(exc)
            for name in cell.get("capture", []):
                value = self.namespace.get(name) if type(name) is str else None
                if isinstance(value, type):
                    self.classes[(wire.STUDENT_ENV, name)] = value
            _flush_stderr()
            report.append({"name": cell["name"], "error": error})
        return {"ok": True, "cells": report}

    def op_install_env(self, message: dict) -> dict:
        env = message["env"]
        if not wire.valid_env_name(env) or env == wire.STUDENT_ENV:
            raise wire.ProtocolError("bad env name")
        namespace = {"np": np, "numpy": np, "math": math, "__builtins__": builtins}
        for name, source in message["sources"]:
            exec(compile(source, "<reference %s %s>" % (env, name), "exec"), namespace)
        for name in message["capture"]:
            if isinstance(namespace.get(name), type):
                self.classes[(env, name)] = namespace[name]
        return {"ok": True}

    def op_call(self, message: dict) -> dict:
        name = message.get("fn")
        if type(name) is not str:
            raise wire.ProtocolError("fn must be a string")
        self.call_objects = []
        args = wire.decode(message.get("args"), object_factory=self.shared_object)
        kwargs = wire.decode(message.get("kwargs"), object_factory=self.shared_object)
        if type(args) is not tuple or type(kwargs) is not dict:
            raise wire.ProtocolError("args must be a tuple and kwargs a dict")
        errstate = message.get("errstate") or {}
        self.call_before = {
            id(value): (value.shape, value.dtype, value.tobytes())
            for value in list(args) + list(kwargs.values())
            if isinstance(value, np.ndarray)
        }
        response = {"ok": True, "result": None, "error": None}
        try:
            function = self.namespace[name] if name in self.namespace else None
            if function is None:
                raise NameError("name '%s' is not defined" % name)
            with np.errstate(
                **{k: v for k, v in errstate.items() if k in ("divide", "over", "under", "invalid")}
            ):
                result = function(*args, **kwargs)
            refs = {}
            objects = {id(instance) for _, instance, _ in self.call_objects}
            for key, value in list(enumerate(args)) + list(kwargs.items()):
                if isinstance(value, np.ndarray) or id(value) in objects:
                    refs.setdefault(
                        id(value), {"__argref__": ["a" if type(key) is int else "k", key]}
                    )
            response["result"] = wire.encode(result, refs=refs)
        except BaseException as exc:  # the student's code may raise anything
            response["error"] = _describe(exc)
        _flush_stderr()
        response["args_after"] = [self.after(value) for value in args]
        response["kwargs_after"] = {key: self.after(value) for key, value in kwargs.items()}
        return response

    def after(self, value: object) -> object:
        """State of an argument after the call, for in-place semantics."""
        if isinstance(value, np.ndarray):
            shape, dtype, data = self.call_before[id(value)]
            if value.shape == shape and value.dtype == dtype and value.tobytes() == data:
                return None  # unchanged: nothing to copy back
            return wire.encode(value)
        for handle, instance, names in self.call_objects:
            if value is instance:
                state = object.__getattribute__(value, "__dict__")
                encoded = {name: wire.encode(state.get(name)) for name in names}
                self.returned[handle] = encoded
                return {"__dict__": [[name, item] for name, item in encoded.items()]}
        return None

    def serve(self, read_fd: int, write_fd: int) -> None:
        reader = wire.MessageReader(read_fd)
        while True:
            try:
                message = reader.read()
            except EOFError:
                return
            operation = getattr(self, "op_%s" % message.get("op"), None)
            try:
                if operation is None:
                    raise wire.ProtocolError("unknown op")
                response = operation(message)
            except (wire.ProtocolError, KeyError, TypeError, ValueError, SyntaxError) as exc:
                response = {"ok": False, "protocol_error": wire.short(exc)}
            try:
                wire.write_message(write_fd, response)
            except wire.ProtocolError as exc:
                wire.write_message(write_fd, {"ok": False, "protocol_error": wire.short(exc)})


def _describe(exc):
    try:
        message = wire.short(exc)
    except BaseException:  # a hostile __str__
        message = "<сообщение недоступно>"
    return {"type": wire.type_name(exc), "message": message}


def _seed(seed):
    seed = seed if type(seed) is int and 0 <= seed < 2**32 else 0
    np.random.seed(seed)
    random.seed(seed)


def _flush_stderr():
    try:
        sys.stderr.flush()
    except Exception:  # the student may have replaced sys.stderr: their loss
        pass


class _IPythonStub:
    """get_ipython() in the worker: %%time and %%capture run their body, other
    magics and shell escapes do nothing."""

    namespace = None
    BODY_MAGICS = ("time", "capture", "prun")

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        if name in self.BODY_MAGICS and self.namespace is not None:
            exec(compile(cell, "<cell magic>", "exec"), self.namespace)

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


_IPYTHON = _IPythonStub()


def _get_ipython():
    return _IPYTHON


def main(argv: list[str]) -> None:
    read_fd, write_fd = int(argv[1]), int(argv[2])
    # Prints to stdout (Python or C level) reach nothing; stderr is the grader's pipe.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    sys.stdin = open(os.devnull)
    sys.stdout = open(os.devnull, "w")
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)
    warnings.simplefilter("always")
    _seed(0)
    Worker().serve(read_fd, write_fd)


if __name__ == "__main__":
    main(sys.argv)
