"""Trusted verdicts: graded test cells are scored outside the student's kernel.

``TrustedVerdict`` runs right after the (sandboxed) kernel in
``c.Autograde.autograde_preprocessors``. Nothing the kernel printed decides a grade:

* it takes from the autograded notebook, in notebook order, the answer cells (whole),
  the given read-only cells that define what the checks share with student code (their
  source from the assignment's reference, never the student's copy) and the top-level
  definitions of the cells the student added (imports, ``def``, ``class`` and
  assignments of constants; see ``top_level_definitions``). Data computed by given
  cells is not there: a function that reads a global like ``X_train`` fails as it
  should;
* it loads them into a fresh sandboxed worker (``autograder.sandbox.remote``), runs the
  check of every graded test cell in this process with proxies of the student's
  functions, in the assignment's ``CHECK_ORDER``, restores the cell's source from the
  gradebook and REPLACES its outputs: pass -> one stdout line, fail -> one ``error``
  output whose value is the check's message. ``SaveAutoGrades`` then scores the cell
  from these outputs (an error output -> 0, otherwise full points).

The engine names nothing of an assignment: ``c.TrustedVerdict.assignment`` names a
package with modules ``contract`` and ``checks`` (see ``load_assignment``).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import random
import time
import warnings
from collections.abc import Callable

import numpy as np
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode

from autograder.preprocessors.restore_cell_metadata import gradebook_cells
from autograder.sandbox import remote

PASS_TEXT = "Скрытые проверки пройдены.\n"
NO_CHECK_TEXT = "Для этой ячейки нет проверки: она не может принести баллы автоматически."
CHECK_BUG_TEXT = "Внутренняя ошибка проверки ({}); сообщите преподавателю."
VERDICT_TIMEOUT_TEXT = (
    "Проверка не уложилась в отведённое время ни в первый раз, ни при повторной попытке в "
    "новом процессе ({}). Функция не завершается (бесконечный цикл?) или работает "
    "намного медленнее ожидаемого."
)
#: ename of a check timed out twice: the class command reads it as "timed out".
VERDICT_TIMEOUT_ENAME = "CellTimeoutError"


class VerdictTimeout(AssertionError):
    """A check whose worker timed out on its first run and on its re-run."""


def worker_failure(error: BaseException | None) -> remote.WorkerFailure | None:
    """The worker's time-out or crash behind a failed check, if any (the checks turn
    it into an AssertionError naming it; the original stays in the chain). A student's
    own exception is never one: it comes back as a ``StudentError`` class."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, remote.WorkerFailure) and not isinstance(
            error, remote.ProtocolViolation
        ):
            return error
        error = error.__cause__ or error.__context__
    return None


Check = Callable[..., None]


@dataclasses.dataclass(frozen=True)
class Assignment:
    """What the grading engine takes from an assignment's contract and checks."""

    #: grade_ids of the answer cells, loaded whole into the worker.
    answer_ids: tuple[str, ...]
    #: grade_id of a graded cell -> (check, names of the student functions it takes).
    checks: dict[str, tuple[Check, list[str]]]
    #: the order checks run in (a check needing trusted code in the worker comes last).
    check_order: tuple[str, ...]
    #: grade_id of a given cell -> trusted source of what it defines.
    given_sources: dict[str, str]
    #: grade_id of a given cell -> name of the class it defines that checks share.
    given_classes: dict[str, str]
    shared_classes: tuple[remote.SharedClass, ...]
    #: env name -> {function name: trusted source} (see remote.StudentWorker).
    envs: dict[str, dict[str, str]]

    def worker(self, **kwargs) -> remote.StudentWorker:
        """A StudentWorker that knows this assignment's shared classes."""
        return remote.StudentWorker(
            shared_classes=self.shared_classes,
            envs=self.envs,
            **kwargs,
        )


@functools.lru_cache(maxsize=8)
def load_assignment(package: str) -> Assignment:
    """The contract of the assignment package ``package`` (modules contract, checks).

    ``contract`` provides ``ANSWER_IDS``, ``CHECK_ORDER``, ``GIVEN_CLASSES`` (grade_id,
    name, state, env_attribute), ``given_sources()``, ``given_classes()`` and
    ``worker_envs()``; ``checks`` provides ``CHECKS``.
    """
    if not package:
        raise ValueError(
            "c.TrustedVerdict.assignment is not set: name the assignment package "
            "(e.g. c.TrustedVerdict.assignment = 'autograder.assignment') in nbgrader_config.py"
        )
    contract = importlib.import_module(f"{package}.contract")
    checks = importlib.import_module(f"{package}.checks")
    sources = contract.given_sources()
    local = contract.given_classes()
    shared = tuple(
        remote.SharedClass(
            name=given.name,
            local=local[given.name],
            source=sources[given.grade_id],
            state=tuple(given.state),
            env_attribute=given.env_attribute,
        )
        for given in contract.GIVEN_CLASSES
    )
    return Assignment(
        answer_ids=tuple(contract.ANSWER_IDS),
        checks=dict(checks.CHECKS),
        check_order=tuple(contract.CHECK_ORDER),
        given_sources=dict(sources),
        given_classes={given.grade_id: given.name for given in contract.GIVEN_CLASSES},
        shared_classes=shared,
        envs={name: dict(sources) for name, sources in contract.worker_envs().items()},
    )


def _is_constant(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _names_only(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_names_only(item) for item in target.elts)
    return False


def top_level_definitions(source: str) -> str:
    """The statements of a student's added cell that define things, as source.

    Kept: imports, ``def``, ``class``, and assignments of literal constants to names
    (``EPS = 1e-12``). Everything else — computations, calls, loops, plots — is
    dropped, so data computed in the notebook never becomes part of a function.
    A cell that does not parse gives "".
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return ""
    kept = []
    for node in tree.body:
        if isinstance(
            node,
            (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef),
        ):
            kept.append(node)
        elif isinstance(node, ast.Assign) and _is_constant(node.value):
            if all(_names_only(target) for target in node.targets):
                kept.append(node)
        elif (
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
            and _is_constant(node.value)
        ):
            kept.append(node)
    if not kept:
        return ""
    try:
        return ast.unparse(ast.Module(body=kept, type_ignores=[])) + "\n"
    except (ValueError, RecursionError):
        return ""


def verdict_outputs(error: BaseException | None) -> list:
    """Outputs of a graded cell: one stdout line, or one error with the message."""
    if error is None:
        return [new_output("stream", name="stdout", text=PASS_TEXT)]
    ename = type(error).__name__ if isinstance(error, AssertionError) else "AssertionError"
    if isinstance(error, VerdictTimeout):
        ename = VERDICT_TIMEOUT_ENAME
    message = (
        str(error) if isinstance(error, AssertionError) else (f"{type(error).__name__}: {error}")
    )
    return [new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])]


class TrustedVerdict(NbGraderPreprocessor):
    """Grade every graded test cell by running its check outside the kernel."""

    assignment = Unicode(
        "", help="Assignment package with modules contract and checks (load_assignment)"
    ).tag(config=True)
    call_timeout = Float(10.0, help="Seconds one call of a student function may take").tag(
        config=True
    )
    check_timeout = Float(60.0, help="Seconds all calls of one check may take together").tag(
        config=True
    )
    memory_limit = Integer(
        remote.DEFAULT_MEMORY_BYTES, help="Address-space limit of the worker, bytes"
    ).tag(config=True)
    unsafe = Bool(
        False, help="Grade without the bubblewrap sandbox (also ONE_NEURON_UNSAFE=1)"
    ).tag(config=True)

    @property
    def spec(self) -> Assignment:
        return load_assignment(self.assignment)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        spec = self.spec
        graded, sources, _ = gradebook_cells(resources)
        plan = []  # (order key, cell, grade_id)
        seen: set[str] = set()
        order = {grade_id: position for position, grade_id in enumerate(spec.check_order)}
        for index, cell in enumerate(nb.cells):
            if not utils.is_grade(cell):
                continue
            grade_id = cell.metadata.nbgrader.get("grade_id")
            if grade_id not in graded or grade_id in seen:
                # RestoreCellMetadata prevents this; never score such a cell.
                self.log.warning("Ungradable graded cell %r: metadata dropped", grade_id)
                del cell.metadata["nbgrader"]
                continue
            seen.add(grade_id)
            cell.metadata.nbgrader["points"] = graded[grade_id]
            if utils.is_solution(cell) or cell.cell_type != "code":
                continue  # manually graded answers: not ours
            cell.source = sources[grade_id]["source"]
            if grade_id not in spec.checks:
                self.log.error("No check for graded cell %s: it scores 0", grade_id)
                cell.outputs = verdict_outputs(AssertionError(NO_CHECK_TEXT))
                continue
            plan.append(((order.get(grade_id, len(order)), index), cell, grade_id))
        if not plan:
            return nb, resources
        plan.sort(key=lambda item: item[0])
        cells = self.worker_cells(nb)
        start = time.monotonic()
        worker = spec.worker(
            call_timeout=self.call_timeout,
            memory_bytes=self.memory_limit,
            unsafe=self.unsafe or None,
        )
        with worker:
            for item in worker.load(cells):
                if item["error"]:
                    self.log.info(
                        "Cell %s: %s: %s",
                        item["name"],
                        item["error"]["type"],
                        item["error"]["message"],
                    )
            for _, cell, grade_id in plan:
                check, arg_names = spec.checks[grade_id]
                error = self.run_check(worker, check, arg_names)
                cell.outputs = verdict_outputs(error)
                self.log.info(
                    "Trusted verdict %s: %s", grade_id, "pass" if error is None else "fail"
                )
        cpu = sum(o.cpu_seconds or 0.0 for o in worker.observations)
        self.log.info(
            "Trusted verdicts of %d cells in %.1f s (%d calls, %.2f s CPU of student code, "
            "%d worker start(s))",
            len(plan),
            time.monotonic() - start,
            len(worker.observations),
            cpu,
            worker.spawns,
        )
        return nb, resources

    def worker_cells(self, nb: NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
        """(name, source, captured classes) of what the worker executes, in notebook order.

        Answer cells whole (IPython syntax turned into Python), given cells of shared
        definitions from the reference, the top-level definitions of added cells
        (cells without nbgrader metadata); other given cells and test cells: nothing.
        """
        from IPython.core.inputtransformer2 import TransformerManager

        spec = self.spec
        transformer = TransformerManager()

        def python(source: str, name: str) -> str:
            try:
                return transformer.transform_cell(source)
            except (SyntaxError, ValueError, IndexError) as exc:
                self.log.info("IPython transform of %s failed: %s", name, exc)
                return source

        cells = []
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not isinstance(cell.get("source"), str):
                continue
            meta = cell.metadata.get("nbgrader")
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if grade_id in spec.answer_ids and meta.get("solution"):
                cells.append((grade_id, python(cell.source, grade_id), ()))
            elif grade_id in spec.given_sources:
                captured = (spec.given_classes[grade_id],) if grade_id in spec.given_classes else ()
                cells.append((grade_id, spec.given_sources[grade_id], captured))
            elif grade_id is None:
                name = f"added cell {index + 1}"
                definitions = top_level_definitions(python(cell.source, name))
                if definitions:
                    cells.append((name, definitions, ()))
        return cells

    def run_check(
        self, worker: remote.StudentWorker, check: Check, arg_names: list[str]
    ) -> BaseException | None:
        """Run one check with proxies; None on pass, else the failure.

        A check whose worker timed out or died runs once more, in a fresh worker,
        before that is final (a busy machine may have caused it): a second time-out
        is a ``VerdictTimeout`` (the cell's status is "timed out"), a second crash
        fails the check as before."""
        error = self._run_check_once(worker, check, arg_names)
        first = worker_failure(error)
        if first is None:
            return AssertionError(str(error)) if isinstance(error, remote.WorkerFailure) else error
        self.log.warning(
            "Check %s: %s: %s; running it once more in a fresh worker",
            getattr(check, "__name__", check),
            type(first).__name__,
            first,
        )
        worker.kill()  # already done by the worker on a failure; the next call starts one
        error = self._run_check_once(worker, check, arg_names)
        again = worker_failure(error)
        if isinstance(again, remote.WorkerTimeout):
            return VerdictTimeout(VERDICT_TIMEOUT_TEXT.format(str(error).rstrip(".")))
        if isinstance(error, remote.WorkerFailure):
            return AssertionError(str(error))
        return error

    def _run_check_once(
        self, worker: remote.StudentWorker, check: Check, arg_names: list[str]
    ) -> BaseException | None:
        proxies = {name: worker.function(name) for name in arg_names}
        # The checks seed their own generators; a fixed global state keeps any
        # remaining randomness of the grader deterministic too.
        np.random.seed(0)
        random.seed(0)
        with warnings.catch_warnings(record=True), np.errstate(all="warn"):
            warnings.simplefilter("always")
            try:
                with worker.time_budget(self.check_timeout):
                    check(**proxies)
            except AssertionError as exc:
                return exc
            except remote.WorkerFailure as exc:
                return exc
            except Exception as exc:  # a defect of the check itself: never a pass
                self.log.error(
                    "Check %s raised %s: %s",
                    getattr(check, "__name__", check),
                    type(exc).__name__,
                    exc,
                )
                return AssertionError(CHECK_BUG_TEXT.format(type(exc).__name__))
        return None


__all__ = [
    "Assignment",
    "TrustedVerdict",
    "load_assignment",
    "top_level_definitions",
    "verdict_outputs",
    "VerdictTimeout",
    "worker_failure",
    "PASS_TEXT",
]
