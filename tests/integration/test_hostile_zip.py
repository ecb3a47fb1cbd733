"""LMS exports as hostile input (issue 13, item 4): our own archives with forged,
impersonating, linked, set-uid, oversized, nested and absent-student entries beside
an honest student. Each bad entry is refused with its reason, the others are
collected, the files come out plain, and the honest student keeps 10/10.

Before: the forged name made zip_collect fail on a "duplicate" (nobody collected),
an absent student was graded, a set-uid entry came out 0o4755, a 200 MB file was
extracted whole, nested folders made phantom students."""

import json
import stat
import warnings
import zipfile

import nbformat
import pytest
from nbgrader_helpers import ASSIGNMENT, copy_course, generate_assignment

import autograder.classgrade as gc
from autograder.assignment import contract
from autograder.classgrade import collect
from autograder.classgrade.safe_zip import ZipLimits, extract_export
from fixtures import samples

NB = f"{ASSIGNMENT}.ipynb"
FULL = sum(contract.POINTS.values())
MOODLE = collect.LMS_REGEXPS["moodle"]
CANVAS = collect.LMS_REGEXPS["canvas"]
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def folder(name, sid):
    return f"{name}_{sid}_assignsubmission_file_/"


def _perfect():
    return nbformat.writes(samples.perfect(samples.read_release())).encode()


def _untouched():
    return nbformat.writes(samples.read_release()).encode()


def _entry(zf, name, data, mode=0o100644, date_time=(2026, 11, 30, 12, 0, 0)):
    info = zipfile.ZipInfo(name, date_time=date_time)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


ROSTER = ["u01", "u02", "u03", "u04", "u05", "u06"]


def hostile_export(path):
    """The honest u01 and one attack per other entry; returns path."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the duplicate name is the point
        with zipfile.ZipFile(path, "w") as zf:
            _entry(zf, folder("Ann Lee", "u01") + NB, _perfect())
            # u02 names a file as u01's (flat old-style Moodle name) inside his folder
            _entry(zf, folder("Bob Ray", "u02") + folder("Ann Lee", "u01")[:-1] + NB, _untouched())
            # u03: a set-uid, world-writable notebook
            _entry(zf, folder("Cid Fox", "u03") + NB, _untouched(), mode=0o106777)
            # u04: a symlink to the grader's files
            _entry(zf, folder("Dan Oak", "u04") + NB, b"/etc/shadow", mode=0o120777)
            # u05: a 21 MiB file (a few KB compressed)
            _entry(zf, folder("Eve Sun", "u05") + NB, b"0" * (21 * 1024 * 1024))
            # u06: a phantom student in a nested folder
            _entry(zf, folder("Fay Elm", "u06") + "x/" + folder("Ghost", "u99") + NB, _untouched())
            # a path out of the extraction folder
            _entry(zf, "../" + folder("Ann Lee", "u01") + NB, _untouched())
            # an absent student (not on the roster)
            _entry(zf, folder("Hal Ivy", "u77") + NB, _untouched())
            # the same entry twice for u03
            _entry(zf, folder("Cid Fox", "u03") + NB, _untouched())
    return path


def test_each_bad_entry_is_refused_and_the_rest_extracted_plain(tmp_path):
    report = extract_export(hostile_export(tmp_path / "m.zip"), tmp_path / "out", MOODLE, ROSTER)
    reasons = dict(report.refused)
    assert report.accepted == {"u01": [NB], "u03": [NB]}
    assert "forged" in reasons[folder("Bob Ray", "u02") + folder("Ann Lee", "u01")[:-1] + NB]
    assert "link or special file" in reasons[folder("Dan Oak", "u04") + NB]
    assert "size cap" in reasons[folder("Eve Sun", "u05") + NB]
    assert "forged" in reasons[folder("Fay Elm", "u06") + "x/" + folder("Ghost", "u99") + NB]
    assert "'..'" in reasons["../" + folder("Ann Lee", "u01") + NB]
    assert "not on the roster" in reasons[folder("Hal Ivy", "u77") + NB]
    assert any("a second" in reason for _, reason in report.refused)
    # refused students are named (the forger, the link, the big file, the absent one)
    assert set(report.refused_students) == {"u02", "u03", "u04", "u05", "u06", "u77"}
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file() or p.is_symlink()]
    assert len(files) == 2
    for path in files:
        assert not path.is_symlink()
        assert stat.S_IMODE(path.lstat().st_mode) == 0o644, path
    # nothing was written outside the extraction folder
    assert not (tmp_path / folder("Ann Lee", "u01")).exists()
    # the LMS's own time of the entry is the student's time
    assert report.times["u01"] == "2026-11-30 12:00:00"


def test_caps_on_count_and_total(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(6):
            _entry(zf, folder("S", f"s{i}") + NB, b"x" * 1000)
    report = extract_export(path, tmp_path / "out", MOODLE, limits=ZipLimits(2500, 2500, 4))
    assert sorted(report.accepted) == ["s0", "s1"]  # the total cap stops s2 and s3
    reasons = [reason for _, reason in report.refused]
    assert sum("size cap" in r for r in reasons) == 2
    assert sum("more than 4 entries" in r for r in reasons) == 2


def test_canvas_id_only_from_the_lms_prefix(tmp_path):
    path = tmp_path / "canvas.zip"
    with zipfile.ZipFile(path, "w") as zf:
        _entry(zf, "annlee_u01_111_one_neuron.ipynb", b"{}")
        # a folder in a flat Canvas export: the id would come from the inner name
        _entry(zf, "bobray_u02_222_x/annlee_u01_333_one_neuron.ipynb", b"{}")
    report = extract_export(path, tmp_path / "out", CANVAS)
    assert report.accepted == {"u01": [NB]}
    assert "forged" in dict(report.refused)["bobray_u02_222_x/annlee_u01_333_one_neuron.ipynb"]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("hostile_zip"))
    generate_assignment(course)
    return course


def test_zip_collect_gets_only_the_accepted_files(course, tmp_path):
    report = collect.collect_zip(
        course, ASSIGNMENT, hostile_export(tmp_path / "m.zip"), MOODLE, ROSTER
    )
    submitted = course / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["u01", "u03"]
    assert (submitted / "u01" / ASSIGNMENT / NB).read_bytes() == _perfect()
    mode = (submitted / "u03" / ASSIGNMENT / NB).stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH)
    # the LMS time reached nbgrader's timestamp.txt
    stamp = (submitted / "u01" / ASSIGNMENT / "timestamp.txt").read_text()
    assert stamp.startswith("2026-11-30 12:00:00")
    saved = json.loads((course / "downloaded" / ASSIGNMENT / "collect_report.json").read_text())
    assert saved["refused_students"] == report.refused_students


@pytest.mark.slow
def test_class_command_grades_the_honest_student_beside_the_attacks(course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id\n" + "\n".join(ROSTER) + "\n")
    code, results = gc.grade_class(
        ASSIGNMENT,
        course_dir=course,
        zip_path=hostile_export(tmp_path / "m.zip"),
        roster=roster,
        lms="moodle",
        workers=2,
        timeout=300,
        report=False,
        log=lambda *a: None,
    )
    by_id = {r.student_id: r for r in results}
    assert by_id["u01"].status == gc.GRADED and by_id["u01"].score == FULL
    assert "u99" not in by_id  # no phantom student
    assert by_id["u03"].score in (0, None)  # its untouched notebook; mode was dropped
    # the refused students on the roster have no submission: reported, never graded
    for sid, reason in [
        ("u02", "forged"),
        ("u04", "link or special file"),
        ("u05", "size cap"),
        ("u06", "forged"),
    ]:
        assert by_id[sid].status == gc.NOT_SUBMITTED and by_id[sid].score in (0, None), sid
        assert "refused in the LMS export" in by_id[sid].detail and reason in by_id[sid].detail
    # the absent student is named, not graded; the duplicate entry of u03 is noted
    assert by_id["u77"].status == gc.NOT_SUBMITTED and not by_id["u77"].on_roster
    assert "not on the roster" in by_id["u77"].detail
    assert "a second" in by_id["u03"].detail
    assert code == gc.EXIT_ATTENTION  # a student not on the roster needs the instructor
