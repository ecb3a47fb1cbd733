"""Statuses of a student in a class run, the per-student result and the
"needs the instructor" rule (shared by the run, the CLI and the report)."""

from __future__ import annotations

import dataclasses

GRADED = "graded"
LATE = "late"  # graded, submitted after the due date
TIMED_OUT = "timed out"
KERNEL_DIED = "kernel died"
INVALID = "invalid notebook"
MISSING = "missing notebook"
NOT_SUBMITTED = "not submitted"  # on the roster or in the gradebook, no submission folder
ERROR = "grading error"
STATUSES = (GRADED, LATE, TIMED_OUT, KERNEL_DIED, INVALID, MISSING, NOT_SUBMITTED, ERROR)
NEEDS_INSTRUCTOR = frozenset({TIMED_OUT, KERNEL_DIED, INVALID, MISSING, ERROR})

EXIT_OK, EXIT_ATTENTION, EXIT_USAGE = 0, 1, 2


class GradeClassError(Exception):
    """A set-up problem that stops the run (bad roster, zip, config...)."""


@dataclasses.dataclass
class StudentResult:
    student_id: str
    status: str
    detail: str = ""
    score: float | None = None
    max_score: float | None = None
    cells: dict = dataclasses.field(default_factory=dict)  # grade_id -> [score, max]
    seconds: float | None = None  # wall time of the grading task
    timing: dict = dataclasses.field(default_factory=dict)  # phase -> seconds
    seconds_late: float = 0.0
    timestamp: str | None = None
    on_roster: bool = True

    @property
    def needs_instructor(self) -> bool:
        return self.status in NEEDS_INSTRUCTOR or "feedback failed" in self.detail

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> StudentResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
