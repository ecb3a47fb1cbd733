"""Lateness from a source the student does not control (issue 13, item 6).

Before: the class command took lateness from timestamp.txt, which the student can
write: a late student claiming an on-time timestamp.txt was graded "graded" (on time).
After: the LMS export's entry time (kept by safe_zip) or the exchange's receipt
(ctime of the inbound folder) decides; the forged file is flagged in the detail; the
honest student stays on time with 10/10."""

import datetime
import zipfile

import nbformat
import pytest
from nbgrader_helpers import ASSIGNMENT, copy_course, generate_assignment

import autograder.classgrade as gc
from autograder.assignment import contract
from autograder.classgrade import collect, lateness
from fixtures import samples

NB = f"{ASSIGNMENT}.ipynb"
FULL = sum(contract.POINTS.values())
DUE = "2026-11-30 12:00:00 UTC"
FORGED = b"2026-11-29 09:00:00.000000 UTC"  # a day before the due date
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def test_exchange_receipt_flags_a_forged_timestamp(tmp_path):
    inbound = tmp_path / "exchange" / "one-neuron" / "inbound"
    (inbound / f"s1+{ASSIGNMENT}+2020-01-01 00:00:00.000000 UTC+abc").mkdir(parents=True)
    folder = tmp_path / "submitted" / "s1" / ASSIGNMENT
    folder.mkdir(parents=True)
    files = {NB: b"{}", "timestamp.txt": b"2020-01-01 00:00:00.000000 UTC"}
    late = lateness.judge(tmp_path, ASSIGNMENT, "s1", folder, files, [ASSIGNMENT], inbound)
    assert late.source == "exchange receipt"
    # the receipt is the folder's ctime (now), not the time its name claims
    assert abs(late.time - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)) < (
        datetime.timedelta(hours=1)
    )
    assert "forged" in late.note and "exchange receipt" in late.note
    assert late.apply(files)["timestamp.txt"].startswith(late.time.strftime("%Y-%m-%d").encode())
    assert files["timestamp.txt"] == b"2020-01-01 00:00:00.000000 UTC"  # input left alone


def test_without_a_trusted_source_nothing_changes(tmp_path):
    folder = tmp_path / "submitted" / "s1" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / NB).write_bytes(b"{}")
    files = {NB: b"{}", "timestamp.txt": FORGED}
    late = lateness.judge(tmp_path, ASSIGNMENT, "s1", folder, files, [ASSIGNMENT])
    assert (late.time, late.note, late.apply(files)) == (None, "", files)
    # the collector's arrival time counts only when the instructor says it is one
    arrived = lateness.judge(
        tmp_path, ASSIGNMENT, "s1", folder, files, [ASSIGNMENT], trust_arrival=True
    )
    assert arrived.source == "file arrival" and "forged" in arrived.note


def _export(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, when in entries:
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


@pytest.mark.slow
def test_lms_time_decides_and_a_forged_timestamp_is_flagged(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("hostile_lateness"))
    generate_assignment(course)
    perfect = nbformat.writes(samples.perfect(samples.read_release())).encode()
    export = _export(
        tmp_path_factory.mktemp("zip") / "moodle.zip",
        [
            ("Ann Lee_u01_assignsubmission_file_/" + NB, perfect, (2026, 11, 30, 10, 0, 0)),
            ("Bob Ray_u02_assignsubmission_file_/" + NB, perfect, (2026, 12, 1, 18, 0, 0)),
        ],
    )
    collect.collect_zip(course, ASSIGNMENT, export, collect.LMS_REGEXPS["moodle"])
    # u02's folder now claims to be on time (a timestamp.txt the student wrote)
    (course / "submitted" / "u02" / ASSIGNMENT / "timestamp.txt").write_bytes(FORGED)
    code, results = gc.grade_class(
        ASSIGNMENT,
        course_dir=course,
        duedate=DUE,
        workers=2,
        timeout=300,
        report=False,
        log=lambda *a: None,
    )
    by_id = {r.student_id: r for r in results}
    assert by_id["u01"].status == gc.GRADED and by_id["u01"].score == FULL
    assert "forged" not in by_id["u01"].detail
    assert by_id["u02"].status == gc.LATE, by_id["u02"]
    assert by_id["u02"].seconds_late == pytest.approx(30 * 3600)
    assert "timestamp.txt forged?" in by_id["u02"].detail and "LMS export" in by_id["u02"].detail
    # submitted/ is never modified by grading
    assert (course / "submitted" / "u02" / ASSIGNMENT / "timestamp.txt").read_bytes() == FORGED
