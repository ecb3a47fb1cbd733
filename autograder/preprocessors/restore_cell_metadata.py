"""Sanitize step: every cell's nbgrader flags and points come from the gradebook.

``RestoreCellMetadata`` runs in ``c.Autograde.sanitize_preprocessors`` before nbgrader's
``OverwriteCells``: a cell whose ``grade_id`` is unknown or repeated loses its nbgrader
metadata, a known one gets the gradebook's ``grade``/``solution``/``locked``/``points``.
So added, duplicated or re-labelled cells cannot be scored and no cell can be worth more
than the gradebook says. Graded cells the student deleted are put back.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor


def gradebook_cells(resources: dict) -> tuple[dict[str, float], dict[str, dict], set[str]]:
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

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
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

    def restore_missing_graded_cells(
        self, nb: NotebookNode, graded: dict, sources: dict, present: set[str]
    ) -> None:
        """Insert graded cells absent from nb (from the gradebook), after their master predecessor."""
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
                indices = [i for i, c in enumerate(nb.cells) if grade_id_of(c) == earlier]
                if indices:
                    position = indices[0] + 1
                    break
            nb.cells.insert(position, cell)
            present.add(name)


def grade_id_of(cell: NotebookNode) -> str | None:
    """The cell's nbgrader grade_id, or None."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


__all__ = ["RestoreCellMetadata", "gradebook_cells", "grade_id_of"]
