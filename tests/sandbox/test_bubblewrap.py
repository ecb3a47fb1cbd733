"""What can student code do inside the sandbox of autograder.sandbox.bubblewrap?

Each test runs a short Python program in the sandbox and checks, from the
grader's side, that it could not reach what it tried to reach.  The programs
print a verdict word; the tests never depend on timing.
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.sandbox import bubblewrap as sandbox

ROOT = Path(__file__).resolve().parents[2]

SMALL = sandbox.Limits(
    memory_bytes=1 * sandbox.GiB,
    nproc=16,
    fsize_bytes=1 * sandbox.MiB,
    cpu_seconds=20,
    home_bytes=4 * sandbox.MiB,
    tmp_bytes=4 * sandbox.MiB,
)


def run_sandboxed(code, *, limits=SMALL, timeout=60, **kwargs):
    """Run Python code in the sandbox; returns the CompletedProcess (text)."""
    argv = sandbox.sandboxed_argv(
        [sys.executable, "-c", textwrap.dedent(code)], limits=limits, **kwargs
    )
    return subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_sandbox_is_available():
    """Does bubblewrap work on this machine (`make sandbox-check` installs it)?"""
    ok, reason = sandbox.sandbox_available()
    assert ok, reason


def test_runs_numpy_as_unprivileged_user_in_its_own_workdir():
    result = run_sandboxed("""
        import os, numpy
        print(os.getuid(), os.getcwd(), numpy.ones(3).sum())
    """)
    assert result.returncode == 0, result.stderr
    uid, cwd, total = result.stdout.split()
    assert (cwd, total) == (sandbox.SANDBOX_WORKDIR, "3.0")
    if os.geteuid() == 0:
        assert int(uid) >= sandbox.SANDBOX_UID_BASE


COURSE_PATHS = [
    ROOT / "source",
    ROOT / "source" / "one_neuron" / "one_neuron.ipynb",
    ROOT / "nbgrader_config.py",
    ROOT / "autograder",
    ROOT / "autograder" / "assignment" / "reference.py",
    ROOT / "autograder" / "sandbox" / "wire.py",
    ROOT / "pyproject.toml",
    ROOT / "tests",
    Path("/etc/shadow"),
]


@pytest.mark.parametrize("path", COURSE_PATHS, ids=lambda p: str(p))
def test_course_files_are_invisible(path):
    """Can student code see the hidden tests, the graders' code, the course config?

    (The gradebook and other students' folders: tests/integration/test_tamper_environment.py.)
    """
    assert path.exists(), "the test needs the host path"
    result = run_sandboxed(f"""
        import os
        path = {str(path)!r}
        try:
            with open(path, "rb") as f:
                f.read(1)
            print("LEAK-read")
        except IsADirectoryError:
            print("LEAK-dir" if os.listdir(path) else "empty-dir")
        except OSError as exc:
            print("denied", type(exc).__name__)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] in ("denied", "empty-dir"), result.stdout


def test_autograder_package_is_not_importable():
    """The package is installed editable into the venv, which is bound: is it reachable?"""
    result = run_sandboxed("""
        try:
            import autograder
            print("LEAK", autograder.__file__)
        except ImportError:
            print("no-autograder")
    """)
    assert result.stdout.strip() == "no-autograder", result.stdout + result.stderr


def test_host_tmp_is_invisible(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("answer")
    result = run_sandboxed(f"""
        try:
            print(open({str(secret)!r}).read())
        except OSError:
            print("denied")
    """)
    assert result.stdout.strip() == "denied"


@pytest.mark.parametrize(
    "target",
    [
        sys.prefix + "/planted.py",
        os.path.realpath(sys.base_prefix) + "/planted.py",
        "/usr/planted",
        "/etc/planted",
        "/planted",
    ],
)
def test_cannot_write_outside_scratch(target):
    result = run_sandboxed(f"""
        try:
            open({target!r}, "w").write("x")
            print("WROTE")
        except OSError as exc:
            print("denied", type(exc).__name__)
    """)
    assert result.stdout.split()[0] == "denied", result.stdout + result.stderr
    assert not os.path.exists(target)


def test_writes_only_to_the_given_scratch(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    uid = sandbox.allocate_uid()
    sandbox.prepare_writable_dir(scratch, uid)
    result = run_sandboxed(
        f"""
        open({str(scratch / "out.txt")!r}, "w").write("ok")
        open("/home/student/work/home.txt", "w").write("ok")
        open("/tmp/t.txt", "w").write("ok")
        print("done")
    """,
        scratch_dir=scratch,
        uid=uid,
    )
    assert result.stdout.strip() == "done", result.stderr
    assert (scratch / "out.txt").read_text() == "ok"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scratch"]


def test_read_only_bind_cannot_be_changed(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("original")
    data.chmod(0o644)
    tmp_path.chmod(0o755)
    result = run_sandboxed(
        """
        print(open("/home/student/work/data.txt").read())
        try:
            open("/home/student/work/data.txt", "w").write("changed")
        except OSError as exc:
            print("denied", type(exc).__name__)
    """,
        ro_binds=[(data, sandbox.SANDBOX_WORKDIR + "/data.txt")],
    )
    assert result.stdout.split()[:2] == ["original", "denied"], result.stdout + result.stderr
    assert data.read_text() == "original"


def test_no_network_to_grader_listener():
    """A listener of the grader on 127.0.0.1 is out of reach (own loopback only)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        result = run_sandboxed(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=5)
                print("CONNECTED")
            except OSError as exc:
                print("refused", type(exc).__name__)
        """)
        assert result.stdout.split()[0] == "refused", result.stdout + result.stderr
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


def test_no_dns_and_no_outside_address():
    result = run_sandboxed("""
        import socket
        try:
            socket.getaddrinfo("example.com", 80)
            print("RESOLVED")
        except OSError:
            print("no-dns")
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=5)
            print("CONNECTED")
        except OSError:
            print("no-route")
    """)
    assert result.stdout.split() == ["no-dns", "no-route"], result.stdout + result.stderr


def test_host_processes_are_invisible_and_pid1_unkillable():
    result = run_sandboxed("""
        import os, signal
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print(pids)
        try:
            os.kill(1, signal.SIGKILL)
            print("KILLED-1")
        except PermissionError:
            print("denied")
    """)
    lines = result.stdout.splitlines()
    assert lines[0] in ("[1, 2]", "[1, 2, 3]"), lines  # bwrap's init and ourselves
    assert lines[1] == "denied"


def test_user_namespaces_are_refused():
    """No namespaced root (mount, netfilter, ...) for student code."""
    result = run_sandboxed("""
        import ctypes, os
        CLONE_NEWUSER = 0x10000000
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWUSER) == 0:
            print("UNSHARED")
        else:
            print("refused", os.strerror(ctypes.get_errno()))
    """)
    assert result.stdout.split()[0] == "refused", result.stdout + result.stderr


def test_cannot_type_into_the_graders_terminal():
    """--new-session: even started from a terminal, no TIOCSTI into it, no /dev/tty."""
    import fcntl
    import termios

    master, slave = os.openpty()

    def take_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    code = textwrap.dedent("""
        import fcntl, termios
        try:
            fcntl.ioctl(0, termios.TIOCSTI, b"x")
            print("INJECTED")
        except OSError as exc:
            print("denied", exc.errno)
        try:
            open("/dev/tty")
            print("HAS-TTY")
        except OSError as exc:
            print("no-tty", exc.errno)
    """)
    try:
        result = subprocess.run(
            sandbox.sandboxed_argv([sys.executable, "-c", code], limits=SMALL),
            stdin=slave,
            capture_output=True,
            text=True,
            preexec_fn=take_terminal,
            timeout=60,
            check=False,
        )
    finally:
        os.close(master)
        os.close(slave)
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["denied", "no-tty"], (
        result.stdout + result.stderr
    )


def test_clean_environment():
    os.environ["ONE_NEURON_SECRET_FOR_TEST"] = "leak"
    try:
        result = run_sandboxed("""
            import os
            print(sorted(os.environ))
        """)
    finally:
        del os.environ["ONE_NEURON_SECRET_FOR_TEST"]
    names = eval(result.stdout)  # a list literal printed by the sandbox
    assert "ONE_NEURON_SECRET_FOR_TEST" not in names
    assert "JPY_PARENT_PID" not in names
    assert {"HOME", "TMPDIR", "IPYTHONDIR", "MPLCONFIGDIR", "PATH"} <= set(names)


FORK_COUNTER = """
    import os, signal
    forked = 0
    try:
        while True:
            if os.fork() == 0:
                signal.pause()
            forked += 1
    except BlockingIOError:
        print("limited", forked)
    {after}
"""


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the uid switch (and RLIMIT_NPROC per sandbox) needs root"
)
def test_fork_bomb_is_contained():
    result = run_sandboxed(FORK_COUNTER.format(after=""))
    word, forked = result.stdout.split()
    assert word == "limited"
    assert int(forked) < SMALL.nproc
    # The grader can still start processes.
    assert subprocess.run(["true"], check=False).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="per-sandbox uids need root")
def test_fork_bomb_does_not_starve_a_parallel_sandbox():
    """While one sandbox holds all its processes, another one can still fork."""
    bomb = subprocess.Popen(
        sandbox.sandboxed_argv(
            [
                sys.executable,
                "-c",
                textwrap.dedent(FORK_COUNTER.format(after="print(flush=True); signal.pause()")),
            ],
            limits=SMALL,
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert bomb.stdout.readline().split()[0] == "limited"
        other = run_sandboxed("""
            import subprocess
            print(subprocess.run(["true"]).returncode)
        """)
        assert other.stdout.strip() == "0", other.stderr
    finally:
        bomb.kill()
        bomb.wait()


@pytest.mark.parametrize(
    "code",
    [
        "x = bytearray(50 * 2**30)",
        "import numpy as np; x = np.ones((50 * 2**30) // 8)",
        "chunks = []\nwhile True: chunks.append(bytearray(2**27))",
    ],
)
def test_memory_hog_gets_memory_error(code):
    result = run_sandboxed(code)
    assert result.returncode != 0
    assert "MemoryError" in result.stderr


def test_cpu_limit_stops_endless_loop():
    limits = sandbox.Limits(cpu_seconds=1, memory_bytes=SMALL.memory_bytes, nproc=SMALL.nproc)
    result = run_sandboxed("while True: pass", limits=limits)
    # SIGXCPU at the soft limit, SIGKILL at the hard one; bubblewrap reports 128 + signal.
    assert result.returncode in (128 + signal.SIGXCPU, 128 + signal.SIGKILL, -signal.SIGKILL)


def test_file_size_limited():
    result = run_sandboxed("""
        try:
            open("big", "wb").write(b"x" * (2 * 2**20))
            print("WROTE")
        except OSError as exc:
            print("limited", exc.errno)
    """)
    assert result.stdout.split()[0] == "limited"


def test_scratch_tmpfs_is_size_limited():
    """Many small files cannot fill the disk: the home tmpfs is small and private."""
    result = run_sandboxed("""
        import errno
        n = 0
        try:
            while True:
                with open(f"f{n}", "wb") as f:
                    f.write(b"x" * 2**19)
                n += 1
        except OSError as exc:
            print("full" if exc.errno == errno.ENOSPC else exc, n)
    """)
    word, count = result.stdout.split()
    assert word == "full"
    assert int(count) * 2**19 <= SMALL.home_bytes


def test_sandbox_dies_with_its_parent():
    """Killing bubblewrap (as the kernel manager does) kills everything inside."""
    proc = subprocess.Popen(
        sandbox.sandboxed_argv(
            [
                sys.executable,
                "-c",
                "import os, time\n"
                "if os.fork() == 0: time.sleep(600)\n"
                "print(os.getpid(), flush=True)\ntime.sleep(600)",
            ],
            limits=SMALL,
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() in ("2", "3")  # its own pid namespace
    children = _descendants(proc.pid)
    assert len(children) >= 3  # init, the program and its child
    proc.kill()
    proc.wait()
    for pid in children:
        _wait_gone(pid)


def _descendants(pid):
    found = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in os.listdir(f"/proc/{current}/task"):
            try:
                kids = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                found.append(kid)
                stack.append(kid)
    return found


def _wait_gone(pid):
    """Wait (bounded) until pid is gone or a zombie; fails if it still runs."""
    import time

    for _ in range(200):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.05)
    pytest.fail(f"process {pid} survived the death of its sandbox")


# -- when bubblewrap cannot run -----------------------------------------------


@pytest.fixture
def broken_bwrap(tmp_path, monkeypatch):
    """A `bwrap` on PATH that fails like one without user namespaces."""
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
    sandbox.sandbox_available.cache_clear()
    yield
    sandbox.sandbox_available.cache_clear()


@pytest.fixture
def missing_bwrap(monkeypatch):
    real_which = sandbox.shutil.which
    monkeypatch.setattr(
        sandbox.shutil, "which", lambda name: None if name == "bwrap" else real_which(name)
    )
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
    sandbox.sandbox_available.cache_clear()
    yield
    sandbox.sandbox_available.cache_clear()


@pytest.mark.parametrize(
    "fixture, words",
    [
        ("missing_bwrap", "missing program(s): bwrap"),
        ("broken_bwrap", "No permissions to creating new namespace"),
    ],
)
def test_unavailable_sandbox_is_refused_with_reason(request, fixture, words):
    request.getfixturevalue(fixture)
    ok, reason = sandbox.sandbox_available()
    assert not ok
    assert words in reason
    with pytest.raises(sandbox.SandboxUnavailableError, match="Refusing to grade") as info:
        sandbox.require_sandbox()
    assert words in str(info.value)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_unsafe_mode_warns_loudly(missing_bwrap, monkeypatch, capsys, how):
    if how == "env":
        monkeypatch.setenv(sandbox.UNSAFE_ENV, "1")
    assert sandbox.require_sandbox(unsafe=True if how == "flag" else None) is False
    err = capsys.readouterr().err
    assert "UNSAFE GRADING" in err
    assert "missing program(s): bwrap" in err


def test_unsafe_command_keeps_limits():
    argv = sandbox.build_command(
        [sys.executable, "-c", "x = bytearray(50 * 2**30)"], sandboxed=False, limits=SMALL
    )
    assert "bwrap" not in argv
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert "MemoryError" in result.stderr


def test_non_root_mode_uses_a_user_namespace_and_a_relative_process_limit(monkeypatch):
    """Without root: bwrap --unshare-user, no uid switch, RLIMIT_NPROC on top of the user's tasks.

    Only the command line is checked when the tests run as root: root is exempt
    from RLIMIT_NPROC even inside a user namespace, so running it would fork freely.
    """
    monkeypatch.setattr(sandbox, "_running_as_root", lambda: False)
    argv = sandbox.sandboxed_argv(
        [sys.executable, "-c", textwrap.dedent(FORK_COUNTER.format(after=""))], limits=SMALL
    )
    assert "--unshare-user" in argv and "setpriv" not in argv
    nproc = int(next(a for a in argv if a.startswith("--nproc=")).split("=")[1])
    assert nproc >= SMALL.nproc + 1  # the user's current tasks (at least this one) + the budget
    if os.geteuid() == 0:
        return
    result = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.split()[0] == "limited", result.stdout + result.stderr


def test_package_installed_into_a_bound_dir_is_hidden(tmp_path, monkeypatch):
    """If autograder were pip-installed into the venv (bound read-only), it must still be invisible."""
    site = tmp_path / "site-packages"
    package = site / "autograder"
    package.mkdir(parents=True)
    (package / "reference.py").write_text("SOLUTION = 42\n")
    (site / "one_neuron_autograder-0.1.0.dist-info").mkdir()
    (site / "fixtures").mkdir()  # the catalog of answers, installed next to it
    (site / "fixtures" / "catalog.py").write_text("ANSWERS = 1\n")
    (site / "other.py").write_text("VISIBLE = 1\n")
    tmp_path.chmod(0o755)
    for path in (site, package, site / "fixtures", site / "one_neuron_autograder-0.1.0.dist-info"):
        path.chmod(0o755)
    monkeypatch.setattr(sandbox, "PACKAGE_DIR", str(package))
    result = run_sandboxed(
        f"""
        import os
        print(sorted(os.listdir({str(package)!r})), sorted(os.listdir({str(site / "fixtures")!r})),
              sorted(os.listdir({str(site)!r})))
    """,
        ro_binds=[site],
    )
    assert result.stdout.strip() == (
        "[] [] ['autograder', 'fixtures', 'one_neuron_autograder-0.1.0.dist-info', 'other.py']"
    ), result.stderr
    dist_info = run_sandboxed(
        f"import os; print(os.listdir({str(site / 'one_neuron_autograder-0.1.0.dist-info')!r}))",
        ro_binds=[site],
    )
    assert dist_info.stdout.strip() == "[]"


@pytest.fixture
def bwrap_without_userns_block(tmp_path, monkeypatch):
    """A `bwrap` wrapper that fails only for the nested, unprivileged bubblewrap."""
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\nfor a in "$@"; do [ "$a" = --disable-userns ] && '
        '{ echo "bwrap: setting up uid map: Permission denied" >&2; exit 1; }; done\n'
        'exec /usr/bin/bwrap "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    sandbox.sandbox_available.cache_clear()
    yield
    sandbox.sandbox_available.cache_clear()
    monkeypatch.undo()
    assert sandbox.sandbox_available()[0]  # restores the module's default state


def test_sandbox_without_nested_userns_block_still_works(bwrap_without_userns_block):
    ok, reason = sandbox.sandbox_available()
    assert ok
    assert "user namespaces stay allowed" in reason
    assert "--disable-userns" not in sandbox.sandboxed_argv(["/bin/true"])
    result = run_sandboxed("import os; print(os.getcwd())")
    assert result.stdout.strip() == sandbox.SANDBOX_WORKDIR
