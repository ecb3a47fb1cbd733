"""A small fixture course for the class command's tests (two answer cells, two
graded cells, plain nbgrader configuration), so that the tests exercise the
orchestration -- collection, statuses, workers, merging, re-runs --
independently of this course's notebook and sandbox; and helpers to submit to it.
"""

import hashlib
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from autograder.classgrade.run import grade_class

VENV_BIN = Path(sys.executable).parent
GOOD = {
    "double": "def double(x):\n    return 2 * x",
    "sigmoid": "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))",
}
BAD_DOUBLE = {"double": "def double(x):\n    return 3 * x", "sigmoid": GOOD["sigmoid"]}
BAD_SIGMOID = {"double": GOOD["double"], "sigmoid": "def sigmoid(x):\n    return x"}
VARIANTS = {
    "good": (GOOD, 3.0),
    "bad_double": (BAD_DOUBLE, 1.0),
    "bad_sigmoid": (BAD_SIGMOID, 2.0),
    "untouched": ({}, 0.0),
}
DUE = "2026-01-15 12:00:00 UTC"


def _meta(grade_id, **kw):
    meta = {
        "grade": False,
        "solution": False,
        "locked": False,
        "grade_id": grade_id,
        "schema_version": 3,
    }
    meta.update(kw)
    return {"nbgrader": meta}


def master_notebook():
    nb = new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_code_cell("import numpy as np", metadata=_meta("imports", locked=True)),
        new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            metadata=_meta("double", solution=True),
        ),
        new_code_cell(
            "assert double(2) == 4",
            metadata=_meta("test_double", grade=True, locked=True, points=2),
        ),
        new_code_cell(
            "def sigmoid(x):\n    ### BEGIN SOLUTION\n    return 1 / (1 + np.exp(-x))\n"
            "    ### END SOLUTION",
            metadata=_meta("sigmoid", solution=True),
        ),
        new_code_cell(
            "assert abs(sigmoid(0.0) - 0.5) < 1e-9",
            metadata=_meta("test_sigmoid", grade=True, locked=True, points=1),
        ),
    ]
    return nb


def notebook_bytes(root, codes):
    """The release notebook with the answer cells replaced by ``codes``."""
    nb = nbformat.read(Path(root) / "release/one_neuron/one_neuron.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in codes:
            cell.source = codes[gid]
    return nbformat.writes(nb).encode()


def submit(root, sid, codes=None, raw=None, timestamp=None, name="one_neuron.ipynb"):
    folder = Path(root) / "submitted" / sid / "one_neuron"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(raw if raw is not None else notebook_bytes(root, codes or {}))
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)
    return folder


def tree_digest(path):
    """Hash of names, contents and mtimes of every file under path."""
    h = hashlib.sha256()
    for p in sorted(Path(path).rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
            h.update(str(p.stat().st_mtime_ns).encode())
    return h.hexdigest()


def gradebook_scores(root):
    """{student: {grade cell: auto_score}} and the number of submissions."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        out = {}
        n = 0
        for sub in gb.assignment_submissions("one_neuron"):
            n += 1
            out[sub.student.id] = {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades}
        return out, n


def run(root, **kw):
    kw.setdefault("workers", 2)
    kw.setdefault("timeout", 60)
    return grade_class("one_neuron", course_dir=root, log=lambda *a: None, **kw)


def by_id(results):
    return {r.student_id: r for r in results}


def attempt_log(path, *, kill: str, only_first: bool = False) -> str:
    """An answer cell that appends the pid of its grading process (the kernel's
    parent) to ``path``, then SIGKILLs ``kill`` ("kernel" or "grader"), on every
    attempt or only on the first. The fixture course runs kernels without a
    sandbox, so the file outside the scratch course is how the test counts
    attempts and tells their worker processes apart."""
    target = "os.getpid()" if kill == "kernel" else "os.getppid()"
    condition = f"len(open({str(path)!r}).readlines()) == 1" if only_first else "True"
    return (
        "import os, signal\n"
        f"with open({str(path)!r}, 'a') as log:\n"
        "    log.write(f'{os.getppid()}\\n')\n"
        f"if {condition}:\n"
        f"    os.kill({target}, signal.SIGKILL)\n"
        "def double(x):\n"
        "    return 2 * x"
    )


def attempts(path) -> list[str]:
    return path.read_text().split()
