"""The demo's synthetic class (fixtures.synthetic_class) holds every status the
class command gives."""

import autograder.classgrade as gc


def test_synthetic_class_has_every_kind_of_submission(tmp_path):
    """Does the demo class hold >= 30 gradable submissions and every broken kind?"""
    from fixtures import synthetic_class

    manifest = synthetic_class.build_class(tmp_path / "course", size=30)
    students = manifest["students"]
    statuses = {e["status"] for e in students.values()}
    assert statuses == {
        gc.GRADED,
        gc.LATE,
        gc.TIMED_OUT,
        gc.KERNEL_DIED,
        gc.INVALID,
        gc.MISSING,
        gc.NOT_SUBMITTED,
    }
    assert sum(e["status"] == gc.GRADED for e in students.values()) == 30
    kinds = {e["kind"] for e in students.values()}
    assert {"perfect", "untouched"} <= kinds
    catalog_functions = {k.split(":")[1].split("_")[0] for k in kinds if k.startswith("catalog:")}
    assert catalog_functions == {"rs", "sig", "bce", "bp"}
    submitted = tmp_path / "course" / "submitted"
    for sid, entry in students.items():
        folder = submitted / sid / "one_neuron"
        if entry["status"] == gc.NOT_SUBMITTED:
            assert not folder.exists()
        elif entry["status"] == gc.MISSING:
            assert not (folder / "one_neuron.ipynb").exists()
        else:
            assert (folder / "one_neuron.ipynb").is_file()
    roster = (tmp_path / "course" / "roster.csv").read_text().splitlines()
    assert roster[0] == "id,first_name,last_name,email" and len(roster) == len(students) + 1
