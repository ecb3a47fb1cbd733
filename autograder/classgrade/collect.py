"""Collection: the roster (nbgrader's ``db student import``), an LMS export
(nbgrader's ``zip_collect``) and a submission folder read as plain data."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from autograder.classgrade.app import run_nbgrader_app
from autograder.classgrade.results import GradeClassError

# File names as LMS exports write them, for nbgrader's FileNameCollectorPlugin.
# The expression is matched against the absolute path of each extracted file.
LMS_REGEXPS = {
    # Moodle "Download all submissions": one folder per participant
    # "Ivan Ivanov_1001_assignsubmission_file_/one_neuron.ipynb" (current) or a
    # flat file "Ivan Ivanov_1001_assignsubmission_file_one_neuron.ipynb" (old).
    # The student id is the participant id between the name and
    # "_assignsubmission_file_".
    "moodle": r".*/[^/]*_(?P<student_id>[^_/]+)_assignsubmission_file_/?(?P<file_id>[^/]+\.ipynb)$",
    # Canvas "Download submissions": "ivanovivan_1001_67890_one_neuron.ipynb"
    # (login_userid_submissionid_filename, "_late_" after the login when late,
    # "-1", "-2"... appended to the file name on resubmission).
    "canvas": r".*/[^/_]+_(?:late_|LATE_)?(?P<student_id>[^_/]+)_\d+_(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$",
}


def read_roster(path: Path) -> list[str]:
    """Student ids of a roster CSV in nbgrader's ``db student import`` format
    (column ``id`` required; ``first_name``, ``last_name``, ``email`` optional)."""
    import csv

    if not path.is_file():
        raise GradeClassError(f"{path}: roster file not found")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            if "id" not in fields:
                raise GradeClassError(
                    f"{path}: roster has no 'id' column (columns: {', '.join(fields) or 'none'})"
                )
            reader.fieldnames = fields
            ids = []
            for line, row in enumerate(reader, start=2):
                sid = (row.get("id") or "").strip()
                if not sid:
                    raise GradeClassError(f"{path}: line {line}: empty student id")
                if "/" in sid or sid.startswith("."):
                    raise GradeClassError(f"{path}: line {line}: invalid student id {sid!r}")
                if sid in ids:
                    raise GradeClassError(f"{path}: line {line}: duplicate student id {sid!r}")
                ids.append(sid)
    except UnicodeDecodeError as exc:
        raise GradeClassError(f"{path}: roster is not UTF-8 text ({exc.reason})") from exc
    return ids


def import_roster(course_dir: Path, path: Path) -> list[str]:
    """``nbgrader db student import <path>``, in-process, after our own checks."""
    from nbgrader.apps.dbapp import DbStudentImportApp

    ids = read_roster(path)
    run_nbgrader_app(DbStudentImportApp, course_dir, [str(path)])
    return ids


def collect_zip(
    course_dir: Path, assignment: str, zip_path: Path, regexp: str, roster: list[str] | None = None
):
    """Collect an LMS export into submitted/ (returns a ``safe_zip.ZipReport``).

    The archive is extracted by ``safe_zip.extract_export`` (hostile input: ids only
    from what the LMS writes, plain files, caps; refusals entry by entry), then
    nbgrader's zip_collect collects that tree (its own extraction is not used)."""
    import json
    import re
    import zipfile

    from nbgrader.apps.zipcollectapp import ZipCollectApp

    from autograder.classgrade.safe_zip import COLLECT_REGEXP, extract_export

    if not zip_path.is_file():
        raise GradeClassError(f"{zip_path}: zip file not found")
    if not zipfile.is_zipfile(zip_path):
        raise GradeClassError(f"{zip_path}: not a zip archive")
    try:
        compiled = re.compile(regexp)
    except re.error as exc:
        raise GradeClassError(f"invalid --regexp {regexp!r}: {exc}") from exc
    missing = {"student_id", "file_id"} - set(compiled.groupindex)
    if missing:
        raise GradeClassError(f"--regexp needs the named groups {sorted(missing)}")
    downloaded = course_dir / "downloaded" / assignment
    for step in ("archive", "extracted"):
        if (downloaded / step).exists():
            shutil.rmtree(downloaded / step)
    try:
        report = extract_export(zip_path, downloaded / "extracted", regexp, roster)
    except zipfile.BadZipFile as exc:
        raise GradeClassError(f"{zip_path}: unreadable zip archive ({exc})") from exc
    downloaded.mkdir(parents=True, exist_ok=True)
    (downloaded / "collect_report.json").write_text(
        json.dumps(dataclasses.asdict(report), indent=1, ensure_ascii=False)
    )
    if report.accepted:
        run_nbgrader_app(
            ZipCollectApp,
            course_dir,
            [
                "--force",
                f"--FileNameCollectorPlugin.named_regexp={COLLECT_REGEXP}",
                f"--CourseDirectory.assignment_id={assignment}",
            ],
        )
    return report


def read_folder(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` as ``{relative posix path: content}``.

    Called after the pre-check refused symlinks; one that appeared since is
    refused here too (nothing is read through a link)."""
    files = {}
    for root, dirs, names in os.walk(folder, followlinks=False):
        for name in sorted(dirs + names):
            path = Path(root) / name
            if path.is_symlink():
                raise GradeClassError(f"{path}: symlinks are not allowed in a submission")
            if path.is_file():
                files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files
