"""Run nbgrader in-process on a temporary copy of the course.

Small shared API for tests (each nbgrader CLI call costs seconds of start-up):

    course = copy_course(tmp_path)                  # nbgrader_config.py + source/ + release/
    result = generate_assignment(course)            # like `nbgrader generate_assignment one_neuron --force`
    problems = validate(course / SOURCE_NOTEBOOK.relative_to(ROOT), course)  # like `nbgrader validate`
    api = nbgrader_api(course)                      # NbGraderAPI for anything else (autograde, ...)

Everything runs with the course's own ``nbgrader_config.py`` and with the
virtualenv's ``bin`` on PATH (nbgrader runs ``alembic`` from PATH).
"""

import os
import shutil
import sys
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.validator import Validator
from traitlets.config.loader import PyFileConfigLoader

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "one_neuron"
SOURCE_NOTEBOOK = ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASE_NOTEBOOK = ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def _venv_on_path():
    """Put the running interpreter's bin directory first on PATH (for alembic)."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def copy_course(dest):
    """Copy the course (config, source/, release/ of the assignment) into dest; returns dest."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    for step in ("source", "release"):
        if (ROOT / step / ASSIGNMENT).is_dir():
            shutil.copytree(ROOT / step / ASSIGNMENT, dest / step / ASSIGNMENT)
    return dest


def course_config(course_dir):
    """The traitlets Config of the course in course_dir, rooted there."""
    course_dir = Path(course_dir).resolve()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    config.CourseDirectory.root = str(course_dir)
    return config


def nbgrader_api(course_dir):
    """NbGraderAPI bound to the course in course_dir (its gradebook lives there too)."""
    _venv_on_path()
    config = course_config(course_dir)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def generate_assignment(course_dir):
    """Regenerate release/ from source/ in course_dir; raises AssertionError on failure."""
    result = nbgrader_api(course_dir).generate_assignment(ASSIGNMENT, force=True, create=True)
    assert result["success"], result.get("error", "") + result.get("log", "")
    return result


def validate(notebook, course_dir=ROOT, invert=False):
    """`nbgrader validate [--invert]` of one notebook with the course's config.

    Returns nbgrader's result dict: empty when the notebook validates; otherwise
    keys "failed" (normal mode: graded cells that fail), "passed" (invert mode:
    graded cells that pass), "changed" / "type_changed" (checksums or cell types
    differ from the release metadata); each value a list of dicts with "source"
    (and "raw_error" for failures).
    """
    _venv_on_path()
    config = course_config(course_dir)
    config.Validator.invert = invert
    return Validator(config=config).validate(str(notebook))


def code_notebook(*sources: str):
    """A python3 notebook whose code cells are the given (dedented) sources."""
    import textwrap

    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(textwrap.dedent(s)) for s in sources])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def stream_text(cell) -> str:
    """Everything a code cell printed (its stream outputs joined)."""
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")
