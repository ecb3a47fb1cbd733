"""Sanitize step: a notebook whose nbgrader metadata nbgrader cannot take is refused
for this submission only.

nbgrader raises ``SchemaTooNewError`` / ``SchemaTooOldError`` (``CheckCellMetadata``)
for a cell whose ``schema_version`` is not its own (3), and its converter turns those
two exceptions into ``NbGraderException``, which stops ``nbgrader autograde`` for the
whole class: every later student stays ungraded. Metadata of the wrong type (a list
where a dict belongs, a string ``schema_version``...) fails deeper in nbgrader with an
unrelated ``TypeError``/``AttributeError``.

``CheckNbgraderMetadata`` runs first in ``c.Autograde.sanitize_preprocessors`` and
raises ``InvalidNotebookError`` (a plain exception: nbgrader logs it, removes this
submission's autograded folder and goes on with the next student) naming the cell and
the problem. The class command's pre-check uses ``notebook_metadata_problem`` on the
same notebook and reports it as "invalid notebook" with that reason.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
from nbformat.notebooknode import NotebookNode
from nbgrader.nbgraderformat import SCHEMA_VERSION, MetadataValidator
from nbgrader.preprocessors import NbGraderPreprocessor

CELL_TYPES = ("code", "markdown", "raw")


class InvalidNotebookError(Exception):
    """The submitted notebook cannot be graded (the message says why)."""


def _text(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(line, str) for line in value)
    )


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    """nbgrader's metadata schema, checked and compiled once per process
    (``jsonschema.validate`` does both again for every cell: ~1 ms each)."""
    schema = MetadataValidator().schema
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _cell_problem(cell: Any, validator: jsonschema.protocols.Validator) -> str:
    if not isinstance(cell, dict):
        return f"is a {type(cell).__name__}, not an object"
    if cell.get("cell_type") not in CELL_TYPES:
        return f"has cell_type {str(cell.get('cell_type'))[:40]!r}"
    if not _text(cell.get("source", "")):
        return "has a source that is not text"
    if cell["cell_type"] == "code" and not isinstance(cell.get("outputs", []), list):
        return "has outputs that are not a list"
    meta = cell.get("metadata", {})
    if not isinstance(meta, dict):
        return f"has metadata of type {type(meta).__name__} (an object is required)"
    if "nbgrader" not in meta:
        return ""
    nbg = meta["nbgrader"]
    if not isinstance(nbg, dict):
        return f"has nbgrader metadata of type {type(nbg).__name__} (an object is required)"
    version = nbg.get("schema_version")
    # bool is an int in Python: True would pass for schema version 1.
    if type(version) is not int or version != SCHEMA_VERSION:
        return (
            f"has nbgrader schema_version {repr(version)[:40]} "
            f"(this nbgrader takes only {SCHEMA_VERSION})"
        )
    # the error jsonschema.validate would raise
    error = jsonschema.exceptions.best_match(validator.iter_errors(nbg))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "nbgrader"
        return f"has invalid nbgrader metadata at {where}: {error.message[:200]}"
    return ""


def notebook_metadata_problem(nb: Any) -> str:
    """Why nbgrader cannot take this notebook's metadata (a parsed .ipynb), or ""."""
    if not isinstance(nb, dict):
        return "not a notebook (not a JSON object)"
    if not isinstance(nb.get("metadata", {}), dict):
        return "notebook metadata is not an object"
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return "not a notebook (no list of cells)"
    validator = _validator()
    for index, cell in enumerate(cells):
        problem = _cell_problem(cell, validator)
        if problem:
            return f"cell {index} {problem}"
    return ""


class CheckNbgraderMetadata(NbGraderPreprocessor):
    """Refuse this submission (not the class) when nbgrader cannot take its metadata."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        problem = notebook_metadata_problem(nb)
        if problem:
            info = (resources or {}).get("nbgrader", {})
            who = f"{info.get('student', '?')}/{info.get('assignment', '?')}"
            message = f"invalid notebook ({who}): {problem}"
            self.log.error(message)
            raise InvalidNotebookError(message)
        return nb, resources


__all__ = ["CheckNbgraderMetadata", "InvalidNotebookError", "notebook_metadata_problem"]
