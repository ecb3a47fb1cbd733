"""An LMS export read as hostile input, before nbgrader's ``zip_collect`` sees it.

nbgrader's own extraction keeps the archive's modes (a set-uid file came out 0o4755),
sizes and links, and its collector matches the LMS regexp against the whole path, so
a file name the student chose ("Petrov Petr_1002_assignsubmission_file_x.ipynb"
uploaded in Ivanov's folder) impersonates another student or collides with his file
(zip_collect then fails on a "duplicate" and nobody is collected).

``extract_export`` reads the archive with :mod:`zipfile` and writes, for every entry
it accepts, a plain file (mode 0644, the grader's owner, no link) at
``<dest>/<student id>/<LMS time>/<file name>``, which ``COLLECT_REGEXP`` maps back
unambiguously for ``zip_collect`` (the time becomes nbgrader's timestamp.txt). The
student id is taken only from the first component of the entry's path, the part the
LMS writes (Moodle: the folder ``Lastname Firstname_<id>_assignsubmission_file_``;
Canvas: the file-name prefix ``login_<id>_<submission>_``); an entry whose id comes
from anywhere else is refused. Every other problem (nested folders, links or special
files, absolute or ``..`` paths, encrypted or corrupt entries, a file over the size
cap, past the total or count cap, a student not on the roster, two entries for the
same file) refuses that entry only, with its reason in the returned report.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import stat
import zipfile
from pathlib import Path

MiB = 1024 * 1024

#: zip_collect's regexp for the tree ``extract_export`` writes.
COLLECT_REGEXP = (
    r".*/(?P<student_id>[^/]+)/(?P<timestamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/(?P<file_id>[^/]+)$"
)


@dataclasses.dataclass(frozen=True)
class ZipLimits:
    file_bytes: int = 20 * MiB  # one extracted file
    total_bytes: int = 200 * MiB  # the whole export
    entries: int = 5000  # entries read (the rest is refused)


@dataclasses.dataclass
class ZipReport:
    """What was collected and what was refused, entry by entry."""

    accepted: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # sid -> names
    times: dict[str, str] = dataclasses.field(default_factory=dict)  # sid -> latest LMS time
    refused: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (entry, reason)
    refused_students: dict[str, str] = dataclasses.field(default_factory=dict)  # sid -> reason

    def refuse(self, entry: str, reason: str, student: str | None = None) -> None:
        self.refused.append((entry, reason))
        if student is not None and student not in self.refused_students:
            self.refused_students[student] = f"{entry!r}: {reason}"


def _name_problem(parts: list[str]) -> str:
    for part in parts:
        if part in ("", ".", ".."):
            return "absolute path or '.'/'..' in the entry name"
        if "\\" in part or "\0" in part:
            return "backslash or NUL in the entry name"
    return ""


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes | None:
    """The entry's content, or None when it is larger than cap (never trusts file_size)."""
    chunks, size = [], 0
    with zf.open(info) as handle:
        while True:
            chunk = handle.read(min(MiB, cap + 1 - size))
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > cap:
                return None
            chunks.append(chunk)


def _write_plain(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o644)  # whatever the umask


def extract_export(
    zip_path: Path,
    dest: Path,
    regexp: str,
    roster: list[str] | None = None,
    limits: ZipLimits = ZipLimits(),
) -> ZipReport:
    """Extract the LMS export at zip_path below dest (see the module docstring).

    ``regexp``: the LMS's collector regexp (groups ``student_id`` and ``file_id``),
    matched against ``/<entry path>``; the id must lie in the entry's first component.
    ``roster``: when given, entries of any other student are refused."""
    compiled = re.compile(regexp)
    report = ZipReport()
    seen: dict[tuple[str, str], str] = {}
    total = 0
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
        for count, info in enumerate(infos):
            name = info.filename
            if count >= limits.entries:
                report.refuse(name, f"more than {limits.entries} entries in the export")
                continue
            if info.is_dir():
                continue
            parts = name.split("/")
            problem = _name_problem(parts)
            if problem:
                report.refuse(name, problem)
                continue
            match = compiled.match("/" + name)
            if match is None:
                report.refuse(name, "not a submission file of the LMS export (skipped)")
                continue
            sid = match.group("student_id")
            if match.start("student_id") > len(parts[0]):
                # the id came from a name the student chose (a file or folder inside)
                owner = compiled.match("/" + parts[0] + "/x.ipynb")
                report.refuse(
                    name,
                    f"file name forged to look like student {sid!r}'s submission",
                    owner.group("student_id") if owner else None,
                )
                continue
            # no type bits at all is a plain file (zipfile's writestr, Windows tools)
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind and kind != stat.S_IFREG:
                report.refuse(name, "a link or special file, not a regular file", sid)
                continue
            if len(parts) > 2:
                report.refuse(name, "nested folder in a submission", sid)
                continue
            if roster is not None and sid not in roster:
                report.refuse(name, f"student {sid!r} is not on the roster", sid)
                continue
            if info.flag_bits & 0x1:
                report.refuse(name, "encrypted entry", sid)
                continue
            file_name = os.path.splitext(match.group("file_id"))[0] + os.path.splitext(name)[1]
            key = (sid, file_name)
            if key in seen:
                report.refuse(
                    name, f"a second {file_name} for student {sid!r} ({seen[key]!r})", sid
                )
                continue
            seen[key] = name
            cap = min(limits.file_bytes, limits.total_bytes - total)
            try:
                data = _read_capped(zf, info, cap)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
                report.refuse(name, f"corrupt entry ({exc})", sid)
                continue
            if data is None:
                report.refuse(
                    name,
                    f"over the size cap ({limits.file_bytes // MiB} MiB a file, "
                    f"{limits.total_bytes // MiB} MiB in all)",
                    sid,
                )
                continue
            total += len(data)
            when = datetime.datetime(*info.date_time).strftime("%Y-%m-%d %H:%M:%S")
            report.times[sid] = max(report.times.get(sid, when), when)
            _write_plain(dest / sid / "pending" / file_name, data)
            report.accepted.setdefault(sid, []).append(file_name)
    # One time folder per student (the latest LMS time of their files).
    for sid in report.accepted:
        (dest / sid / "pending").rename(dest / sid / report.times[sid])
    return report


__all__ = ["COLLECT_REGEXP", "ZipLimits", "ZipReport", "extract_export"]
