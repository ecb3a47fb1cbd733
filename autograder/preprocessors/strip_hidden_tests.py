"""Keeping hidden tests hidden: in the kernel under autograde and in feedback.

``StripHiddenTests`` removes every ``### BEGIN HIDDEN TESTS`` ...
``### END HIDDEN TESTS`` region from the cells of a notebook and puts a
one-line comment in its place. It runs

* in ``c.Autograde.autograde_preprocessors`` before the kernel executes the
  submission, so the student's code never sees the names of the checks (the
  trusted verdict grades the cells anyway, see ``autograder.preprocessors.trusted_verdict``); and
* in ``c.GenerateFeedback.preprocessors``, so the feedback shows the visible
  tests and each failing check's message but not the hidden source.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
PLACEHOLDER = "# (скрытые тесты не показываются)"


def strip_hidden_tests(source: str, placeholder: str = PLACEHOLDER) -> str:
    """source without its hidden-test regions (an unclosed region runs to the end)."""
    if BEGIN_HIDDEN not in source and END_HIDDEN not in source:
        return source
    kept: list[str] = []
    hidden = False
    for line in source.splitlines(keepends=True):
        if not hidden and BEGIN_HIDDEN in line:
            hidden = True
            indent = line[: len(line) - len(line.lstrip())]
            if placeholder:
                kept.append(indent + placeholder + "\n")
            continue
        if hidden:
            if END_HIDDEN in line:
                hidden = False
            continue
        if END_HIDDEN in line:  # a stray end marker
            continue
        kept.append(line)
    return "".join(kept).rstrip("\n")


class StripHiddenTests(NbGraderPreprocessor):
    """Replace hidden-test regions of every cell with a short comment."""

    placeholder = Unicode(PLACEHOLDER, help="Line put where a hidden region was").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if isinstance(cell.get("source"), str):
            placeholder = self.placeholder if cell.cell_type == "code" else ""
            cell.source = strip_hidden_tests(cell.source, placeholder)
        return cell, resources
