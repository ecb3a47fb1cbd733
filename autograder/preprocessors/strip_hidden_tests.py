"""Keeping hidden tests hidden: in the kernel under autograde and in feedback.

``StripHiddenTests`` is nbgrader's ``ClearHiddenTests`` (same delimiters, same
parser) with three changes for submitted notebooks, where the markers are the
student's to break:

* a one-line comment takes the place of each hidden region in code cells;
* a malformed region (unclosed, or nested) never aborts the submission: everything
  from its first begin marker on is hidden;
* hidden regions are stripped from any cell, not only graded ones
  (``enforce_metadata`` is off).

It runs in ``c.Autograde.autograde_preprocessors`` before the kernel executes the
submission, so the student's code never sees the names of the checks (the trusted
verdict grades the cells anyway, see ``autograder.preprocessors.trusted_verdict``), and
in ``c.GenerateFeedback.preprocessors``, so the feedback shows the visible tests and
each failing check's message but not the hidden source.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool, Unicode

PLACEHOLDER = "# (скрытые тесты не показываются)"


class StripHiddenTests(ClearHiddenTests):
    """Replace hidden-test regions of every cell with a short comment."""

    placeholder = Unicode(PLACEHOLDER, help="Line put where a hidden region was").tag(config=True)
    enforce_metadata = Bool(False, help="Hidden regions are stripped from any cell").tag(
        config=True
    )

    def _remove_hidden_test_region(self, cell: NotebookNode) -> bool:
        if not isinstance(cell.get("source"), str) or self.begin_test_delimeter not in cell.source:
            # nbgrader's parser drops stray end markers too
            return super()._remove_hidden_test_region(cell)
        original = cell.source
        if cell.cell_type == "code" and self.placeholder:
            lines = []
            for line in original.split("\n"):
                if self.begin_test_delimeter in line:
                    indent = line[: len(line) - len(line.lstrip())]
                    lines.append(indent + self.placeholder)
                lines.append(line)
            cell.source = "\n".join(lines)
        try:
            return super()._remove_hidden_test_region(cell)
        except RuntimeError as exc:  # unclosed or nested: hide everything after the first
            self.log.warning(
                "Malformed hidden-test region (%s): the rest of the cell is hidden", exc
            )
            lines = cell.source.split("\n")
            first = next(i for i, line in enumerate(lines) if self.begin_test_delimeter in line)
            cell.source = "\n".join(lines[:first])
            return True


def strip_hidden_tests(source: str, cell_type: str = "code") -> str:
    """source as StripHiddenTests leaves it in a cell of cell_type."""
    cell = NotebookNode(cell_type=cell_type, source=source, metadata={})
    StripHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


__all__ = ["PLACEHOLDER", "StripHiddenTests", "strip_hidden_tests"]
