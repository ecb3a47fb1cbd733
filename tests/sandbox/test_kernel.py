"""The sandboxed notebook kernel (autograder.sandbox.kernel): what it sees and binds."""

import os

import pytest
from nbgrader_helpers import code_notebook, stream_text

from autograder.sandbox import bubblewrap as sandbox


@pytest.fixture
def student_dir(tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "data.txt").write_text("student data")
    (folder / "one_neuron.ipynb").write_text("{}")  # the autograded copy holds the hidden tests
    (folder / "sub").mkdir()
    (folder / "sub" / "more.txt").write_text("more")
    (folder / "link").symlink_to("/etc/hostname")
    return folder


def test_student_file_binds_skip_notebooks_and_symlinks(student_dir):
    from autograder.sandbox.kernel import student_file_binds

    binds = student_file_binds(str(student_dir))
    assert [dest for _, dest in binds] == [
        f"{sandbox.SANDBOX_WORKDIR}/data.txt",
        f"{sandbox.SANDBOX_WORKDIR}/sub",
    ]


def test_kernel_runs_sandboxed_with_the_students_files(student_dir, capfd):
    from autograder.preprocessors.sandboxed_execute import SandboxedExecute

    nb = code_notebook(
        """
        import os
        print(os.getuid() >= %d, os.getcwd(), sorted(os.listdir(".")), "JPY_PARENT_PID" in os.environ)
        """
        % sandbox.SANDBOX_UID_BASE,
        """
        print(open("data.txt").read())
        try:
            open("data.txt", "w").write("changed")
        except OSError as exc:
            print("denied", type(exc).__name__)
        """,
        """
        import os
        from ipykernel import get_connection_file
        try:
            open(os.path.join(os.path.dirname(get_connection_file()), "planted"), "w").write("x")
            print("PLANTED")
        except OSError as exc:
            print("runtime dir locked", type(exc).__name__)
        """,
        "import os; os.write(2, b'FD2-MARKER\\n'); os.write(1, b'FD1-MARKER\\n')",
    )
    SandboxedExecute(timeout=30).preprocess(nb, {"metadata": {"path": str(student_dir)}})
    outs = [stream_text(cell) for cell in nb.cells]
    if os.geteuid() == 0:
        assert outs[0].split()[0] == "True"
    assert outs[0].split()[1:] == [sandbox.SANDBOX_WORKDIR, "['data.txt',", "'sub']", "False"]
    assert outs[1].split() == ["student", "data", "denied", "PermissionError"] or outs[1].split()[
        :3
    ] == ["student", "data", "denied"], outs[1]
    assert (student_dir / "data.txt").read_text() == "student data"
    if os.geteuid() == 0:
        assert outs[2].startswith("runtime dir locked"), outs[2]
    captured = capfd.readouterr()
    assert "MARKER" not in captured.out + captured.err  # nothing reaches the grader's terminal


def test_symlinked_entries_of_a_submission(tmp_path):
    """Entries nbgrader would copy by following a link (as root) are found, even deep in a folder."""
    from autograder.sandbox.kernel import symlinked_entries

    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "link.txt").symlink_to("/etc/hostname")
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "a.txt").write_text("x")
    (tmp_path / "dirty" / "deep").mkdir(parents=True)
    (tmp_path / "dirty" / "deep" / "b.txt").symlink_to("/etc/hostname")
    assert symlinked_entries(str(tmp_path)) == {"link.txt", "dirty"}


def test_kernel_reads_the_graders_font_list_and_cannot_change_it(tmp_path):
    """matplotlib's font list is read, not rebuilt, in every fresh sandbox home, and the
    student cannot write to it (it is the grader's, shared by the class)."""
    from autograder.preprocessors.sandboxed_execute import SandboxedExecute
    from autograder.sandbox.kernel import matplotlib_font_cache

    cache = matplotlib_font_cache()
    assert cache and os.path.basename(cache).startswith("fontlist-v")
    before = open(cache, "rb").read()
    nb = code_notebook(
        """
        import logging, os, sys
        logging.basicConfig(stream=sys.stdout, format="%(message)s")
        logging.getLogger("matplotlib").setLevel(logging.DEBUG)
        import matplotlib.font_manager
        folder = os.environ["MPLCONFIGDIR"]
        name = next(n for n in os.listdir(folder) if n.startswith("fontlist-v"))
        print("folder writable", os.access(folder, os.W_OK))
        try:
            with open(os.path.join(folder, name), "a") as f:
                f.write("x")
            print("CHANGED")
        except OSError as exc:
            print("list read-only", type(exc).__name__)
        """
    )
    SandboxedExecute(timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    out = stream_text(nb.cells[0])
    assert "Using fontManager instance from" in out, out
    assert "folder writable True" in out and "list read-only" in out, out
    assert "CHANGED" not in out
    assert open(cache, "rb").read() == before
