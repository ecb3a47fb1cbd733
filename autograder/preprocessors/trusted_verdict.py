"""Trusted verdicts: graded test cells are scored outside the student's kernel.

Under ``nbgrader autograde`` the student's notebook still runs in its
(sandboxed) kernel, but nothing the kernel prints decides a grade:

* ``RestoreCellMetadata`` (sanitize step, before ``OverwriteCells``) resets the
  nbgrader flags of every cell to the gradebook's: a cell whose ``grade_id`` is
  unknown or repeated loses its nbgrader metadata, a known one gets the
  gradebook's ``grade``/``solution``/``locked``/``points``. So added,
  duplicated or re-labelled cells cannot be scored and no cell can be worth
  more than the gradebook says.
* ``SandboxedExecute`` (``autograder.preprocessors.sandboxed_execute``) runs the kernel in the
  sandbox; a dead or unresponsive kernel does not abort grading.
* ``TrustedVerdict`` (right after the kernel) takes the source of the four
  answer cells (by ``grade_id``, nothing else of the notebook), loads it into a
  fresh sandboxed worker (``autograder.sandbox.remote``), runs the check of every
  graded test cell from ``autograder.assignment.checks.CHECKS`` in the grader's own
  process with proxies of the student's functions (``test_backprop`` last, see
  ``sandbox_worker``), restores the cell's source from the gradebook and
  REPLACES its outputs: pass -> one stdout line, fail -> one ``error`` output
  whose value is the check's message. ``SaveAutoGrades`` then scores the cell
  from these outputs (an error output -> 0, otherwise full points).
"""

from __future__ import annotations

import random
import time
import warnings

import numpy as np
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Integer, List

from autograder.assignment.contract import ANSWER_IDS
from autograder.sandbox import remote

#: Checks that must run after all others (they need the reference activation).
RUN_LAST = ("test_backprop",)
PASS_TEXT = "Скрытые проверки пройдены.\n"
NO_CHECK_TEXT = "Для этой ячейки нет проверки: она не может принести баллы автоматически."
CHECK_BUG_TEXT = "Внутренняя ошибка проверки ({}); сообщите преподавателю."


def _checks():
    from autograder.assignment.checks import (
        CHECKS,  # imported lazily: heavy and optional for sanitize
    )

    return CHECKS


def gradebook_cells(resources: dict):
    """(graded {grade_id: max_score}, sources {grade_id: SourceCell data}, solution ids)."""
    info = resources["nbgrader"]
    with Gradebook(info["db_url"]) as gb:
        notebook = gb.find_notebook(info["notebook"], info["assignment"])
        graded = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
        sources = {
            cell.name: {
                "cell_type": cell.cell_type,
                "source": cell.source,
                "locked": bool(cell.locked),
            }
            for cell in notebook.source_cells
        }
        solutions = {cell.name for cell in notebook.solution_cells}
    return graded, sources, solutions


class RestoreCellMetadata(NbGraderPreprocessor):
    """Sanitize step: nbgrader flags of every cell as the gradebook has them.

    Also puts back graded cells the student deleted (from the gradebook, after
    the nearest earlier cell of the master that is still there), so the
    verdict grades them; nbgrader's own ``add_missing_cells`` fails when the
    cell before a deleted one is neither a grade nor a solution cell.
    """

    def preprocess(self, nb: NotebookNode, resources: dict):
        graded, sources, solutions = gradebook_cells(resources)
        seen: set[str] = set()
        # From the end, like nbgrader's DeduplicateIds: the last copy keeps its id.
        for cell in reversed(nb.cells):
            meta = cell.get("metadata", {}).get("nbgrader")
            if meta is None:
                continue
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if not isinstance(grade_id, str) or grade_id not in sources or grade_id in seen:
                self.log.warning(
                    "Dropping nbgrader metadata of a cell with grade_id %r (unknown or repeated)",
                    grade_id,
                )
                # removed, not emptied: OverwriteCells.add_missing_task_cells
                # fails on nbgrader metadata without a grade_id
                del cell.metadata["nbgrader"]
                continue
            seen.add(grade_id)
            is_grade = grade_id in graded
            flags = {
                "grade": is_grade,
                "solution": grade_id in solutions,
                "locked": sources[grade_id]["locked"] and grade_id not in solutions,
            }
            if is_grade:
                flags["points"] = graded[grade_id]
            for key, value in flags.items():
                if meta.get(key) != value:
                    self.log.warning(
                        "Cell %s: restoring %s=%r (was %r)", grade_id, key, value, meta.get(key)
                    )
                    meta[key] = value
            if not is_grade and "points" in meta:
                del meta["points"]
        self.restore_missing_graded_cells(nb, graded, sources, seen)
        return nb, resources

    def restore_missing_graded_cells(self, nb, graded, sources, present):
        order = list(sources)  # the master's order of its nbgrader cells
        for name in order:
            if name not in graded or name in present or sources[name]["cell_type"] != "code":
                continue
            self.log.warning("Graded cell %s is missing: restored from the gradebook", name)
            cell = new_code_cell(sources[name]["source"])
            cell.metadata["nbgrader"] = {
                "grade": True,
                "grade_id": name,
                "locked": True,
                "points": graded[name],
                "solution": False,
                "schema_version": 3,
            }
            position = 0
            for earlier in reversed(order[: order.index(name)]):
                indices = [i for i, c in enumerate(nb.cells) if _grade_id(c) == earlier]
                if indices:
                    position = indices[0] + 1
                    break
            nb.cells.insert(position, cell)
            present.add(name)


def _grade_id(cell):
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def verdict_outputs(error: BaseException | None) -> list:
    """Outputs of a graded cell: one stdout line, or one error with the message."""
    if error is None:
        return [new_output("stream", name="stdout", text=PASS_TEXT)]
    ename = type(error).__name__ if isinstance(error, AssertionError) else "AssertionError"
    message = (
        str(error) if isinstance(error, AssertionError) else (f"{type(error).__name__}: {error}")
    )
    return [new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])]


class TrustedVerdict(NbGraderPreprocessor):
    """Grade every graded test cell by running its check outside the kernel."""

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
    answer_ids = List(
        list(ANSWER_IDS), help="grade_ids of the answer cells loaded into the worker"
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict):
        graded, sources, _ = gradebook_cells(resources)
        checks = _checks()
        answers = self.answer_sources(nb)
        plan = []  # (order key, cell, grade_id)
        seen: set[str] = set()
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
            if grade_id not in checks:
                self.log.error("No check for graded cell %s: it scores 0", grade_id)
                cell.outputs = verdict_outputs(AssertionError(NO_CHECK_TEXT))
                continue
            plan.append(((grade_id in RUN_LAST, index), cell, grade_id))
        if not plan:
            return nb, resources
        plan.sort(key=lambda item: item[0])
        start = time.monotonic()
        worker = remote.StudentWorker(
            call_timeout=self.call_timeout,
            memory_bytes=self.memory_limit,
            unsafe=self.unsafe or None,
        )
        with worker:
            report = worker.load(answers)
            for item in report:
                if item["error"]:
                    self.log.info(
                        "Answer cell %s: %s: %s",
                        item["name"],
                        item["error"]["type"],
                        item["error"]["message"],
                    )
            for _, cell, grade_id in plan:
                check, arg_names = checks[grade_id]
                error = self.run_check(worker, check, arg_names)
                cell.outputs = verdict_outputs(error)
                self.log.info(
                    "Trusted verdict %s: %s", grade_id, "pass" if error is None else "fail"
                )
        self.log.info(
            "Trusted verdicts of %d cells in %.1f s (%d worker start(s))",
            len(plan),
            time.monotonic() - start,
            worker.spawns,
        )
        return nb, resources

    def answer_sources(self, nb: NotebookNode) -> list[tuple[str, str]]:
        """(grade_id, source) of the answer cells, in notebook order, IPython syntax removed."""
        from IPython.core.inputtransformer2 import TransformerManager

        transformer = TransformerManager()
        answers = []
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if (
                cell.cell_type == "code"
                and meta.get("solution")
                and meta.get("grade_id") in self.answer_ids
            ):
                source = cell.source
                try:
                    source = transformer.transform_cell(source)
                except (SyntaxError, ValueError, IndexError) as exc:
                    self.log.info("IPython transform of %s failed: %s", meta["grade_id"], exc)
                answers.append((meta["grade_id"], source))
        return answers

    def run_check(self, worker: remote.StudentWorker, check, arg_names) -> BaseException | None:
        """Run one check with proxies; None on pass, else the failure."""
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
                return AssertionError(str(exc))
            except Exception as exc:  # a defect of the check itself: never a pass
                self.log.error(
                    "Check %s raised %s: %s",
                    getattr(check, "__name__", check),
                    type(exc).__name__,
                    exc,
                )
                return AssertionError(CHECK_BUG_TEXT.format(type(exc).__name__))
        return None


__all__ = ["TrustedVerdict", "RestoreCellMetadata", "verdict_outputs", "ANSWER_IDS", "PASS_TEXT"]
