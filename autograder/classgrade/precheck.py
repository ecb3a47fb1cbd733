"""Checks of a submission folder before grading (in the coordinator, read-only):
what makes a submission ungradable (status and detail) and the oddities that
grading copes with but the instructor may want to know about."""

from __future__ import annotations

import json
from pathlib import Path

from autograder.classgrade.results import INVALID, MISSING


def check_submission(folder: Path, notebook_names: list[str]) -> tuple[str | None, str]:
    """Return (status, detail) for a bad submission, (None, notes) for a gradable one.

    Any symlink (the student or assignment folder, the notebook, any file or
    folder below) makes the submission invalid: nbgrader would follow it as the
    grader (e.g. to the master notebook or the gradebook). Nothing is read
    through a symlink here."""
    from autograder.preprocessors.reject_symlinks import describe_symlinks, find_symlinks

    links = find_symlinks(folder, parents=1)
    if links:
        return INVALID, (
            f"{folder}: symlinks are not allowed in a submission: "
            f"{describe_symlinks(links, folder.parent.parent)}"
        )
    if not folder.is_dir():
        return MISSING, f"{folder}: no submission folder"
    # A FIFO would block the grader that opens it; nothing here is opened.
    from autograder.classgrade.special_files import find_special_files, read_regular

    special = find_special_files(folder)
    if special:
        names = ", ".join(str(p.relative_to(folder)) for p in special)
        return INVALID, f"{folder}: FIFOs, sockets and devices are not allowed: {names}"
    problems, notes = [], []
    for name in notebook_names:
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            others = sorted(p.name for p in folder.glob("*.ipynb"))
            hint = f" (renamed? found: {', '.join(others)})" if others else ""
            return MISSING, f"{path}: notebook {name}.ipynb not found{hint}"
        problem = notebook_problem(path)
        if problem:
            problems.append(f"{path}: {problem}")
        else:
            notes += [f"{path.name}: {note}" for note in notebook_notes(path)]
    if problems:
        return INVALID, "; ".join(problems)
    stamp = folder / "timestamp.txt"
    if stamp.exists():
        from nbgrader.utils import parse_utc

        try:
            text = read_regular(stamp, 200).decode(errors="replace").strip()
        except OSError as exc:
            return INVALID, f"{stamp}: unreadable timestamp ({exc.strerror or exc})"
        if text:
            try:
                parse_utc(text)
            except ValueError:
                return INVALID, f"{stamp}: invalid timestamp {text[:40]!r}"
    return None, "; ".join(notes)


def notebook_problem(path: Path) -> str:
    """Why nbgrader cannot grade this notebook file, or "" if it can."""
    raw = path.read_bytes()
    if not raw.strip():
        return "empty file"
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    except json.JSONDecodeError as exc:
        return f"invalid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return "not a notebook (no list of cells)"
    version = nb.get("nbformat")
    if not isinstance(version, int) or version < 4:
        return f"old notebook format (nbformat {version!r}, need 4)"
    for index, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict):
            return f"cell {index} is not an object"
    # The same rule as the course's first sanitize step under plain autograde.
    from autograder.preprocessors.check_nbgrader_metadata import notebook_metadata_problem

    return notebook_metadata_problem(nb)


def notebook_notes(path: Path) -> list[str]:
    """Oddities that grading copes with but the instructor may want to know about.

    Duplicate cell ids are renumbered by nbgrader's DeduplicateIds; a repeated
    grade_id (a copied test or answer cell) is dropped by RestoreCellMetadata, the
    original is graded. Neither stops the submission from being graded. Call only
    on a notebook without a notebook_problem."""
    nb = json.loads(path.read_bytes().decode("utf-8"))
    notes, ids, grade_ids = [], set(), set()
    for index, cell in enumerate(nb["cells"]):
        cell_id = cell.get("id")
        if cell_id is not None:
            if cell_id in ids:
                notes.append(f"duplicate cell id {cell_id!r} (cell {index}; renumbered)")
            ids.add(cell_id)
        meta = cell.get("metadata", {})
        nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
        if isinstance(nbg, dict) and nbg.get("grade_id") is not None:
            gid = nbg["grade_id"]
            if gid in grade_ids:
                notes.append(f"duplicate grade_id {gid!r} (cell {index}; the copy is not graded)")
            grade_ids.add(gid)
    return notes
