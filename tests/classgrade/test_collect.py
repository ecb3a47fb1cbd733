"""Tests of collection (autograder.classgrade.collect): LMS file names, roster
checks, zip collection through the class command, a submission read as data."""

import os
import zipfile

import pytest
from classgrade.fixture_course import GOOD, by_id, notebook_bytes, run

import autograder.classgrade as gc
from autograder.classgrade import collect


@pytest.mark.parametrize(
    "lms, path, student, file_id",
    [
        (
            "moodle",
            "/x/extracted/a/Ivan Ivanov_s01_assignsubmission_file_/one_neuron.ipynb",
            "s01",
            "one_neuron.ipynb",
        ),
        (
            "moodle",
            "/x/extracted/a/Anna Maria Petrova_1002_assignsubmission_file_one_neuron.ipynb",
            "1002",
            "one_neuron.ipynb",
        ),
        ("canvas", "/x/extracted/a/ivanovivan_s01_67890_one_neuron.ipynb", "s01", "one_neuron"),
        (
            "canvas",
            "/x/extracted/a/ivanovivan_late_1003_67890_one_neuron-2.ipynb",
            "1003",
            "one_neuron",
        ),
    ],
)
def test_lms_regexps_extract_student_and_file(lms, path, student, file_id):
    from nbgrader.plugins import FileNameCollectorPlugin

    info = FileNameCollectorPlugin(named_regexp=collect.LMS_REGEXPS[lms]).collect(path)
    assert (info["student_id"], info["file_id"]) == (student, file_id)


@pytest.mark.parametrize(
    "content, message",
    [
        ("name,email\nann,a@x\n", "no 'id' column"),
        ("id,first_name\ns1,Ann\ns1,Bob\n", "duplicate student id 's1'"),
        ("id,first_name\n,Ann\n", "empty student id"),
    ],
)
def test_bad_roster_is_refused_with_file_and_problem(tmp_path, content, message):
    path = tmp_path / "roster.csv"
    path.write_text(content)
    with pytest.raises(gc.GradeClassError, match=message) as info:
        collect.read_roster(path)
    assert str(path) in str(info.value)


def _moodle_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def test_zip_collection_with_moodle_names(course, tmp_path):
    release = (course / "release/one_neuron/one_neuron.ipynb").read_bytes()
    export = tmp_path / "moodle.zip"
    _moodle_zip(
        export,
        {
            "Ann Lee_u01_assignsubmission_file_/one_neuron.ipynb": notebook_bytes(course, GOOD),
            "Bob Ray_u02_assignsubmission_file_one_neuron.ipynb": release,
            "Cid Fox_u03_assignsubmission_file_/my_copy.ipynb": release,
        },
    )
    code, results = run(course, zip_path=export, lms="moodle")
    res = by_id(results)
    assert {s: r.status for s, r in res.items()} == {
        "u01": gc.GRADED,
        "u02": gc.GRADED,
        "u03": gc.MISSING,
    }
    assert (res["u01"].score, res["u02"].score) == (3.0, 0.0)
    assert "my_copy.ipynb" in res["u03"].detail
    assert code == gc.EXIT_ATTENTION


def test_read_folder_gives_every_file_and_refuses_a_symlink(tmp_path):
    """Is a submission read as {relative path: bytes}, never through a link?"""
    folder = tmp_path / "sub"
    (folder / "data").mkdir(parents=True)
    (folder / "one_neuron.ipynb").write_bytes(b"{}")
    (folder / "data" / "x.csv").write_bytes(b"1,2\n")
    assert collect.read_folder(folder) == {"one_neuron.ipynb": b"{}", "data/x.csv": b"1,2\n"}
    os.symlink("/etc/passwd", folder / "data" / "leak")
    with pytest.raises(gc.GradeClassError, match="symlinks are not allowed") as info:
        collect.read_folder(folder)
    assert str(folder / "data" / "leak") in str(info.value)
