"""nbgrader configuration of the course (the repository root is the course directory)."""

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from autograder.preprocessors.check_nbgrader_metadata import CheckNbgraderMetadata
from autograder.preprocessors.feedback_readable import ReadableFeedback
from autograder.preprocessors.reject_symlinks import RejectSymlinks
from autograder.preprocessors.restore_cell_metadata import RestoreCellMetadata
from autograder.preprocessors.sandboxed_execute import SandboxedExecute
from autograder.preprocessors.sanitize_outputs import SanitizeOutputs
from autograder.preprocessors.strip_hidden_tests import StripHiddenTests
from autograder.preprocessors.trusted_verdict import TrustedVerdict

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "one-neuron"
# Only the notebook is released; nothing else of source/ may reach students.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
c.ClearSolutions.code_stub = {
    "python": '# ВАШ КОД ЗДЕСЬ\nraise NotImplementedError("Функция ещё не написана: замените эту строку своим кодом.")'
}
c.ClearSolutions.text_stub = "ВАШ ОТВЕТ ЗДЕСЬ"

# --- autograde: trusted verdicts (docs/design.md, "Trusted verdicts") ---
# Sanitize: nbgrader flags of every cell come from the gradebook first, so added,
# duplicated or re-labelled cells are never scored; deleted test cells come back
# (RestoreCellMetadata does it: nbgrader's add_missing_cells fails on this notebook).
# First of all, a submission with any symlink is refused (RejectSymlinks): nbgrader
# follows them as the grader (the master notebook, gradebook.db...).
c.Autograde.sanitize_preprocessors = [
    CheckNbgraderMetadata,  # metadata nbgrader cannot take: this submission only is refused
    RejectSymlinks,
    RestoreCellMetadata,
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
]
# The kernel runs the notebook in the sandbox without the hidden tests (and
# survives a dead kernel); TrustedVerdict then replaces the outputs of every
# graded test cell with the verdict of its check, computed in this process with
# the student's functions in a sandboxed worker. `nbgrader validate` is not
# affected: it keeps nbgrader's Execute and runs the hidden tests in-kernel.
c.Autograde.autograde_preprocessors = [
    StripHiddenTests,
    SandboxedExecute,
    TrustedVerdict,
    SanitizeOutputs,  # no active content in the notebook the formgrader shows
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
# The assignment's contract and checks (the grading engine names nothing of it).
c.TrustedVerdict.assignment = "autograder.assignment"
c.TrustedVerdict.call_timeout = 10.0  # seconds per call of a student function
c.TrustedVerdict.check_timeout = 60.0  # seconds for all calls of one check
c.TrustedVerdict.memory_limit = 1024 * 1024 * 1024  # bytes of address space of the worker

# --- feedback: check messages yes, hidden test source no ---
# ReadableFeedback last: wrapping CSS and formulas as images (offline).
c.GenerateFeedback.preprocessors = [
    GetGrades,
    StripHiddenTests,
    SanitizeOutputs,  # no active content in the feedback HTML
    CSSHTMLHeaderPreprocessor,
    ReadableFeedback,
]
