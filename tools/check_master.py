"""Rules of the master notebook that no tool may fix by rewriting it.

* **Points.** Every points statement of the Markdown ("(2 балла)", "(1.5 + 0.5 балла)",
  "Всего 10 баллов", "**1 балл** за обучение целиком", the "баллы" column of a table)
  equals the nbgrader metadata points of the graded cells it speaks of, and the metadata
  equals ``autograder.assignment.contract.POINTS``. A statement speaks of the one answer
  function named in backticks on its line (the sum of that function's own graded cells,
  or their points one by one, in notebook order, for "a + b"), of the joint cells when
  the line says "обучение целиком", of the total after "Всего"; a table row speaks of
  its first column, and numbers in parentheses in the row are that function's parts.
  Points are written in digits: a numeral word before "балл" is an error.
* **Given names.** The visible-check cell lists, in ``_GIVEN_NAMES``, every name that the
  given (read-only) code cells bind at top level, except those the grader supplies
  (``np`` and the contract's given definitions) and private ones (a leading underscore:
  the visible-check cell's own helpers). Its check warns a student whose
  function reads one of them: at grading time those names do not exist.

    python tools/check_master.py    # exit 1 listing every problem
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import nbformat

from autograder.assignment import contract

ROOT = Path(__file__).resolve().parents[1]
MASTER = ROOT / "source" / contract.ASSIGNMENT / f"{contract.NOTEBOOK}.ipynb"
VISIBLE_CHECKS_CELL = "visible_checks"
GIVEN_NAMES_VARIABLE = "_GIVEN_NAMES"
# Names the grader provides to the answer cells although a given cell defines them.
SUPPLIED_NAMES = frozenset({"np"}) | frozenset(contract.GIVEN_DEFINITIONS.values())
JOINT_PHRASE = "обучение целиком"
TOTAL_WORD = "Всего"

_NUMBER = r"\d+(?:[.,]\d+)?"
_STATEMENT = re.compile(rf"({_NUMBER}(?:\s*\+\s*{_NUMBER})*)\**\s*балл", re.IGNORECASE)
_NUMERAL_WORD = re.compile(
    r"\b(один|одного|два|двух|три|трёх|четыре|пять|полтора|половин\w*|последн\w*)\s+балл",
    re.IGNORECASE,
)
_BACKTICKED = re.compile(r"`([^`]+)`")
_PARENTHESIZED = re.compile(rf"\(({_NUMBER})\)")


def _meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _numbers(text: str) -> list[float]:
    return [float(part.replace(",", ".")) for part in re.split(r"\s*\+\s*", text.strip())]


def metadata_points(nb: nbformat.NotebookNode) -> dict[str, float]:
    """{grade_id: points} of the graded cells, in notebook order."""
    return {
        _meta(c)["grade_id"]: float(_meta(c)["points"]) for c in nb.cells if _meta(c).get("grade")
    }


def points_problems(
    nb: nbformat.NotebookNode, contract_points: Mapping[str, float] = contract.POINTS
) -> list[str]:
    """Every disagreement between the prose, the metadata and the contract; [] if none."""
    points = metadata_points(nb)
    problems = []
    if points != {k: float(v) for k, v in contract_points.items()}:
        problems.append(
            f"metadata points {points} differ from the contract's {dict(contract_points)}"
        )
    order = list(points)
    # Subject -> the points of its graded cells, one by one (notebook order).
    subjects = {
        function: [points[g] for g in order if g in contract.OWN_CELLS[function]]
        for function in contract.FUNCTIONS
    }
    subjects[JOINT_PHRASE] = [points[g] for g in order if g in contract.JOINT_CELLS]
    covered: set[str] = set()

    def judge(where: str, subject: str | None, claimed: list[float], parts: bool) -> None:
        if subject is None:
            problems.append(f"{where}: a points statement that names no single graded subject")
            return
        covered.add(subject)
        want = subjects[subject] if parts else [sum(subjects[subject])]
        if claimed != want:
            problems.append(f"{where}: says {claimed} for {subject}, the metadata gives {want}")

    def subject_of(text: str) -> str | None:
        if JOINT_PHRASE in text:
            return JOINT_PHRASE
        named = {name for name in _BACKTICKED.findall(text) if name in contract.FUNCTIONS}
        return named.pop() if len(named) == 1 else None

    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        cell_id = _meta(cell).get("grade_id", cell.get("id"))
        in_points_table = False
        for number, line in enumerate(cell.source.split("\n"), start=1):
            where = f"markdown cell {cell_id}, line {number}: {line.strip()!r}"
            for word in _NUMERAL_WORD.findall(line):
                problems.append(f"{where}: points in words ({word!r}); write them in digits")
            if line.lstrip().startswith("|"):
                columns = [c.strip() for c in line.strip().strip("|").split("|")]
                if any(c.lower() == "баллы" for c in columns):
                    in_points_table = True
                    continue
                if not in_points_table or set("".join(columns)) <= set("-: "):
                    continue
                judge(where, subject_of(columns[0]), _numbers(columns[-1]), parts=False)
                inner = [float(n) for n in _PARENTHESIZED.findall(" ".join(columns[1:-1]))]
                if inner:
                    judge(where, subject_of(columns[0]), inner, parts=True)
                continue
            in_points_table = False
            for match in _STATEMENT.finditer(line):
                claimed = _numbers(match.group(1))
                if TOTAL_WORD.lower() in line.lower():
                    if claimed != [sum(points.values())]:
                        problems.append(
                            f"{where}: total {claimed}, the metadata gives {sum(points.values())}"
                        )
                    continue
                judge(where, subject_of(line), claimed, parts=len(claimed) > 1)
    missing = sorted(set(subjects) - covered)
    if missing:
        problems.append(f"the prose states no points for {', '.join(missing)}")
    return problems


class _TopLevelBindings(ast.NodeVisitor):
    """Names a cell binds in the notebook's namespace (not inside functions or classes)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def visit_alias(self, node: ast.alias) -> None:
        self.names.add(node.asname or node.name.split(".")[0])

    def _definition(self, node: ast.AST) -> None:
        self.names.add(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_Lambda(self, node: ast.Lambda) -> None:
        pass

    def _comprehension(self, node: ast.AST) -> None:
        # Only a walrus inside a comprehension binds outside it; its own targets do not.
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr):
                self.visit(sub.target)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension


def given_names(nb: nbformat.NotebookNode) -> set[str]:
    """Names bound at top level by the given code cells (not answers, not graded cells)."""
    collector = _TopLevelBindings()
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type == "code" and not meta.get("solution") and not meta.get("grade"):
            collector.visit(ast.parse(cell.source))
    return collector.names


def listed_given_names(nb: nbformat.NotebookNode) -> set[str]:
    """The literal set assigned to _GIVEN_NAMES in the visible-check cell."""
    cells = [c for c in nb.cells if _meta(c).get("grade_id") == VISIBLE_CHECKS_CELL]
    if len(cells) != 1:
        raise ValueError(f"{len(cells)} cells with grade_id {VISIBLE_CHECKS_CELL!r}")
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
            GIVEN_NAMES_VARIABLE
        ]:
            call = node.value
            if isinstance(call, ast.Call) and not call.args:
                return set()
            if isinstance(call, ast.Call) and len(call.args) == 1:
                return set(ast.literal_eval(call.args[0]))
    raise ValueError(f"cell {VISIBLE_CHECKS_CELL}: no {GIVEN_NAMES_VARIABLE} = frozenset({{...}})")


def given_names_problems(nb: nbformat.NotebookNode) -> list[str]:
    """How _GIVEN_NAMES differs from the names the given cells bind; [] if it agrees."""
    expected = {n for n in given_names(nb) - SUPPLIED_NAMES if not n.startswith("_")}
    listed = listed_given_names(nb)
    problems = []
    if expected - listed:
        problems.append(
            f"{GIVEN_NAMES_VARIABLE} lacks {sorted(expected - listed)} (bound by given cells)"
        )
    if listed - expected:
        problems.append(
            f"{GIVEN_NAMES_VARIABLE} lists {sorted(listed - expected)}, which no given cell binds"
            " (or which the grader supplies)"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    path = Path(argv[0]) if argv else MASTER
    nb = nbformat.read(str(path), as_version=4)
    problems = points_problems(nb) + given_names_problems(nb)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
