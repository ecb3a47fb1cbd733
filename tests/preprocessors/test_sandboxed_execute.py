"""SandboxedExecute: nbgrader's Execute with the kernel in the sandbox (caps, lost kernels, refusal)."""

import os

import pytest
from nbgrader_helpers import code_notebook, stream_text

from autograder.sandbox import bubblewrap as sandbox


def test_kernel_output_is_capped_while_it_arrives():
    from autograder.preprocessors.sandboxed_execute import SandboxedExecute

    nb = code_notebook("print('x' * 3000, end='')", "print('small')")
    SandboxedExecute(timeout=30, max_output_bytes=1000).preprocess(nb, {})
    flood, small = (stream_text(cell) for cell in nb.cells)
    assert flood.startswith("x" * 1000 + "\n[... вывод обрезан")
    assert flood.count("x") == 1000
    assert small == "small\n"


def test_kernel_in_unsafe_mode_runs_with_limits_only(monkeypatch, capsys):
    from autograder.preprocessors.sandboxed_execute import SandboxedExecute

    monkeypatch.setattr(sandbox, "sandbox_available", lambda: (False, "test: no bwrap"))
    nb = code_notebook("import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])")
    executor = SandboxedExecute(timeout=30, unsafe=True, kernel_memory_bytes=3 * sandbox.GiB)
    executor.preprocess(nb, {})
    assert stream_text(nb.cells[0]).strip() == str(3 * sandbox.GiB)
    assert "UNSAFE GRADING" in capsys.readouterr().err


def test_kernel_refuses_without_sandbox(monkeypatch):
    from autograder.preprocessors.sandboxed_execute import SandboxedExecute

    monkeypatch.setattr(sandbox, "sandbox_available", lambda: (False, "test: no bwrap"))
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
    with pytest.raises(sandbox.SandboxUnavailableError, match="test: no bwrap"):
        SandboxedExecute(timeout=30).preprocess(code_notebook("1"), {})


def test_huge_kernel_message_is_refused():
    """One 50 MB output never reaches the notebook; the grader goes on with the next cells."""
    from autograder.preprocessors.sandboxed_execute import SandboxedExecute

    nb = code_notebook("print('x' * 50_000_000)", "print('small')")
    executor = SandboxedExecute(
        timeout=5, iopub_timeout=2, max_message_bytes=1024 * 1024, max_output_bytes=10**9
    )  # only the message size limit protects here
    executor.preprocess(nb, {})
    sizes = [len(stream_text(cell)) for cell in nb.cells]
    assert max(sizes) < 1024 * 1024
    second = nb.cells[1]
    assert stream_text(second) == "small\n" or [o.get("ename") for o in second.outputs] == [
        "KernelLost"
    ]


# -- plots: the kernel keeps ipykernel's inline backend ------------------------------------

PLOT_CELLS = ("plot_curves", "plot_fit")


def test_autograded_notebook_shows_the_plots_with_unchanged_verdicts(tmp_path_factory):
    """Do both plot cells of the perfect sample's autograded notebook carry a PNG, at 10/10?"""
    from integration.graded_course import POINTS, grade_id, graded_perfect, shared_course

    got, graded_nb = graded_perfect(shared_course(tmp_path_factory))
    assert got == POINTS
    plots = {grade_id(cell): cell for cell in graded_nb.cells if grade_id(cell) in PLOT_CELLS}
    assert sorted(plots) == sorted(PLOT_CELLS)
    for name, cell in plots.items():
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, (name, [o.output_type for o in cell.outputs])
        assert len(images[0].data["image/png"]) > 1000  # base64 of a real figure


def test_the_worker_keeps_a_non_interactive_backend_and_the_kernel_none():
    """Is MPLBACKEND left to ipykernel (inline) in the kernel and Agg in the verdict worker?"""
    assert "MPLBACKEND" not in sandbox.sandbox_env()
    from autograder.sandbox import remote

    with remote.StudentWorker(call_timeout=5) as worker:
        worker.load(
            [("env", "import os\ndef backend():\n    return os.environ.get('MPLBACKEND')\n")]
        )
        assert worker.call("backend") == "Agg"


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox has a uid of its own only as root")
def test_the_kernel_is_killed_with_everything_it_started(tmp_path):
    """The kernel is stopped at once after the notebook (no graceful shutdown): nothing
    of its sandbox, not even a process it left running, outlives grading."""
    import psutil

    from autograder.preprocessors.sandboxed_execute import SandboxedExecute

    assert SandboxedExecute().shutdown_kernel == "immediate"
    nb = code_notebook(
        "import os, subprocess\n"
        "subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "print(os.getuid())"
    )
    SandboxedExecute(timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    uid = int(stream_text(nb.cells[0]))
    assert uid >= sandbox.SANDBOX_UID_BASE

    def left():
        return [p for p in psutil.process_iter(["uids"]) if p.info["uids"].real == uid]

    # the kernel's pid namespace is torn down with it; wait for the kernel to reap it
    _, alive = psutil.wait_procs(left(), timeout=60)
    assert alive == []
