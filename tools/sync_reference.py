"""Keep ``autograder/assignment/reference.py`` in sync with the master notebook.

The master notebook ``source/one_neuron/one_neuron.ipynb`` is the truth (edited in
JupyterLab); the checks import the reference module, so the two must agree.

What is compared: every top-level function or class that a code cell of the master
defines (answer cells with their solution markers dropped, and given read-only cells;
graded test cells excluded) and that reference.py also defines at top level, matched by
name. Among them must be every answer function and every given definition of
``autograder.assignment.contract``. Two definitions agree when their ``ast`` trees are
equal, docstrings compared after ``inspect.cleandoc``: layout, comments and quote style
do not count, any change of code or docstring does.

    python tools/sync_reference.py           # copy the notebook's definitions into reference.py
    python tools/sync_reference.py --check   # exit 1 showing a unified diff of each drift

Copying goes notebook -> reference only; nothing here writes the notebook.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.assignment import contract

ROOT = Path(__file__).resolve().parents[1]
MASTER = ROOT / "source" / contract.ASSIGNMENT / f"{contract.NOTEBOOK}.ipynb"
REFERENCE = ROOT / "autograder" / "assignment" / "reference.py"
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")  # nbgrader's delimiters (substring match)


@dataclass(frozen=True)
class Definition:
    """One top-level def or class: its name, source text and where it comes from."""

    name: str
    source: str
    origin: str
    first_line: int = 0  # 1-based span in a module (0 for a notebook cell)
    last_line: int = 0


def _normalized(node: ast.AST) -> str:
    """ast.dump of a definition with its docstrings cleaned (indentation does not count)."""
    node = ast.parse(ast.unparse(node)).body[0]
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = sub.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body[0].value.value = inspect.cleandoc(body[0].value.value)
    return ast.dump(node)


def _top_level(source: str, origin: str) -> dict[str, tuple[ast.AST, Definition]]:
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ValueError(f"{origin}: not valid Python ({error.msg}, line {error.lineno})") from None
    lines = source.split("\n")
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            text = "\n".join(lines[first - 1 : node.end_lineno])
            found[node.name] = (node, Definition(node.name, text, origin, first, node.end_lineno))
    return found


def strip_solution_markers(source: str) -> str:
    """A solution cell's code as the master runs it: the marker lines dropped."""
    return "\n".join(
        line for line in source.split("\n") if not any(m in line for m in SOLUTION_MARKERS)
    )


def notebook_definitions(nb: nbformat.NotebookNode) -> dict[str, tuple[ast.AST, Definition]]:
    """Top-level definitions of the master's answer and given code cells, by name."""
    found: dict[str, tuple[ast.AST, Definition]] = {}
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        origin = f"cell {meta.get('grade_id', index)}"
        source = strip_solution_markers(cell.source) if meta.get("solution") else cell.source
        for name, item in _top_level(source, origin).items():
            if name in found:
                raise ValueError(f"{name} is defined in {found[name][1].origin} and {origin}")
            found[name] = item
    return found


def _pairs(nb: nbformat.NotebookNode, reference_source: str):
    """(notebook definition, reference definition) for every name both define."""
    in_notebook = notebook_definitions(nb)
    in_reference = _top_level(reference_source, "reference.py")
    required = set(contract.FUNCTIONS) | set(contract.GIVEN_DEFINITIONS.values())
    missing = sorted(required - set(in_notebook))
    if missing:
        raise ValueError(f"the master notebook defines no {', '.join(missing)}")
    missing = sorted(required - set(in_reference))
    if missing:
        raise ValueError(f"reference.py defines no {', '.join(missing)}")
    return [(in_notebook[name], in_reference[name]) for name in in_notebook if name in in_reference]


def drift(
    master: Path = MASTER, reference: Path = REFERENCE, reference_label: str | None = None
) -> list[str]:
    """A unified diff (reference -> notebook) for each definition that differs; [] if in sync."""
    nb = nbformat.read(str(master), as_version=4)
    label = reference_label or str(reference)
    diffs = []
    for (nb_node, nb_def), (ref_node, ref_def) in _pairs(nb, reference.read_text("utf-8")):
        if _normalized(nb_node) == _normalized(ref_node):
            continue
        diffs.append(
            "".join(
                difflib.unified_diff(
                    (ref_def.source + "\n").splitlines(keepends=True),
                    (textwrap.dedent(nb_def.source) + "\n").splitlines(keepends=True),
                    fromfile=f"{label}:{ref_def.first_line} ({ref_def.name})",
                    tofile=f"{master.name} {nb_def.origin} ({nb_def.name})",
                )
            )
        )
    return diffs


def sync(master: Path = MASTER, reference: Path = REFERENCE) -> list[str]:
    """Copy each drifted notebook definition over its reference one; returns their names."""
    nb = nbformat.read(str(master), as_version=4)
    text = reference.read_text("utf-8")
    lines = text.split("\n")
    changed = []
    pairs = _pairs(nb, text)
    # Bottom-up, so the line numbers of the definitions above stay valid.
    for (nb_node, nb_def), (ref_node, ref_def) in sorted(pairs, key=lambda p: -p[1][1].first_line):
        if _normalized(nb_node) != _normalized(ref_node):
            lines[ref_def.first_line - 1 : ref_def.last_line] = nb_def.source.split("\n")
            changed.append(nb_def.name)
    if changed:
        reference.write_text("\n".join(lines), encoding="utf-8")
        # Keep reference.py ruff-formatted (the notebook's layout is the instructor's).
        subprocess.run(
            [sys.executable, "-m", "ruff", "format", "--quiet", str(reference)], check=False
        )
    return sorted(changed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only show drift; exit 1 if any")
    parser.add_argument("--master", type=Path, default=MASTER)
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    args = parser.parse_args(argv)
    try:
        if args.check:
            diffs = drift(args.master, args.reference)
            for diff in diffs:
                print(diff)
            if diffs:
                print(
                    f"{args.reference} differs from {args.master}: run python tools/sync_reference.py",
                    file=sys.stderr,
                )
            return 1 if diffs else 0
        changed = sync(args.master, args.reference)
    except (OSError, ValueError) as error:
        print(f"sync_reference: {error}", file=sys.stderr)
        return 2
    print(f"copied into {args.reference}: {', '.join(changed)}" if changed else "already in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
