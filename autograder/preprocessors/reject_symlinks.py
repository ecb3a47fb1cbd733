"""Submissions containing symlinks are refused before anything is graded.

nbgrader reads and copies a submission as the grader and follows symlinks: a
notebook in ``submitted/<student>/<assignment>/`` that is a symlink to the
master (``source/...``) would be graded with the master's solutions, and an
extra file that is a symlink to ``gradebook.db`` or to ``source/...`` would be
copied into ``autograded/`` and then by ``generate_feedback`` into
``feedback/``. A student never needs a symlink, so a submission with any
symlink -- the student folder, the assignment folder, the notebook, or any file
or folder below -- is not graded at all.

* :func:`find_symlinks` lists them (never follows one).
* The class command (``autograder.classgrade.command``) checks every submission with
  it in the parent before grading: status "invalid notebook", detail naming
  the symlinks.
* :class:`RejectSymlinks` is the first sanitize preprocessor of plain
  ``nbgrader autograde`` (``c.Autograde.sanitize_preprocessors`` in
  ``nbgrader_config.py``): it raises :class:`SymlinkInSubmission`, nbgrader
  logs the failure for that student, removes ``autograded/<student>/<assignment>``
  and goes on with the others (the command then exits with an error). Nothing
  of the notebook is written; nbgrader's ``init_assignment`` has already copied
  the submission's extra files (following symlinks) into ``autograded/`` before
  any preprocessor runs, so the preprocessor deletes the copies of the symlinked
  ones itself before raising (nbgrader removes the rest with the folder when the
  whole assignment is graded, i.e. ``--notebook`` not given). No autograded
  notebook is left, so ``generate_feedback`` makes nothing for that student.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.converters.base import NbGraderException
from nbgrader.preprocessors import NbGraderPreprocessor


class SymlinkInSubmission(NbGraderException):
    """A submission folder contains a symlink: it is not graded."""


def find_symlinks(folder: str | os.PathLike, parents: int = 0) -> list[Path]:
    """Every symlink at or below ``folder`` (the folder itself and its first
    ``parents`` ancestors included), sorted; symlinks are never followed."""
    folder = Path(folder)
    found = []
    for ancestor in [folder, *list(folder.parents)[:parents]]:
        if ancestor.is_symlink():
            found.append(ancestor)
    if found or not folder.is_dir():
        return sorted(found)
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(root) / name
            if os.path.islink(path):
                found.append(path)
    return sorted(found)


def describe_symlinks(links: list[Path], base: Path | None = None) -> str:
    """``a.txt (symlink), sub/b (symlink)`` -- never the target (it may be secret)."""
    names = []
    for link in links:
        name = str(link)
        if base is not None:
            try:
                name = str(link.relative_to(base))
            except ValueError:
                pass
        names.append(f"{name} (symlink)")
    return ", ".join(names)


def _coursedir(configurable):
    """The CourseDirectory of the converter running this preprocessor."""
    node = configurable
    while node is not None:
        coursedir = getattr(node, "coursedir", None)
        if coursedir is not None:
            return coursedir
        node = getattr(node, "parent", None)
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(parent=configurable)


class RejectSymlinks(NbGraderPreprocessor):
    """Sanitize step: refuse a submission that contains any symlink."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        student, assignment = info["student"], info["assignment"]
        coursedir = _coursedir(self)
        submitted_root = Path(coursedir.format_path(coursedir.submitted_directory, ".", "."))
        folder = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
        links = find_symlinks(folder, parents=1)  # <student>/<assignment> and <student>
        if not links:
            return nb, resources
        self._remove_copies(coursedir, student, assignment, folder, links)
        message = (
            f"submission of student {student!r} for {assignment!r} not graded: it "
            f"contains {describe_symlinks(links, submitted_root)}; "
            "symlinks are not allowed in submissions"
        )
        self.log.error(message)
        raise SymlinkInSubmission(message)

    def _remove_copies(self, coursedir, student, assignment, folder, links):
        """Delete what nbgrader's init_assignment already copied from the links."""
        dest = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment))
        if dest.is_symlink() or not dest.is_dir():
            return
        for link in links:
            relative = link.relative_to(folder) if folder in link.parents else None
            if relative is None:  # the folder itself or the student folder is the link:
                # nbgrader copied the files of its target, all of dest comes from it
                self.log.warning("Removing %s (copied through a symlink)", dest)
                shutil.rmtree(dest)
                return
            copy = dest / relative
            if copy.is_file() and not copy.is_symlink():
                self.log.warning("Removing %s (copied from a symlink)", copy)
                copy.unlink()
