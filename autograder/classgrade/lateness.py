"""Submission time from a source the student does not control.

nbgrader takes lateness from ``timestamp.txt`` in the submission folder. The student
can write that file: ``nbgrader submit`` writes it on the student's side (and names
the exchange folder after it), and a folder handed in by any other route may carry
one. ``judge`` finds the time from the first trusted source there is:

1. ``LMS export``: the time the LMS stored with the student's entry in the export
   (``safe_zip`` keeps it in ``downloaded/<assignment>/collect_report.json``);
2. ``exchange receipt``: the change time (ctime) of the student's newest folder in
   the exchange's inbound directory. The kernel sets a ctime; no user can move it
   back (``utime`` sets only mtime/atime), so a late submission never looks early;
3. ``file arrival`` (only with ``trust_arrival``: when the collector that filled
   ``submitted/`` stamps each file with its arrival, e.g. a drop box synced as it
   receives): the modification time of the notebook there.

Without any of them (folders copied in by hand) the student's own timestamp.txt is
all there is and nothing is changed.

The grading task gets ``timestamp.txt`` rewritten with that time (``apply``; the
folder in ``submitted/`` is never modified). A ``timestamp.txt`` that claims a time
earlier than the trusted one by more than ``TOLERANCE`` is flagged as forged in the
student's detail (the run's summary).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path

#: Clock differences up to this much between the student's machine and the source are no forgery.
TOLERANCE = datetime.timedelta(minutes=5)
STAMP = "timestamp.txt"


@dataclasses.dataclass(frozen=True)
class Lateness:
    time: datetime.datetime | None  # naive UTC, None when no trusted source exists
    source: str  # "LMS export", "exchange receipt", "file arrival" or ""
    note: str = ""  # a flag for the summary ("" when nothing is odd)

    def apply(self, files: dict[str, bytes]) -> dict[str, bytes]:
        """The task's files with timestamp.txt holding the trusted time (when known)."""
        if self.time is None:
            return files
        stamped = dict(files)
        stamped[STAMP] = (self.time.strftime("%Y-%m-%d %H:%M:%S.%f") + " UTC").encode()
        return stamped


def _utc(stamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(stamp, datetime.UTC).replace(tzinfo=None)


def lms_time(course_dir: Path, assignment: str, student: str) -> datetime.datetime | None:
    """The LMS's time of the student's entries in the last collected export (UTC)."""
    report = course_dir / "downloaded" / assignment / "collect_report.json"
    try:
        text = json.loads(report.read_text()).get("times", {}).get(student)
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S") if text else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def receipt_time(inbound: Path | None, student: str, assignment: str) -> datetime.datetime | None:
    """ctime of the student's newest exchange submission folder (None without one)."""
    if inbound is None or not inbound.is_dir():
        return None
    prefix = f"{student}+{assignment}+"
    times = []
    for entry in os.scandir(inbound):
        if entry.name.startswith(prefix) and entry.is_dir(follow_symlinks=False):
            times.append(entry.stat(follow_symlinks=False).st_ctime)
    return _utc(max(times)) if times else None


def arrival_time(folder: Path, notebook_names: list[str]) -> datetime.datetime | None:
    """Latest mtime of the submitted notebooks as the collector left them."""
    times = []
    for name in notebook_names:
        path = folder / f"{name}.ipynb"
        if path.is_file() and not path.is_symlink():
            times.append(path.lstat().st_mtime)
    return _utc(max(times)) if times else None


def claimed_time(files: dict[str, bytes]) -> datetime.datetime | None:
    """The time the submission's own timestamp.txt claims (naive UTC), if it parses."""
    from nbgrader.utils import parse_utc

    raw = files.get(STAMP)
    if not raw:
        return None
    try:
        return parse_utc(raw.decode("utf-8", "replace").strip())
    except (ValueError, OverflowError):
        return None


def judge(
    course_dir: Path,
    assignment: str,
    student: str,
    folder: Path,
    files: dict[str, bytes],
    notebook_names: list[str],
    inbound: Path | None = None,
    trust_arrival: bool = False,
) -> Lateness:
    """The trusted submission time of one student and a flag for a forged timestamp.txt."""
    sources = [
        ("LMS export", lms_time(course_dir, assignment, student)),
        ("exchange receipt", receipt_time(inbound, student, assignment)),
        ("file arrival", arrival_time(folder, notebook_names) if trust_arrival else None),
    ]
    source, time = next(((s, t) for s, t in sources if t is not None), ("", None))
    if time is None:
        return Lateness(None, "")
    claimed = claimed_time(files)
    note = ""
    if claimed is not None and claimed < time - TOLERANCE:
        note = (
            f"timestamp.txt forged? it says {claimed:%Y-%m-%d %H:%M:%S} UTC, the {source} "
            f"says {time:%Y-%m-%d %H:%M:%S} UTC; lateness from the {source}"
        )
    return Lateness(time, source, note)


def exchange_inbound(app) -> Path | None:
    """The exchange's inbound directory of the course configured in app (may not exist)."""
    from nbgrader.exchange.default.exchange import Exchange

    root = Exchange(config=app.config).root
    course_id = app.coursedir.course_id
    return Path(root) / course_id / "inbound" if root and course_id else None


__all__ = ["TOLERANCE", "Lateness", "exchange_inbound", "judge"]
